// THE bus conformance suite: what every Bus backend must do. Not a test file itself — a backend's
// test file calls `busConformance(name, factory)` (embedded on SQLite and PostgreSQL here; the
// Redis Streams and NATS JetStream backends of the scale-out issue call it the same way).
//
// Each test gets a fresh backend from the factory and moves time with the fixture's clock, so no
// test sleeps: lease expiry and retry times are reached by advancing the clock.
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusDelivery, BusFixture, NewEvent } from '../../src/bus/types.js';

let n = 0;
function event(name: string, payload: unknown, key: string | null = null, at = 0): NewEvent {
  return { id: `ev-${++n}-${Math.random().toString(36).slice(2)}`, name, payload, source: 'producer', createdAt: at, key };
}

const LEASE = 30_000;

/** Claims until the group has nothing claimable, acking each batch; returns payloads in order. */
async function drain(bus: Bus, group: string, limit: number): Promise<BusDelivery[]> {
  const out: BusDelivery[] = [];
  for (;;) {
    const batch = await bus.claim(group, { limit, leaseMs: LEASE });
    if (batch.length === 0) return out;
    out.push(...batch);
    expect(await bus.ack(batch)).toBe(batch.length);
  }
}

export function busConformance(name: string, factory: () => Promise<BusFixture>): void {
  describe(`bus conformance: ${name}`, () => {
    let fx: BusFixture | null = null;
    const open = async () => (fx = await factory());
    afterEach(async () => {
      await fx?.close();
      fx = null;
    });

    it('delivers every event to every subscribed group, in log order within a key', async () => {
      const { bus, now } = await open();
      await bus.subscribe('g1', ['order.created', 'order.paid']);
      await bus.subscribe('g2', ['*']);
      const events: NewEvent[] = [];
      for (let i = 0; i < 30; i++) events.push(event(i % 3 === 0 ? 'order.paid' : 'order.created', { i }, `k${i % 4}`, now()));
      expect(await bus.append(events.slice(0, 10))).toBe(10);
      expect(await bus.append(events.slice(10))).toBe(20);
      for (const group of ['g1', 'g2']) {
        const got = await drain(bus, group, 7);
        expect(got.map((d) => (d.event.payload as { i: number }).i)).toEqual(events.map((_, i) => i));
        // Per key, the order the producer appended them.
        for (const k of ['k0', 'k1', 'k2', 'k3']) {
          const seqs = got.filter((d) => d.event.key === k).map((d) => d.event.seq);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          expect(seqs.length).toBeGreaterThan(0);
        }
      }
      expect((await bus.stats('g1')).depth).toBe(0);
    });

    it('does not deliver an event to a group that does not subscribe to it, and drops duplicate ids', async () => {
      const { bus, now } = await open();
      await bus.subscribe('only-a', ['a']);
      const e = event('a', 1, null, now());
      expect(await bus.append([e, event('b', 2, null, now())])).toBe(2);
      expect(await bus.append([e])).toBe(0);
      const got = await drain(bus, 'only-a', 10);
      expect(got.map((d) => d.event.name)).toEqual(['a']);
    });

    it('is at-least-once: an unacknowledged delivery comes back after its lease expires, with attempts counted', async () => {
      const { bus, advance, now } = await open();
      await bus.subscribe('g', ['x']);
      await bus.append([event('x', 'one', null, now())]);
      const [first] = await bus.claim('g', { limit: 10, leaseMs: LEASE });
      expect(first!.attempts).toBe(1);
      // Still leased: nobody else gets it.
      expect(await bus.claim('g', { limit: 10, leaseMs: LEASE })).toEqual([]);
      advance(LEASE + 1);
      const [again] = await bus.claim('g', { limit: 10, leaseMs: LEASE });
      expect(again!.event.id).toBe(first!.event.id);
      expect(again!.attempts).toBe(2);
      expect(again!.leaseToken).not.toBe(first!.leaseToken);
      expect(await bus.ack([again!])).toBe(1);
      advance(LEASE + 1);
      expect(await bus.claim('g', { limit: 10, leaseMs: LEASE })).toEqual([]);
    });

    it('refuses a stale ack token (the lease expired and moved on), and an extended lease keeps its delivery', async () => {
      const { bus, advance, now } = await open();
      await bus.subscribe('g', ['x']);
      await bus.append([event('x', 1, null, now()), event('x', 2, null, now())]);
      const [a, b] = await bus.claim('g', { limit: 2, leaseMs: LEASE });
      advance(LEASE / 2);
      expect(await bus.extend([b!], LEASE)).toBe(1);
      advance(LEASE / 2 + 1);
      // a expired, b was extended.
      const re = await bus.claim('g', { limit: 10, leaseMs: LEASE });
      expect(re.map((d) => d.event.id)).toEqual([a!.event.id]);
      expect(await bus.ack([a!])).toBe(0); // the old token
      expect(await bus.nack([{ ...a!, error: 'late' }])).toBe(0);
      expect(await bus.ack([re[0]!, b!])).toBe(2);
      expect((await bus.stats('g')).depth).toBe(0);
    });

    it('retries a nacked delivery at its retry time and dead-letters it after the last attempt', async () => {
      const { bus, advance, now } = await open();
      await bus.subscribe('g', ['x']);
      await bus.append([event('x', 'poison', null, now())]);
      const maxAttempts = 3;
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        const [d] = await bus.claim('g', { limit: 1, leaseMs: LEASE });
        expect(d!.attempts).toBe(attempt);
        const dead = d!.attempts >= maxAttempts;
        expect(await bus.nack([{ ...d!, error: `boom ${attempt}`, retryAt: now() + 1000, dead }])).toBe(1);
        if (!dead) {
          expect(await bus.claim('g', { limit: 1, leaseMs: LEASE })).toEqual([]); // not before its time
          advance(1000);
        }
      }
      advance(LEASE * 10);
      expect(await bus.claim('g', { limit: 10, leaseMs: LEASE })).toEqual([]);
      expect((await bus.stats('g')).depth).toBe(0); // dead letters are not pending
    });

    it('applies backpressure: a group is never handed more than it asked for, and the rest waits durably', async () => {
      const { bus, advance, now } = await open();
      await bus.subscribe('slow', ['x']);
      await bus.append(Array.from({ length: 50 }, (_, i) => event('x', i, null, now())));
      const first = await bus.claim('slow', { limit: 8, leaseMs: LEASE });
      expect(first).toHaveLength(8);
      advance(2500);
      const stats = await bus.stats('slow');
      expect(stats.depth).toBe(50);
      expect(stats.lagMs).toBe(2500);
      const second = await bus.claim('slow', { limit: 8, leaseMs: LEASE });
      expect(second.map((d) => d.event.payload)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
      await bus.ack([...first, ...second]);
      expect((await bus.stats('slow')).depth).toBe(34);
    });

    it('wakes a group when events it subscribes to are appended, and not for others', async () => {
      const { bus, now } = await open();
      await bus.subscribe('g', ['x']);
      let woken = 0;
      const off = bus.onWake('g', () => woken++);
      await bus.append([event('y', 1, null, now())]);
      expect(woken).toBe(0);
      await bus.append([event('x', 1, null, now())]);
      expect(woken).toBe(1);
      bus.published(['x']);
      expect(woken).toBe(2);
      off();
      bus.published(['x']);
      expect(woken).toBe(2);
    });

    it('lets concurrent claimants of one group take disjoint deliveries', async () => {
      const { bus, now } = await open();
      await bus.subscribe('g', ['x']);
      await bus.append(Array.from({ length: 40 }, (_, i) => event('x', i, null, now())));
      const batches = await Promise.all([1, 2, 3, 4].map(() => bus.claim('g', { limit: 10, leaseMs: LEASE })));
      const ids = batches.flat().map((d) => d.event.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(40);
    });
  });
}
