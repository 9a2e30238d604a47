// Schedule fires are batched per scheduler tick (src/daemon/schedules.ts): every fire time that
// comes due in one tick is claimed — store claim and fire-ledger row — with a fixed number of
// statements whatever the number of agents, and the boot arms all schedules with a fixed number
// of queries. Before, each fire cost three write statements of its own (next fire time, ledger
// row, claim) and each agent five queries at boot: 10,000 agents at 1 Hz kept the daemon's thread
// in SQLite and the API starved.
//
// Real stores (a SQLite file, PostgreSQL); the statements are counted by wrapping the store's own
// connection (better-sqlite3's prepare, pg's pool.query). The agents are stand-ins that record
// what the scheduler admitted: the run itself is not what is measured here.
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { FireLedger, fireLedgerStoreModule } from '../../src/scheduler/fire-ledger.js';
import { Schedules } from '../../src/daemon/schedules.js';
import type { AgentController } from '../../src/daemon/agent-controller.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { PG_URL, dropSchemas, havePostgres, uniqueSchema } from '../helpers/services.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
const dirs: string[] = [];
const stores: Store[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
});
afterAll(async () => {
  await dropSchemas(schemas);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

// SQLite: a transaction function (the store's group commit, its write lock) counts once per
// outermost call. Patched on the prototype: the store makes its transaction functions as it opens.
let sqliteTransactions = 0;
const transaction = BetterSqlite3.prototype.transaction;
BetterSqlite3.prototype.transaction = function (this: Database.Database, fn: (...a: never[]) => unknown) {
  const t = transaction.call(this, fn) as unknown as Record<string, (...a: unknown[]) => unknown> & ((...a: unknown[]) => unknown);
  const db = this;
  const wrap = (g: (...a: unknown[]) => unknown) => (...args: unknown[]) => {
    if (!db.inTransaction) sqliteTransactions++;
    return g(...args);
  };
  const w = wrap(t) as typeof t;
  for (const k of ['deferred', 'immediate', 'exclusive']) w[k] = wrap(t[k]!);
  return w;
} as typeof transaction;

/**
 * Opens a store and counts, from then on, its write transactions on SQLite (a write statement
 * outside a transaction, or a transaction however many statements it holds: the group commit's
 * per-run statements are in-process calls inside one) and its statements other than SELECTs on
 * PostgreSQL (each a round trip; a transaction's go through a pool client and are not counted).
 */
async function countedStore(backend: 'sqlite' | 'postgres'): Promise<{ store: Store; count: () => number }> {
  let n = 0;
  if (backend === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-fire-batch-'));
    dirs.push(dir);
    const store = await openStore({ kind: 'sqlite', path: path.join(dir, 'openclaw.db') });
    stores.push(store);
    const h = store.handle();
    if (h.dialect !== 'sqlite') throw new Error('expected sqlite');
    const db: Database.Database = h.db;
    const prepare = db.prepare.bind(db);
    // Every statement prepared from now on (the store caches them) counts each execution of a
    // write: INSERT/UPDATE/DELETE, with or without RETURNING, in a transaction or on its own.
    db.prepare = ((sql: string) => {
      const st = prepare(sql);
      if (/^\s*(SELECT|PRAGMA)\b/i.test(sql)) return st;
      return new Proxy(st, {
        get(target, key) {
          const v = Reflect.get(target, key) as unknown;
          if (key === 'run' || key === 'all' || key === 'get' || key === 'iterate') {
            return (...args: unknown[]) => {
              if (!db.inTransaction) n++;
              return (v as (...a: unknown[]) => unknown).apply(target, args);
            };
          }
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    }) as typeof db.prepare;
    const base = sqliteTransactions;
    return { store, count: () => n + sqliteTransactions - base };
  }
  const schema = uniqueSchema('oc_firebatch');
  schemas.push(schema);
  const store = await openStore({ kind: 'postgres', url: PG_URL, schema });
  stores.push(store);
  const h = store.handle();
  if (h.dialect !== 'postgres') throw new Error('expected postgres');
  const pool: pg.Pool = h.pool;
  const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  (pool as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text;
    if (!/^\s*SELECT\b/i.test(text)) n++;
    return query(...args);
  };
  return { store, count: () => n };
}

const backends: Array<'sqlite' | 'postgres'> = ['sqlite', ...(pgAvailable ? (['postgres'] as const) : [])];

describe.each(backends)('schedule fires batched per tick (%s)', (backend) => {
  it('claims every fire of a tick with a fixed number of statements, each exactly once, and arms the boot likewise', async () => {
    const N = 60;
    const { store, count } = await countedStore(backend);
    await store.migrateModule(fireLedgerStoreModule);
    const clock = new FakeClock();
    const fires = new FireLedger(store.handle(), () => clock.now());
    const names = Array.from({ length: N }, (_, i) => `a${i}`);
    // Every agent on the same phase (stored anchors), as agents started together are: all N fire in one tick.
    await store.setMetas(names.map((n) => [`anchor:${n}`, String(clock.now())]));
    const admitted: Array<{ agent: string; fireAt: number | null; runId?: string }> = [];
    const controllers = new Map(
      names.map((name) => [
        name,
        {
          name,
          cfg: { name, enabled: true, kind: 'module', missed: 'run_once' },
          scheduleSpec: { kind: 'every', everyMs: 1000 },
          admit: async (req: { fireAt: number | null; runId?: string }) => {
            admitted.push({ agent: name, fireAt: req.fireAt, runId: req.runId });
            return { runId: req.runId!, admitted: 'started' as const };
          },
          requeue: () => undefined,
        } as unknown as AgentController,
      ]),
    );
    const schedules = new Schedules({ store, fires, clock, controllers, placement: () => null, log: () => undefined });

    const beforeBoot = count();
    await schedules.start();
    const bootStatements = count() - beforeBoot;
    // The new anchors (none: stored above) and the next fire times; not about five per agent.
    expect(bootStatements).toBeLessThanOrEqual(2);

    const fireAt = clock.now() + 1000;
    const beforeTick = count();
    clock.advance(1000);
    await vi.waitFor(() => expect(admitted.length).toBe(N), { timeout: 30_000, interval: 20 });
    const tickStatements = count() - beforeTick;
    // The next fire times (one statement) and the claims with their ledger rows (one transaction
    // on SQLite, one statement on PostgreSQL) — not three per fire (3 × 60 = 180).
    expect(tickStatements).toBeLessThanOrEqual(2);

    // Each agent's fire claimed once, with its own run id and its ledger row; the time is recorded.
    expect(new Set(admitted.map((a) => a.agent)).size).toBe(N);
    expect(admitted.every((a) => a.fireAt === fireAt)).toBe(true);
    expect(new Set(admitted.map((a) => a.runId)).size).toBe(N);
    const open = await fires.pendingOf(names);
    expect(open.size).toBe(N);
    for (const a of admitted) expect(open.get(a.agent)).toEqual([expect.objectContaining({ fireAt, runId: a.runId })]);
    const stored = await store.getSchedules(names);
    expect([...stored.values()].every((s) => s.lastFireAt === fireAt && s.nextFireAt === fireAt + 1000)).toBe(true);

    // A second claim of the same times (another daemon, or a restart that refires) takes none of
    // them and writes no ledger row; a later time of half the agents is claimed for those only.
    expect(await fires.claimBatch(names.map((agent) => ({ agent, fireAt, runId: `again-${agent}` })))).toEqual(names.map(() => false));
    const later = await fires.claimBatch(names.map((agent, i) => ({ agent, fireAt: i % 2 === 0 ? fireAt + 1000 : fireAt - 1000, runId: `later-${agent}` })));
    expect(later).toEqual(names.map((_, i) => i % 2 === 0));
    const after = await fires.pendingOf(names);
    expect(after.get('a0')!.map((f) => f.runId)).toEqual([admitted.find((a) => a.agent === 'a0')!.runId, 'later-a0']);
    expect(after.get('a1')!.map((f) => f.runId)).toEqual([admitted.find((a) => a.agent === 'a1')!.runId]);

    // A clock jump (or a stalled event loop) of 3.5 s: every agent's next tick is coalesced — the
    // latest time runs (run_once), the two before are recorded missed — and still claimed in the
    // tick's batch, the missed records group-committed with their ledger rows closed.
    const t1 = fireAt + 1000;
    const beforeJump = count();
    admitted.length = 0;
    clock.set(fireAt + 3500);
    await vi.waitFor(() => expect(admitted.length).toBe(N), { timeout: 30_000, interval: 20 });
    await vi.waitFor(async () => expect((await store.listRuns('a7', { status: 'missed' })).length).toBe(2), { timeout: 30_000, interval: 20 });
    // Next fire times, claims, and the missed records' group commit (SQLite; on PostgreSQL it goes
    // through a pool client) — not 3 per fire time plus 2 per missed record (60 × 13 = 780).
    expect(count() - beforeJump).toBeLessThanOrEqual(4);
    expect(admitted.every((a) => a.fireAt === t1 + 2000)).toBe(true);
    const missed = await store.listRuns('a7', { status: 'missed' });
    expect(missed.map((r) => [r.scheduledAt, r.reason]).sort()).toEqual([
      [t1, 'clock jump'],
      [t1 + 1000, 'clock jump'],
    ]);
    const open2 = await fires.pendingOf(['a7']);
    expect(open2.get('a7')!.map((f) => f.fireAt)).toEqual([fireAt, t1 + 2000]);
    schedules.close();
  });

  it('a stall of many seconds with many agents queues a bounded number of missed records, and accounts every fire time', async () => {
    // A small claim batch and 100 fire times in flight stand for MAX_CLAIM_BATCH and MAX_PENDING_FIRES:
    // 100 agents stalled 20 s owe 1,900 missed records; at most 2 × 50 wait in the group commit at once.
    const N = 100;
    const { store } = await countedStore(backend);
    await store.migrateModule(fireLedgerStoreModule);
    const clock = new FakeClock();
    const fires = new FireLedger(store.handle(), () => clock.now());
    const names = Array.from({ length: N }, (_, i) => `s${i}`);
    const start = clock.now();
    await store.setMetas(names.map((n) => [`anchor:${n}`, String(start)]));
    const admitted: Array<{ agent: string; fireAt: number | null }> = [];
    const controllers = new Map(
      names.map((name) => [
        name,
        {
          name,
          cfg: { name, enabled: true, kind: 'module', missed: 'run_once' },
          scheduleSpec: { kind: 'every', everyMs: 1000 },
          admit: async (req: { fireAt: number | null; runId?: string }) => {
            admitted.push({ agent: name, fireAt: req.fireAt });
            return { runId: req.runId!, admitted: 'started' as const };
          },
          requeue: () => undefined,
        } as unknown as AgentController,
      ]),
    );
    // The records handed to the store's group commit and not yet committed, and the most at once.
    const queued = { now: 0, max: 0 };
    const commitRuns = store.commitRuns.bind(store);
    store.commitRuns = async (commits) => {
      queued.now += commits.length;
      queued.max = Math.max(queued.max, queued.now);
      try {
        return await commitRuns(commits);
      } finally {
        queued.now -= commits.length;
      }
    };
    const schedules = new Schedules({ store, fires, clock, controllers, placement: () => null, log: () => undefined, limits: { claimBatch: 50, pendingFires: 100 } });
    await schedules.start();
    clock.advance(1000);
    await vi.waitFor(() => expect(admitted.length).toBe(N), { timeout: 30_000, interval: 20 });
    // The thread stalls 20 s: the next tick holds 20 times per agent — the latest runs, 19 are missed.
    clock.set(start + 21_000);
    await vi.waitFor(() => expect(admitted.length).toBe(2 * N), { timeout: 30_000, interval: 20 });
    // The missed records committed, their ledger rows closed: open are the two admitted fires (stand-ins never commit).
    await vi.waitFor(async () => expect([...(await fires.pendingOf(names)).values()].map((f) => f.length)).toEqual(names.map(() => 2)), { timeout: 60_000, interval: 50 });
    expect(queued.now).toBe(0);
    expect(queued.max).toBeGreaterThan(0);
    expect(queued.max).toBeLessThanOrEqual(2 * 50);
    // Every fire time from +1 s to +21 s of every agent: run (admitted) or recorded missed, once.
    for (const name of names) {
      const missed = (await store.listRuns(name, { status: 'missed', limit: 1000 })).map((r) => r.scheduledAt! - start);
      const ran = admitted.filter((a) => a.agent === name).map((a) => a.fireAt! - start);
      expect([...missed, ...ran].sort((x, y) => x - y)).toEqual(Array.from({ length: 21 }, (_, i) => (i + 1) * 1000));
    }
    schedules.close();
  }, 120_000);

  it('claims several times of one agent in one batch exactly as claimFire would, one by one in order', async () => {
    const { store } = await countedStore(backend);
    await store.migrateModule(fireLedgerStoreModule);
    const fires = new FireLedger(store.handle(), () => 1);
    expect(await store.claimFire('old', 1000)).toBe(true);
    await store.setNextFires([{ agent: 'old', nextFireAt: 2000 }]);
    const batch = [
      { agent: 'old', fireAt: 500, runId: 'o1' },
      { agent: 'new', fireAt: 10, runId: 'n1' },
      { agent: 'old', fireAt: 1000, runId: 'o2' },
      { agent: 'old', fireAt: 1500, runId: 'o3' },
      { agent: 'new', fireAt: 20, runId: 'n2' },
      { agent: 'old', fireAt: 2000, runId: 'o4' },
    ];
    expect(await fires.claimBatch(batch)).toEqual([false, true, false, true, true, true]);
    expect((await store.getSchedules(['old', 'new'])).get('old')!.lastFireAt).toBe(2000);
    expect((await fires.pendingOf(['old', 'new'])).get('old')!.map((f) => f.runId)).toEqual(['o3', 'o4']);
    expect((await fires.pendingOf(['old', 'new'])).get('new')!.map((f) => f.runId)).toEqual(['n1', 'n2']);
    expect(await fires.claimBatch(batch)).toEqual(batch.map(() => false));
  });
});
