// The NATS JetStream bus against the bus conformance suite, on the real local nats-server (a
// stream per test, deleted afterwards), plus the bounded redelivery: a poison event whose consumer
// dies at every delivery is dead-lettered by its delivery count instead of coming back for ever.
import { describe, expect, it } from 'vitest';
import { JsPublisher } from '../../src/bus/nats-publish.js';
import type { NatsBus } from '../../src/bus/nats.js';
import type { BusFixture } from '../../src/bus/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { haveNats, NATS_URL } from '../helpers/services.js';
import { natsBackend } from './backends.js';
import { busConformance } from './conformance.js';
import { crashGuardTests } from './external.js';

async function natsFixture(opts: { maxDeliveries?: number } = {}): Promise<BusFixture & { bus: NatsBus }> {
  const clock = new FakeClock();
  const bus = (await natsBackend.open(clock, opts)) as NatsBus;
  return { bus, advance: (ms) => clock.advance(ms), now: () => clock.now(), close: () => bus.close() };
}

const up = await haveNats();
describe.runIf(up)('NATS JetStream bus', () => {
  busConformance('nats', natsFixture);

  crashGuardTests(
    (o) => natsFixture(o),
    async (bus) => {
      const nc = await connect({ servers: NATS_URL });
      const info = await (await jetstreamManager(nc)).streams.info((bus as NatsBus).stream);
      await nc.close();
      return info.state.messages;
    },
  );

  it('publishes a batch through a window of PubAcks in order, counts duplicates, and fails a publish no stream takes', async () => {
    const fx = await natsFixture();
    const nc = await connect({ servers: NATS_URL });
    try {
      await fx.bus.subscribe('g', ['x']);
      const events = Array.from({ length: 1500 }, (_, i) => ({ seq: i + 1, id: `e${i + 1}`, name: 'x', payload: i + 1, source: null, createdAt: fx.now(), traceId: null }));
      expect(await fx.bus.publishStored(events)).toBe(1500);
      expect(await fx.bus.publishStored(events.slice(1000))).toBe(0);
      const seen: number[] = [];
      for (let batch = await fx.bus.claim('g', { limit: 500, leaseMs: 60_000 }); batch.length > 0; batch = await fx.bus.claim('g', { limit: 500, leaseMs: 60_000 })) {
        seen.push(...batch.map((d) => d.event.seq));
        await fx.bus.ack(batch);
      }
      expect(seen).toEqual(events.map((e) => e.seq));
      const pub = new JsPublisher(nc, 8, 5000);
      const r = await pub.publish(`${fx.bus.stream}.ev`, [{ msgId: 'e1', data: '{}' }, { msgId: 'fresh', data: '{"id":"fresh","name":"y"}' }]);
      expect(r).toEqual({ stored: 1, duplicates: 1 });
      await expect(pub.publish(`${fx.bus.stream}_nowhere.ev`, [{ msgId: 'z', data: '{}' }])).rejects.toThrow(/no stream/);
      pub.close();
    } finally {
      await nc.close();
      await fx.close();
    }
  });
});
