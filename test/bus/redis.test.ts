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

  it('drops a relayed batch published again by its store-log position (one mark per origin), not by a marker per event', async () => {
    const fx = await redisFixture();
    try {
      await fx.bus.subscribe('g', ['x']);
      const ev = (id: string, seq: number) => ({ seq, id, name: 'x', payload: seq, source: null, createdAt: fx.now(), traceId: null });
      const at = (tx: string, seq: number) => ({ tx, seq });
      const o1 = (positions: Array<{ tx: string; seq: number }>) => ({ origin: 'store-1', positions });
      expect(await fx.bus.publishStored([ev('a', 1), ev('b', 2), ev('c', 3)], o1([at('10', 1), at('10', 2), at('10', 3)]))).toBe(3);
      // The same batch again (a relay that crashed before moving its cursor): nothing.
      expect(await fx.bus.publishStored([ev('a', 1), ev('b', 2), ev('c', 3)], o1([at('10', 1), at('10', 2), at('10', 3)]))).toBe(0);
      // Overlapping the mark: only what lies above it.
      expect(await fx.bus.publishStored([ev('c', 3), ev('d', 4), ev('e', 5)], o1([at('10', 3), at('10', 4), at('11', 5)]))).toBe(2);
      // Positions compare as numbers: transaction 9 lies below 11 whatever its seq (new ids, still below).
      expect(await fx.bus.publishStored([ev('late', 99)], o1([at('9', 99)]))).toBe(0);
      expect(await fx.bus.publishStored([ev('f', 6)], o1([at('100', 6)]))).toBe(1);
      // Another store (a new database) has its own mark.
      expect(await fx.bus.publishStored([ev('other', 1)], { origin: 'store-2', positions: [at('1', 1)] })).toBe(1);
      const got = await fx.bus.claim('g', { limit: 20, leaseMs: 1000 });
      expect(got.map((d) => [d.event.id, d.event.seq])).toEqual([['a', 1], ['b', 2], ['c', 3], ['d', 4], ['e', 5], ['f', 6], ['other', 1]]);
      expect(await fx.bus.ack(got)).toBe(7);
    } finally {
      await fx.close();
    }
  });

  it('acks from several callers in one turn go to Redis in one script call per group, each caller told its own count', async () => {
    const fx = await redisFixture();
    try {
      await fx.bus.subscribe('g', ['x']);
      await fx.bus.subscribe('h', ['x']);
      await fx.bus.append(Array.from({ length: 6 }, (_, i) => ({ id: `e${i}`, name: 'x', payload: i, source: null, createdAt: fx.now() })));
      const g = await fx.bus.claim('g', { limit: 10, leaseMs: 60_000 });
      const h = await fx.bus.claim('h', { limit: 10, leaseMs: 60_000 });
      expect([g.length, h.length]).toEqual([6, 6]);
      const scripts = (fx.bus as unknown as { scripts: Record<string, (k: string[], a: unknown[]) => Promise<unknown>> }).scripts;
      const calls: string[] = [];
      const ack = scripts.ack!;
      scripts.ack = (keys, args) => (calls.push(String(args[0])), ack(keys, args));
      // One caller per delivery of g, one for a delivery of g acked twice, one for all of h.
      const counts = await Promise.all([...g.map((d) => fx.bus.ack([d])), fx.bus.ack([g[0]!]), fx.bus.ack(h)]);
      expect(counts).toEqual([1, 1, 1, 1, 1, 1, 0, 6]);
      expect(calls.sort()).toEqual(['g', 'h']);
      expect((await fx.bus.stats('g')).depth).toBe(0);
      expect((await fx.bus.stats('h')).depth).toBe(0);
    } finally {
      await fx.close();
    }
  });

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
