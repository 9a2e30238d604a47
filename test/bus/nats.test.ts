// The NATS JetStream bus against the bus conformance suite, on the real local nats-server (a
// stream per test, deleted afterwards), plus the bounded redelivery: a poison event whose consumer
// dies at every delivery is dead-lettered by its delivery count instead of coming back for ever.
import { describe, expect, it } from 'vitest';
import type { NatsBus } from '../../src/bus/nats.js';
import type { BusFixture } from '../../src/bus/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { haveNats } from '../helpers/services.js';
import { natsBackend } from './backends.js';
import { busConformance } from './conformance.js';

async function natsFixture(opts: { maxDeliveries?: number } = {}): Promise<BusFixture & { bus: NatsBus }> {
  const clock = new FakeClock();
  const bus = (await natsBackend.open(clock, opts)) as NatsBus;
  return { bus, advance: (ms) => clock.advance(ms), now: () => clock.now(), close: () => bus.close() };
}

const up = await haveNats();
describe.runIf(up)('NATS JetStream bus', () => {
  busConformance('nats', natsFixture);

  it('dead-letters an event whose consumer dies at every delivery, by its delivery count, and moves on', async () => {
    const fx = await natsFixture({ maxDeliveries: 3 });
    try {
      await fx.bus.subscribe('g', ['x']);
      await fx.bus.append([{ id: 'poison', name: 'x', payload: 1, source: null, createdAt: fx.now() }]);
      for (let i = 1; i <= 3; i++) {
        const [d] = await fx.bus.claim('g', { limit: 10, leaseMs: 1000 });
        expect(d!.attempts).toBe(i); // never settled: the consumer "died"
        fx.advance(1001);
      }
      await fx.bus.append([{ id: 'next', name: 'x', payload: 2, source: null, createdAt: fx.now() }]);
      const after = await fx.bus.claim('g', { limit: 10, leaseMs: 1000 });
      expect(after.map((d) => d.event.id)).toEqual(['next']);
      const dead = await fx.bus.deadLetters('g');
      expect(dead.map((d) => [d.event.id, d.attempts])).toEqual([['poison', 4]]);
      expect(await fx.bus.ack(after)).toBe(1);
      expect((await fx.bus.stats('g')).depth).toBe(0);
    } finally {
      await fx.close();
    }
  });
});
