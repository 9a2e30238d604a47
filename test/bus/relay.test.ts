// The outbox relay and the consumer inbox, on the real PostgreSQL (a schema per test) and the real
// Redis (a key prefix per test) / NATS (a stream per test): commits reordered against their
// sequence numbers lose nothing and reorder nothing per key; a consumer killed mid-batch gets its
// deliveries back and the inbox keeps each effect single; a poison event goes to the DLQ and the
// group goes on; one relay is active per stream and a stale one cannot move the cursor.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OutboxBus } from '../../src/bus/outbox-bus.js';
import { OutboxStore, outboxStoreModule } from '../../src/bus/outbox-store.js';
import { OutboxRelay } from '../../src/bus/relay.js';
import type { ExternalBus, NewEvent } from '../../src/bus/types.js';
import { openStore, type Store } from '../../src/store/index.js';
import { queries } from '../../src/store/postgres/queries.js';
import { systemClock } from '../../src/scheduler/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { dropSchemas, havePostgres, uniqueSchema, PG_URL } from '../helpers/services.js';
import { busBackends, type BackendFactory } from './backends.js';

const schemas: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
  await dropSchemas(schemas);
});

async function pgStore(clock = systemClock): Promise<Store> {
  const schema = uniqueSchema('oc_relay');
  schemas.push(schema);
  const store = await openStore({ kind: 'postgres', url: PG_URL, schema }, { clock });
  await store.migrateModule(outboxStoreModule);
  cleanups.push(() => store.close());
  return store;
}

const ev = (id: string, name: string, payload: unknown, key: string | null, at: number): NewEvent => ({ id, name, payload, source: 'w', createdAt: at, key });

/** Inserts events inside an open transaction held until `hold` resolves (a late commit). */
function insertHeld(store: Store, events: NewEvent[], hold: () => Promise<void>): Promise<void> {
  const h = store.handle();
  if (h.dialect !== 'postgres') throw new Error('expected PostgreSQL');
  return h.tx(async (c) => {
    await c.query(queries(h.schema).publish, [
      events.map((e) => e.id),
      events.map((e) => e.name),
      events.map((e) => JSON.stringify(e.payload)),
      events.map((e) => e.source),
      events.map((e) => e.createdAt),
      events.map(() => null),
      Date.now(),
      events.map((e) => e.key ?? null),
      events.map(() => null),
    ]);
    await hold();
  });
}

/**
 * Relay passes until `n` events went out. Another session's open transaction on the shared server
 * holds the horizon back for a moment, so one pass may publish nothing yet.
 */
async function relayed(relay: OutboxRelay, n: number): Promise<number> {
  let total = 0;
  const deadline = Date.now() + 20_000;
  while (total < n && Date.now() < deadline) total += await relay.pass();
  return total;
}

const pgUp = await havePostgres();
const backends = await busBackends();

