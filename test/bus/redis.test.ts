// The Redis Streams bus against the bus conformance suite, on the real local Redis (a key prefix
// per test, deleted afterwards), plus what only an external bus shows: a poison event whose
// consumer dies at every delivery is dead-lettered by the delivery count, and the XAUTOCLAIM sweep
// adopts a pending entry that has no lease.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { dropRedisPrefixes } from './backends.js';
import { RedisBus } from '../../src/bus/redis.js';
import type { BusFixture } from '../../src/bus/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { haveRedis, REDIS_URL, uniqueSchema } from '../helpers/services.js';
import { busConformance } from './conformance.js';
import { crashGuardTests } from './external.js';

const prefixes: string[] = [];
afterAll(() => dropRedisPrefixes(prefixes));

async function redisFixture(opts: { maxDeliveries?: number } = {}): Promise<BusFixture & { bus: RedisBus; prefix: string }> {
  const prefix = `{${uniqueSchema('oc_bus')}}`;
  prefixes.push(prefix);
  const clock = new FakeClock();
  const bus = await new RedisBus({ url: REDIS_URL, prefix, clock, ...opts }).connect();
  return { bus, prefix, advance: (ms) => clock.advance(ms), now: () => clock.now(), close: () => bus.close() };
}

const up = await haveRedis();
describe.runIf(up)('Redis Streams bus', () => {
  busConformance('redis', redisFixture);

  crashGuardTests(
    (o) => redisFixture(o),
    async (bus) => {
      await (bus as RedisBus).sweep(60_000);
      const r = new Redis(REDIS_URL);
      const n = await r.xlen(`${(bus as RedisBus).prefix}:stream`);
      await r.quit();
      return n;
    },
  );

  it('sweep adopts a pending entry with no lease record (XAUTOCLAIM) and never deletes a consumer with pending entries', async () => {
    const fx = await redisFixture();
    const r = new Redis(REDIS_URL);
    try {
      await fx.bus.subscribe('g', ['x']);
      await fx.bus.append([{ id: 'a', name: 'x', payload: 1, source: null, createdAt: fx.now() }]);
      // A reader outside the bus takes the entry into the PEL of a consumer that then vanishes.
      await r.xreadgroup('GROUP', 'g', 'ghost', 'COUNT', 1, 'STREAMS', `${fx.prefix}:stream`, '>');
      expect(await fx.bus.claim('g', { limit: 10, leaseMs: 1000 })).toEqual([]);
      const swept = await fx.bus.sweep(0);
      expect(swept.adopted).toBe(1);
      // The ghost, now with nothing pending, is deleted; the consumer holding the entry is kept.
      const consumers = ((await r.xinfo('CONSUMERS', `${fx.prefix}:stream`, 'g')) as Array<Array<string | number>>).map((c) => ({ name: c[1], pending: c[3] }));
      expect(consumers.map((c) => c.name)).not.toContain('ghost');
      expect(consumers.map((c) => c.pending)).toEqual([1]);
      const [d] = await fx.bus.claim('g', { limit: 10, leaseMs: 1000 });
      expect(d!.event.id).toBe('a');
      expect(d!.attempts).toBe(2); // the ghost's delivery counted; the sweep's look did not
      expect(await fx.bus.ack([d!])).toBe(1);
    } finally {
      await r.quit();
      await fx.close();
    }
  });
});
