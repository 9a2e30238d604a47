// The cluster's batched fire claim (src/cluster/fires.ts, claimFiresFenced): the fires of one
// scheduler tick in ONE statement, each with the fencing of the one-fire claim — claimed only under
// this node's current (owner, epoch) of an unexpired lease, a time claimed once across the fleet,
// and the ledger row written with the claim. Real PostgreSQL, lease rows written directly.
import { afterAll, describe, expect, it, vi } from 'vitest';
import type pg from 'pg';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { FireLedger, fireLedgerStoreModule } from '../../src/scheduler/fire-ledger.js';
import { Schedules } from '../../src/daemon/schedules.js';
import type { AgentController } from '../../src/daemon/agent-controller.js';
import type { Placement } from '../../src/daemon/placement.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { clusterStoreModule } from '../../src/cluster/schema.js';
import { claimFireFenced, claimFiresFenced } from '../../src/cluster/fires.js';
import type { PostgresHandle } from '../../src/store/extension.js';
import { PG_URL, dropSchemas, havePostgres, uniqueSchema } from '../helpers/services.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
const stores: Store[] = [];

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  await dropSchemas(schemas);
});

async function setup(): Promise<{ h: PostgresHandle; store: Store; queries: () => number }> {
  const schema = uniqueSchema('oc_fireclaims');
  schemas.push(schema);
  const store = await openStore({ kind: 'postgres', url: PG_URL, schema });
  stores.push(store);
  await store.migrateModule(fireLedgerStoreModule);
  await store.migrateModule(clusterStoreModule);
  const h = store.handle();
  if (h.dialect !== 'postgres') throw new Error('expected postgres');
  let n = 0;
  const pool: pg.Pool = h.pool;
  const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  (pool as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
    n++;
    return query(...args);
  };
  return { h, store, queries: () => n };
}

const FAR = 'extract(epoch FROM clock_timestamp()) * 1000 + 600000';