describe.runIf(pgUp).each(backends)('outbox relay to $name', (backend: BackendFactory) => {
  async function setup(opts: { clock?: FakeClock; maxDeliveries?: number; ackWaitMs?: number } = {}) {
    const store = await pgStore();
    const clock = opts.clock ?? new FakeClock();
    const external = await backend.open(clock, { maxDeliveries: opts.maxDeliveries, ackWaitMs: opts.ackWaitMs });
    cleanups.push(() => external.close());
    const outbox = new OutboxStore(store.handle());
    const relay = new OutboxRelay(outbox, external, { stream: backend.name, owner: 'node-a', clock: systemClock, pollMs: 20 });
    cleanups.push(() => relay.stop());
    const bus = new OutboxBus(store, external, relay, outbox);
    await relay.pass(); // takes the lease: the relay starts at the head of the log
    return { store, clock, external, outbox, relay, bus };
  }

  it('loses nothing and reorders nothing per key with 16 concurrent writers committing out of sequence order', async () => {
    const { store, external, relay } = await setup();
    await external.subscribe('g', ['x']);
    relay.start();
    const WRITERS = 16;
    const PER = 40;
    // Each writer commits its key's events one after another; each transaction is held open for a
    // random few ms after taking its seq, so commits land out of sequence order across writers.
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < PER; i++) {
        const hold = Math.random() * 4;
        await insertHeld(store, [ev(`w${w}-${i}`, 'x', { w, i }, `k${w}`, Date.now())], () => new Promise((r) => setTimeout(r, hold)));
      }
    });
    const got = new Map<string, number[]>();
    let total = 0;
    const consume = async () => {
      while (total < WRITERS * PER) {
        const batch = await external.claim('g', { limit: 200, leaseMs: 60_000 });
        for (const d of batch) {
          const p = d.event.payload as { w: number; i: number };
          const list = got.get(d.event.key!) ?? [];
          list.push(p.i);
          got.set(d.event.key!, list);
        }
        total += batch.length;
        if (batch.length > 0) await external.ack(batch);
        else await new Promise((r) => setTimeout(r, 10));
      }
    };
    await Promise.all([...writers, consume()]);
    for (let w = 0; w < WRITERS; w++) expect(got.get(`k${w}`)).toEqual(Array.from({ length: PER }, (_, i) => i));
  }, 60_000);

  it('does not publish past a transaction that took a lower sequence number and has not committed yet', async () => {
    const { store, external, relay } = await setup();
    await external.subscribe('g', ['x']);
    let release!: () => void;
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    const late = insertHeld(store, [ev('low', 'x', 1, 'k', 1)], () => {
      inside();
      return new Promise<void>((r) => (release = r));
    });
    await entered;
    await store.publish([ev('high', 'x', 2, 'k', 2)]);
    // Held back: 'high' committed, but 'low' (a lower seq, still open) is below it in commit order.
    expect(await relay.pass()).toBe(0);
    release();
    await late;
    expect(await relayed(relay, 2)).toBe(2);
    const got = await external.claim('g', { limit: 10, leaseMs: 60_000 });
    expect(got.map((d) => d.event.id)).toEqual(['low', 'high']);
  });

  it('redelivers what a consumer killed mid-batch held to another, and the inbox keeps each effect single', async () => {
    const { store, clock, bus, relay, external, outbox } = await setup({ ackWaitMs: 1000 });
    await bus.subscribe('g', ['x']);
    await bus.append(Array.from({ length: 20 }, (_, i) => ev(`e${i}`, 'x', i, null, clock.now())));
    expect(await relayed(relay, 20)).toBe(20);
    const handle = async (b: OutboxBus, d: Parameters<typeof bus.commitAck>[1], ackAfter: boolean) => {
      await store.commitRun({ writes: [{ namespace: 'c', key: d.event.id, value: d.attempts }], reads: [], emits: [], effects: b.commitAck('g', d).effects });
      if (ackAfter) expect(await b.ack([d])).toBe(1);
    };
    const first = await bus.claim('g', { limit: 10, leaseMs: 30_000 });
    expect(first).toHaveLength(10);
    // Consumer A handled 5: two acknowledged on the bus, three committed but killed before the bus
    // ack; the other 5 never started. Then A's process goes away (its connection closes).
    for (const [i, d] of first.slice(0, 5).entries()) await handle(bus, d, i < 2);
    await external.close();
    // Consumer B, another connection: A's leases run out (Redis: by the daemons' clock; NATS: the
    // server's ack_wait), and B gets them back.
    const externalB = await backend.reopen(external, clock, { ackWaitMs: 1000 });
    cleanups.push(() => externalB.close());
    await externalB.subscribe('g', ['x']);
    const busB = new OutboxBus(store, externalB, relay, outbox);
    clock.advance(30_001);
    const again: string[] = [];
    const expected = [...first.slice(5).map((d) => d.event.id), ...Array.from({ length: 10 }, (_, i) => `e${i + 10}`)].sort();
    const deadline = Date.now() + 30_000;
    while (again.length < expected.length && Date.now() < deadline) {
      const batch = await busB.claim('g', { limit: 7, leaseMs: 30_000 });
      for (const d of batch) {
        again.push(d.event.id);
        await handle(busB, d, true);
      }
      if (batch.length === 0) await new Promise((r) => setTimeout(r, 100)); // NATS: ack_wait is server time
    }
    // The 3 committed-but-unacked came back and were dropped by the inbox; the rest ran once.
    expect(again.sort()).toEqual(expected);
    expect((await store.listState('c')).length).toBe(20);
    expect(await store.namespaceVersion('c')).toBe(20);
    expect((await externalB.stats('g')).depth).toBe(0);
    // A concurrent duplicate (a lease that expired while its first run was still committing) rolls back.
    await expect(store.commitRun({ writes: [{ namespace: 'c', key: 'dup', value: 1 }], reads: [], emits: [], effects: busB.commitAck('g', first[0]!).effects })).rejects.toThrow(/already handled/);
    expect(await store.getState('c', 'dup')).toBeUndefined();
  }, 60_000);

  it('dead-letters a poison event after its last attempt, and the group goes on', async () => {
    const { clock, bus, relay } = await setup();
    await bus.subscribe('g', ['x']);
    await bus.append([ev('poison', 'x', 'bad', null, clock.now()), ...Array.from({ length: 5 }, (_, i) => ev(`ok${i}`, 'x', i, null, clock.now()))]);
    expect(await relayed(relay, 6)).toBe(6);
    const handled: string[] = [];
    const attempts: number[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = await bus.claim('g', { limit: 10, leaseMs: 30_000 });
      for (const d of batch) {
        if (d.event.id === 'poison') {
          attempts.push(d.attempts);
          expect(await bus.nack([{ ...d, error: 'boom', retryAt: clock.now() + 100, dead: d.attempts >= 3 }])).toBe(1);
        } else {
          handled.push(d.event.id);
          await bus.ack([d]);
        }
      }
      clock.advance(100);
    }
    expect(attempts).toEqual([1, 2, 3]);
    expect(handled.sort()).toEqual(['ok0', 'ok1', 'ok2', 'ok3', 'ok4']);
    expect((await bus.stats('g')).depth).toBe(0);
    expect((await bus.deadLetters('g')).map((d) => [d.event.id, d.consumer, d.attempts, d.lastError])).toEqual([['poison', 'g', 3, 'boom']]);
  });

  it('keeps one relay active per stream; a relay whose lease moved on cannot move the cursor', async () => {
    const { store, external } = await setup();
    await external.subscribe('g', ['x']);
    const outbox = new OutboxStore(store.handle());
    const clock = new FakeClock(Date.now());
    const a = new OutboxRelay(outbox, external, { stream: 's', owner: 'a', clock, leaseMs: 1000 });
    const b = new OutboxRelay(outbox, external, { stream: 's', owner: 'b', clock, leaseMs: 1000 });
    expect(await a.pass()).toBe(0); // takes the lease at the head of the log
    await store.publish([ev('one', 'x', 1, null, 1)]);
    expect(await relayed(a, 1)).toBe(1);
    await store.publish([ev('two', 'x', 2, null, 2)]);
    await b.pass();
    expect(b.stats.active).toBe(false); // a holds the lease
    expect(b.stats.published).toBe(0);
    clock.advance(1001); // a "paused" past its lease
    expect(await relayed(b, 1)).toBe(1);
    await store.publish([ev('three', 'x', 3, null, 3)]);
    expect(await a.pass()).toBe(0); // its cursor move (or renewal) is refused: the epoch moved on
    expect(a.stats.lostLease).toBe(1);
    expect(await relayed(b, 1)).toBe(1);
    const got = await external.claim('g', { limit: 10, leaseMs: 60_000 });
    // 'three' was published by the stale relay too, then dropped by the bus's dedupe.
    expect(got.map((d) => d.event.id)).toEqual(['one', 'two', 'three']);
  });

  it('a standby relay reads who holds the lease once per standby period, never locking it, and takes over a lease given up within one period', async () => {
    const { store, external } = await setup();
    const outbox = new OutboxStore(store.handle());
    const tries = { holder: 0, acquire: 0 };
    const counted = Object.assign(Object.create(outbox) as OutboxStore, {
      holder: (stream: string) => (tries.holder++, outbox.holder(stream)),
      acquire: (...a: Parameters<OutboxStore['acquire']>) => (tries.acquire++, outbox.acquire(...a)),
    });
    const clock = new FakeClock(Date.now());
    const a = new OutboxRelay(outbox, external, { stream: 's', owner: 'a', clock, leaseMs: 10_000 });
    const b = new OutboxRelay(counted, external, { stream: 's', owner: 'b', clock, leaseMs: 10_000, standbyMs: 1000 });
    await a.pass();
    for (let i = 0; i < 5; i++) {
      await b.pass();
      clock.advance(100);
    }
    expect(b.stats.active).toBe(false);
    expect(tries).toEqual({ holder: 1, acquire: 0 });
    await a.stop(); // drain: gives the lease up
    clock.advance(500);
    await b.pass();
    expect(tries).toEqual({ holder: 2, acquire: 1 });
    expect(b.stats.active).toBe(true);
    await external.subscribe('g', ['x']);
    await store.publish([ev('after', 'x', 1, null, 1), ev('drain', 'x', 2, null, 2)]);
    expect(await relayed(b, 2)).toBe(2);
    expect((await external.claim('g', { limit: 10, leaseMs: 60_000 })).map((d) => d.event.id)).toEqual(['after', 'drain']);
  });

  it('says so when a whole batch was already on the bus (a store restored from a backup under the same origin would otherwise skip it silently)', async () => {
    const { store, external } = await setup();
    await external.subscribe('g', ['x']);
    const outbox = new OutboxStore(store.handle());
    const errors: string[] = [];
    const relay = new OutboxRelay(outbox, external, { stream: 's', owner: 'a', clock: new FakeClock(Date.now()), onError: (e) => void errors.push(e.message) });
    expect(await relay.pass()).toBe(0);
    await store.publish([ev('r1', 'x', 1, null, 1), ev('r2', 'x', 2, null, 2)]);
    expect(await relayed(relay, 2)).toBe(2);
    expect(relay.stats.skipped).toBe(0);
    // The cursor rewinds (as a restore rewinds it) under the same origin: the batch is dropped by the bus, and reported.
    await relay.stop();
    const h = store.handle();
    if (h.dialect !== 'postgres') throw new Error('expected PostgreSQL');
    await h.pool.query(`UPDATE ${h.schema}.bus_relay SET cursor_tx = '0', cursor_seq = 0`);
    const again = new OutboxRelay(outbox, external, { stream: 's', owner: 'b', clock: new FakeClock(Date.now()), onError: (e) => void errors.push(e.message) });
    await again.pass();
    expect(again.stats.skipped).toBe(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/already had all 2 events .* restored from a backup/);
    expect((await external.claim('g', { limit: 10, leaseMs: 60_000 })).map((d) => d.event.id)).toEqual(['r1', 'r2']);
  });

  it('relays a backlog in order across many small batches (read, publish and cursor move overlapped)', async () => {
    const { store, external } = await setup();
    await external.subscribe('g', ['x']);
    const outbox = new OutboxStore(store.handle());
    const relay = new OutboxRelay(outbox, external, { stream: 's', owner: 'a', clock: new FakeClock(Date.now()), batch: 7 });
    expect(await relay.pass()).toBe(0);
    await store.publish(Array.from({ length: 50 }, (_, i) => ev(`b${i}`, 'x', i, `k${i % 3}`, i)));
    expect(await relayed(relay, 50)).toBe(50);
    expect(relay.stats.batches).toBe(8);
    // A second relay after this one gave the lease up publishes nothing again: the cursor moved past all 50.
    await relay.stop();
    const next = new OutboxRelay(outbox, external, { stream: 's', owner: 'b', clock: new FakeClock(Date.now()), batch: 7 });
    expect(await next.pass()).toBe(0);
    const got = await external.claim('g', { limit: 100, leaseMs: 60_000 });
    expect(got.map((d) => d.event.id)).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`));
  });
});

describe('the store origin a bus keys its relayed-position mark by', () => {
  it('is written once per store and read back the same, on SQLite and PostgreSQL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-origin-'));
    const stores: Store[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = await openStore({ kind: 'sqlite', path: path.join(dir, `s${i}.db`) });
        await s.migrateModule(outboxStoreModule);
        stores.push(s);
      }
      if (pgUp) stores.push(await pgStore());
      const origins: string[] = [];
      for (const s of stores) {
        const o = new OutboxStore(s.handle());
        const first = await o.origin();
        expect(await Promise.all([o.origin(), o.origin()])).toEqual([first, first]);
        origins.push(first);
      }
      expect(new Set(origins).size).toBe(stores.length);
      if (pgUp) {
        // PostgreSQL: the meta row's id with the instance's system identifier and timeline — a
        // backup restored on another instance (or a new timeline) keeps the row, not the origin.
        const h = stores[2]!.handle();
        if (h.dialect !== 'postgres') throw new Error('expected PostgreSQL');
        const meta = (await h.pool.query<{ value: string }>(`SELECT value FROM ${h.schema}.meta WHERE key = 'bus.origin'`)).rows[0]!.value;
        const sid = (await h.pool.query<{ sid: string }>(`SELECT system_identifier::text AS sid FROM pg_control_system()`)).rows[0]!.sid;
        expect(origins[2]).toMatch(new RegExp(`^${meta}@${sid}\\.\\d+$`));
      }
    } finally {
      for (const s of stores.slice(0, 2)) await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
