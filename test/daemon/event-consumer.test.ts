// The @on lane (EventConsumer) over the embedded bus on a real SQLite store: per-key ordering
// when asked for, concurrency across keys, and conflicted runs re-run under the same lease.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../../src/bus/embedded.js';
import type { EventDeliveryConfig } from '../../src/config/types.js';
import { EventConsumer } from '../../src/daemon/event-consumer.js';
import type { RunOutcome } from '../../src/daemon/run-transaction.js';
import { systemClock } from '../../src/scheduler/types.js';
import { openStore, type Delivery, type Store } from '../../src/store/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(ordering: EventDeliveryConfig['ordering'], handle: (d: Delivery) => Promise<RunOutcome>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-lane-'));
  const store: Store = await openStore({ kind: 'sqlite', path: path.join(dir, 'lane.db') });
  const bus = new EmbeddedBus(store, systemClock);
  await bus.subscribe('sink', ['e']);
  const settled: Array<{ id: string; fate: string }> = [];
  let inFlight = 0;
  const cfg: EventDeliveryConfig = { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 60_000, concurrency: 16, ordering };
  const lane = new EventConsumer('sink', bus, systemClock, cfg, {
    capacity: () => cfg.concurrency - inFlight,
    handle: async (d) => {
      inFlight++;
      try {
        return await handle(d);
      } finally {
        inFlight--;
      }
    },
    onSettled: (d, _o, fate) => settled.push({ id: d.event.id, fate }),
  });
  bus.onWake('sink', () => lane.wake());
  cleanups.push(async () => {
    lane.stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const ok = async (d: Delivery): Promise<RunOutcome> => {
    await bus.ack([d]);
    return { runId: d.event.id, ok: true, startedAt: 0, finishedAt: 0 };
  };
  return { bus, store, lane, settled, ok };
}

const until = async (what: string, cond: () => boolean) => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('event lane', () => {
  it('with ordering: key, handles one key at a time in log order, and different keys concurrently', async () => {
    const running = new Map<string, number>();
    const order: string[] = [];
    let maxConcurrent = 0;
    let current = 0;
    let ok!: (d: Delivery) => Promise<RunOutcome>;
    const t = await setup('key', async (d) => {
      const key = d.event.key!;
      expect(running.get(key) ?? 0).toBe(0); // never two of one key at once
      running.set(key, 1);
      maxConcurrent = Math.max(maxConcurrent, ++current);
      order.push(`${key}:${(d.event.payload as { i: number }).i}`);
      await new Promise((r) => setTimeout(r, 2));
      running.set(key, 0);
      current--;
      return ok(d);
    });
    ok = t.ok;
    t.lane.start();
    const events = Array.from({ length: 30 }, (_, i) => ({ id: `e${i}`, name: 'e', payload: { i }, source: null, createdAt: 0, key: `k${i % 3}` }));
    await t.bus.append(events);
    await until('all handled', () => t.settled.length === 30);
    for (const k of ['k0', 'k1', 'k2']) {
      const seen = order.filter((o) => o.startsWith(`${k}:`)).map((o) => Number(o.split(':')[1]));
      expect(seen).toEqual(events.filter((e) => e.key === k).map((e) => e.payload.i));
    }
    expect(maxConcurrent).toBeGreaterThan(1);
    expect(maxConcurrent).toBeLessThanOrEqual(3);
    expect(t.settled.every((s) => s.fate === 'done')).toBe(true);
  });

  it('re-runs a handler whose commit conflicted under the same lease, without spending an attempt', async () => {
    const tries = new Map<string, number>();
    let ok!: (d: Delivery) => Promise<RunOutcome>;
    const t = await setup('none', async (d) => {
      const n = (tries.get(d.event.id) ?? 0) + 1;
      tries.set(d.event.id, n);
      expect(d.attempts).toBe(1);
      if (n <= 2) return { runId: d.event.id, ok: false, conflict: true, startedAt: 0, finishedAt: 0 };
      return ok(d);
    });
    ok = t.ok;
    t.lane.start();
    await t.bus.append(Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, name: 'e', payload: i, source: null, createdAt: 0 })));
    await until('all handled', () => t.settled.length === 20);
    expect([...tries.values()].every((n) => n === 3)).toBe(true);
    expect(t.settled.every((s) => s.fate === 'done')).toBe(true);
    expect(await t.store.pendingCount('sink')).toBe(0);
  });
});
