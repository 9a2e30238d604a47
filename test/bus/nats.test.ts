// The NATS JetStream bus against the bus conformance suite, on the real local nats-server (a
// stream per test, deleted afterwards), plus the bounded redelivery: a poison event whose consumer
// dies at every delivery is dead-lettered by its delivery count instead of coming back for ever.
import { describe } from 'vitest';
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
});