describe.skipIf(!pgAvailable)('cluster: fires of one tick claimed in one fenced statement', () => {
  it('claims under the current (owner, epoch) of a live lease only, each time once, with its ledger row', async () => {
    const { h, queries } = await setup();
    const s = h.schema;
    // a0..a6: n1's live leases (epoch 3); a7: n1's lease but the node holds epoch 2 (moved on);
    // a8: n1's lease, expired; a9: n2's lease.
    for (let i = 0; i < 10; i++) {
      const owner = i === 9 ? 'n2' : 'n1';
      const expires = i === 8 ? '0' : FAR;
      await h.pool.query(`INSERT INTO ${s}.agent_leases (agent, instance, owner, epoch, expires_at) VALUES ($1, $2, $3, 3, ${expires})`, [`a${i}`, `a${i}#0`, owner]);
    }
    const fireAt = 1_700_000_000_000;
    // a5's time was claimed already by the one-fire claim.
    expect(await claimFireFenced(h, { agent: 'a5', instance: 'a5#0', owner: 'n1', epoch: 3 }, fireAt, 'single-a5', 1)).toBe(true);
    const fires = Array.from({ length: 10 }, (_, i) => ({ agent: `a${i}`, instance: `a${i}#0`, epoch: i === 7 ? 2 : 3, fireAt, runId: `run-a${i}` }));
    const before = queries();
    const out = await claimFiresFenced(h, 'n1', fires, 42);
    expect(queries() - before).toBe(1);
    expect(out).toEqual([true, true, true, true, true, false, true, 'fenced', 'fenced', 'fenced']);
    const rows = (await h.pool.query<{ agent: string; run_id: string; owner: string; epoch: string; claimed_at: string }>(`SELECT agent, run_id, owner, epoch, claimed_at FROM ${s}.schedule_fires ORDER BY agent`)).rows;
    expect(rows.map((r) => [r.agent, r.run_id, r.owner, Number(r.epoch)])).toEqual([
      ['a0', 'run-a0', 'n1', 3],
      ['a1', 'run-a1', 'n1', 3],
      ['a2', 'run-a2', 'n1', 3],
      ['a3', 'run-a3', 'n1', 3],
      ['a4', 'run-a4', 'n1', 3],
      ['a5', 'single-a5', 'n1', 3],
      ['a6', 'run-a6', 'n1', 3],
    ]);
    // Fenced fires claimed nothing: their times are still free for the node that holds the lease.
    const last = (await h.pool.query<{ agent: string; last_fire_at: string }>(`SELECT agent, last_fire_at FROM ${s}.schedules ORDER BY agent`)).rows;
    expect(last.map((r) => r.agent)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    expect(await claimFiresFenced(h, 'n2', [{ agent: 'a9', instance: 'a9#0', epoch: 3, fireAt, runId: 'n2-a9' }], 43)).toEqual([true]);
    expect(await claimFiresFenced(h, 'n1', [], 44)).toEqual([]);
  });

  it('two claims of the same tick racing (a retry, a second node under the same lease) take each time exactly once', async () => {
    const { h } = await setup();
    const s = h.schema;
    const n = 200;
    await h.pool.query(
      `INSERT INTO ${s}.agent_leases (agent, instance, owner, epoch, expires_at) SELECT 'a' || g, 'a' || g || '#0', 'n1', 1, ${FAR} FROM generate_series(0, $1 - 1) g`,
      [n],
    );
    const fireAt = 1_700_000_001_000;
    const tick = (tag: string) => Array.from({ length: n }, (_, i) => ({ agent: `a${i}`, instance: `a${i}#0`, epoch: 1, fireAt, runId: `${tag}-${i}` }));
    const [x, y] = await Promise.all([claimFiresFenced(h, 'n1', tick('x'), 1), claimFiresFenced(h, 'n1', tick('y'), 1)]);
    for (let i = 0; i < n; i++) expect([x[i], y[i]].filter((v) => v === true)).toHaveLength(1);
    const rows = (await h.pool.query<{ c: string }>(`SELECT count(*) AS c FROM ${s}.schedule_fires`)).rows[0]!;
    expect(Number(rows.c)).toBe(n);
  });

  it('a fire fenced in a lease gap is caught up when the lease lives on: no time passed over', async () => {
    // The node holds the lease at epoch 3 all along (as it sees it); in the store it lapses for one
    // fire time — a renewal in flight at the expiry, which a claim that began before its commit
    // does not see — and lives on at the same epoch. Before, the next time's claim passed over
    // the fenced one for good: no run, no missed record (the fleet test's "[2000]" gap).
    const { h, store } = await setup();
    const s = h.schema;
    const clock = new FakeClock();
    const start = clock.now();
    await h.pool.query(`INSERT INTO ${s}.agent_leases (agent, instance, owner, epoch, expires_at) VALUES ('cron', 'cron#0', 'n1', 3, ${FAR})`);
    await store.setMetas([['anchor:cron', String(start)]]);
    const admitted: number[] = [];
    const cron = {
      name: 'cron',
      cfg: { name: 'cron', enabled: true, kind: 'module', missed: 'run_all' },
      scheduleSpec: { kind: 'every', everyMs: 1000 },
      admit: async (req: { fireAt: number | null; runId?: string }) => {
        admitted.push(req.fireAt! - start);
        return { runId: req.runId!, admitted: 'started' as const };
      },
      requeue: () => undefined,
    } as unknown as AgentController;
    const placement = { runsAgent: () => true, leases: { nodeId: 'n1', heldOf: (agent: string) => [{ agent, instance: `${agent}#0`, epoch: 3 }] } } as unknown as Placement;
    const schedules = new Schedules({ store, fires: new FireLedger(h, () => clock.now()), clock, controllers: new Map([['cron', cron]]), placement: () => placement, log: () => undefined });
    await schedules.start();
    clock.advance(1000);
    await vi.waitFor(() => expect(admitted).toEqual([1000]), { timeout: 30_000, interval: 20 });
    const lastFire = async () => Number((await h.pool.query<{ t: string }>(`SELECT last_fire_at AS t FROM ${s}.schedules WHERE agent = 'cron'`)).rows[0]!.t) - start;
    await h.pool.query(`UPDATE ${s}.agent_leases SET expires_at = 0 WHERE instance = 'cron#0'`);
    clock.advance(1000);
    // The +2 s fire is fenced: nothing claimed (it stays the store's last fire: +1 s).
    // (Fenced: the agent is taken off the scheduler until its re-arming at its next fire time.)
    await vi.waitFor(() => expect(schedules.nextFire('cron')).toBeNull(), { timeout: 30_000, interval: 20 });
    expect(admitted).toEqual([1000]);
    expect(await lastFire()).toBe(1000);
    await h.pool.query(`UPDATE ${s}.agent_leases SET expires_at = ${FAR} WHERE instance = 'cron#0'`);
    clock.advance(1000);
    // Re-armed from the store's last fire at +3 s: +2 s and +3 s both come due (run_all: both run).
    // (The re-armed times are due at once: a timer of 0 ms, run when the fake clock is told.)
    await vi.waitFor(
      () => {
        clock.advance(0);
        expect(admitted).toEqual([1000, 2000, 3000]);
      },
      { timeout: 30_000, interval: 20 },
    );
    clock.advance(1000);
    await vi.waitFor(() => expect(admitted).toEqual([1000, 2000, 3000, 4000]), { timeout: 30_000, interval: 20 });
    expect(await lastFire()).toBe(4000);
    const open = (await h.pool.query<{ t: string }>(`SELECT fire_at AS t FROM ${s}.schedule_fires WHERE agent = 'cron' ORDER BY fire_at`)).rows.map((r) => Number(r.t) - start);
    expect(open).toEqual([1000, 2000, 3000, 4000]);
    schedules.close();
  });
});
