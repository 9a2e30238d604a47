// What only an external bus (Redis Streams, NATS JetStream) must show beyond the conformance suite:
// its delivery count bounds a poison event whose consumer dies at every delivery (into the DLQ),
// while deliveries given back on purpose (nack: a handler failure, a commit conflict) do not spend it.
import { expect, it } from 'vitest';
import type { BusFixture, ExternalBus } from '../../src/bus/types.js';

export function crashGuardTests(
  open: (opts: { maxDeliveries: number }) => Promise<BusFixture & { bus: ExternalBus }>,
  /** Entries the bus still keeps in its log (Redis: after a sweep; NATS: interest retention). */
  logLength: (bus: ExternalBus) => Promise<number>,
): void {
  it('dead-letters an event whose consumer dies at every delivery, by its delivery count, and moves on', async () => {
    const fx = await open({ maxDeliveries: 3 });
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

  it('does not count nacked deliveries (failures, conflicts) against the crash bound', async () => {
    const fx = await open({ maxDeliveries: 2 });
    try {
      await fx.bus.subscribe('g', ['x']);
      await fx.bus.append([{ id: 'contended', name: 'x', payload: 1, source: null, createdAt: fx.now() }]);
      for (let i = 1; i <= 5; i++) {
        const [d] = await fx.bus.claim('g', { limit: 10, leaseMs: 1000 });
        expect(d!.attempts).toBe(i);
        if (i < 5) expect(await fx.bus.nack([{ ...d!, error: 'state conflict', retryAt: fx.now() }])).toBe(1);
        else expect(await fx.bus.ack([d!])).toBe(1);
      }
      expect(await fx.bus.deadLetters('g')).toEqual([]);
    } finally {
      await fx.close();
    }
  });

  it('a group that subscribes to nothing gets nothing and no longer holds the log', async () => {
    const fx = await open({ maxDeliveries: 20 });
    try {
      await fx.bus.subscribe('kept', ['x']);
      await fx.bus.subscribe('retired', ['x']);
      expect((await fx.bus.groups()).sort()).toEqual(['kept', 'retired']);
      await fx.bus.append([1, 2, 3].map((i) => ({ id: `r${i}`, name: 'x', payload: i, source: null, createdAt: fx.now() })));
      await fx.bus.subscribe('retired', []);
      expect(await fx.bus.claim('retired', { limit: 10, leaseMs: 1000 })).toEqual([]);
      const got = await fx.bus.claim('kept', { limit: 10, leaseMs: 1000 });
      expect(await fx.bus.ack(got)).toBe(3);
      expect(await logLength(fx.bus)).toBe(0);
    } finally {
      await fx.close();
    }
  });
}
