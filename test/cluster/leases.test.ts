// The lease manager against the real PostgreSQL, in-process: renewal runs from join() on (a boot
// that starts a thousand agents before placement begins keeps its leases), and a renewal that
// comes after the deadline because the event loop was blocked is tried before anything stops —
// the node keeps what has not expired in the database and stops every lease that lapsed (taken
// over or not: a lapsed lease is never revived), taking the untaken ones again with new epochs.
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Worker } from 'node:worker_threads';
import { openStore, type Store } from '../../src/store/index.js';
import { FencedError } from '../../src/util/errors.js';
import { clusterStoreModule } from '../../src/cluster/schema.js';
import { LeaseManager, type HeldLease, type PlacementListener } from '../../src/cluster/leases.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { waitFor } from '../helpers/project.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

const LEASE_MS = 2000;

interface Recorder extends PlacementListener {
  lost: PlacementListener['lost'] & { calls: string[] };
  logs: string[];
}

function recorder(): Recorder {
  const calls: string[] = [];
  const r = {
    acquired: async () => undefined,
    lost: Object.assign(async (l: HeldLease) => void calls.push(l.instance), { calls }),
    logs: [] as string[],
    log: (_level: string, msg: string) => void r.logs.push(msg),
  };
  return r;
}

// Runs beside the blocked main thread: waits until the database sees both leases lapse, takes
// b#0 over as another node would (epoch + 1), then wakes the main thread.
const OTHER_NODE = `
const { workerData } = require('node:worker_threads');
const pg = require('pg');
const flag = new Int32Array(workerData.flag);
const now = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';
(async () => {
  const c = new pg.Client({ connectionString: workerData.url });
  await c.connect();
  const S = '"' + workerData.schema + '"';
  for (;;) {
    const r = await c.query('SELECT count(*)::int AS n FROM ' + S + '.agent_leases WHERE expires_at <= ' + now);
    if (r.rows[0].n === 2) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const t = await c.query('UPDATE ' + S + ".agent_leases SET owner = 'n2', epoch = epoch + 1, expires_at = " + now + " + 60000 WHERE instance = 'b#0' AND expires_at <= " + now);
  await c.end();
  Atomics.store(flag, 0, t.rowCount === 1 ? 1 : 2);
  Atomics.notify(flag, 0);
})().catch(() => { Atomics.store(flag, 0, 3); Atomics.notify(flag, 0); });
`;

describe.runIf(pgAvailable)('lease renewal (PostgreSQL)', () => {
  let store: Store;
  let db: pg.Pool;
  const schema = uniqueSchema('oc_leases');
  schemas.push(schema);
  const slots = [
    { agent: 'a', instance: 'a#0' },
    { agent: 'b', instance: 'b#0' },
  ];
  const q = (sql: string, v: unknown[] = []) => db.query(sql.replaceAll('$S', `"${schema}"`), v);
  const commit = (mgr: LeaseManager, instance: string) =>
    store.commitRun({ reads: [], writes: [{ namespace: instance.slice(0, 1), key: 'k', value: Math.random() }], emits: [], fence: mgr.fence(instance) });

  it('heartbeats from register() on and renews from join() on, before placement starts (a long boot keeps its leases)', async () => {
    store = await openStore({ kind: 'postgres', url: PG_URL, schema });
    await store.migrateModule(clusterStoreModule);
    db = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const r = recorder();
    const mgr = new LeaseManager(store.handle() as never, { nodeId: 'boot', address: null, weight: 1, capacity: null, leaseMs: LEASE_MS }, slots, r);
    // Registered before the modules start: live (heartbeat renewed) while the boot holds no lease,
    // so the others do not take this node's workflow runs for orphans.
    await mgr.register(null);
    const hb = Number((await q(`SELECT heartbeat_at FROM $S.cluster_nodes WHERE node_id = 'boot'`)).rows[0].heartbeat_at);
    await waitFor('heartbeats before join()', async () => {
      const n = (await mgr.nodes()).find((x) => x.nodeId === 'boot');
      return n?.alive === true && n.heartbeatAt > hb + LEASE_MS;
    }, 20_000, 50);
    const taken = await mgr.join(null);
    expect(taken.map((t) => t.lease.instance).sort()).toEqual(['a#0', 'b#0']);
    // The boot is still starting its agents (start() not called) for three lease lengths.
    const first = (await q(`SELECT max(expires_at) AS e FROM $S.agent_leases`)).rows[0].e;
    await waitFor('three renewals', async () => Number((await q(`SELECT min(expires_at) AS e FROM $S.agent_leases`)).rows[0].e) > Number(first) + 2 * LEASE_MS, 20_000, 50);
    expect(r.lost.calls).toEqual([]);
    expect(mgr.heldCount).toBe(2);
    await commit(mgr, 'a#0');
    await mgr.drain();
  });

  it('a blocked event loop past the deadline: the late renewal revives no lapsed lease; both stop, the untaken one is taken again with a new epoch', async () => {
    await q(`DELETE FROM $S.agent_leases`);
    await q(`DELETE FROM $S.cluster_nodes`);
    const r = recorder();
    const mgr = new LeaseManager(store.handle() as never, { nodeId: 'n1', address: null, weight: 1, capacity: null, leaseMs: LEASE_MS }, slots, r);
    await mgr.join(null);
    mgr.start();
    await commit(mgr, 'a#0');
    const epochs = Object.fromEntries((await q(`SELECT instance, epoch FROM $S.agent_leases`)).rows.map((x) => [x.instance, Number(x.epoch)]));
    // The event loop blocks (no timer, no I/O callback runs here) until the database has seen both
    // leases lapse and another node has taken b#0 over (a worker thread does both meanwhile).
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(OTHER_NODE, { eval: true, workerData: { flag: flag.buffer, url: PG_URL, schema } });
    Atomics.wait(flag, 0, 0, 60_000);
    await worker.terminate();
    expect(Atomics.load(flag, 0), 'the other node took b#0 while this loop was blocked').toBe(1);
    await waitFor('the late renewal', async () => mgr.late.attempts > 0 && r.logs.some((m) => m.includes('renewal came')), 20_000, 20);
    // Both lapsed in the database: neither is revived (other nodes act on expiry without moving the
    // epoch), so both stop here; b#0 was taken over, a#0 was not.
    expect([...r.lost.calls].sort()).toEqual(['a#0', 'b#0']);
    expect(mgr.holds('b#0')).toBe(false);
    await expect(commit(mgr, 'b#0')).rejects.toBeInstanceOf(FencedError);
    // a#0 is taken again at the next placement step, with a new epoch: a commit under the old one is refused.
    const stale = { ...mgr.fence('a#0'), epoch: epochs['a#0']! };
    await waitFor('a#0 taken again', () => mgr.holds('a#0') && mgr.fence('a#0').epoch > epochs['a#0']!, 20_000, 20);
    await expect(store.commitRun({ reads: [], writes: [{ namespace: 'a', key: 'k', value: 1 }], emits: [], fence: stale })).rejects.toBeInstanceOf(FencedError);
    await commit(mgr, 'a#0');
    const rows = Object.fromEntries((await q(`SELECT instance, owner, epoch FROM $S.agent_leases`)).rows.map((x) => [x.instance, `${x.owner}@${x.epoch}`]));
    expect(rows).toEqual({ 'a#0': `n1@${epochs['a#0']! + 1}`, 'b#0': `n2@${epochs['b#0']! + 1}` });
    mgr.close();
  });

  it('lifecycle announcements reach the other nodes; after the lease connection is cut, its reconnection is reported (what was announced meanwhile is lost) and LISTEN resumes', async () => {
    await q(`DELETE FROM $S.agent_leases`);
    await q(`DELETE FROM $S.cluster_nodes`);
    const cfg = (nodeId: string) => ({ nodeId, address: null, weight: 1, capacity: null, leaseMs: LEASE_MS });
    const a = new LeaseManager(store.handle() as never, cfg('la'), slots, recorder());
    const b = new LeaseManager(store.handle() as never, cfg('lb'), [], recorder());
    await a.join(null);
    await b.join(null);
    const heard: string[] = [];
    let reconnects = 0;
    await a.lifecycle.listen((m) => heard.push(`${m.agent}:${m.action}:${m.from}`));
    a.lifecycle.onReconnect(() => reconnects++);
    await waitFor('the lease connection up', async () => ((await q(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1`, [`openclaw lease la ${schema}`.slice(0, 63)])).rows[0].n as string) === '1', 20_000, 20);
    await a.lifecycle.announce('a', 'stop'); // its own: not delivered to itself
    await b.lifecycle.announce('a', 'pause');
    await waitFor('heard', () => heard.length > 0, 20_000, 20);
    expect(heard).toEqual(['a:pause:lb']);
    expect(reconnects).toBe(0);
    const cut = await q(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`openclaw lease la ${schema}`.slice(0, 63)]);
    expect(cut.rowCount).toBe(1);
    // The next renewal connects again (within a renewal period) and reports it.
    await waitFor('reconnected', () => reconnects === 1, 20_000, 20);
    await b.lifecycle.announce('a', 'resume');
    await waitFor('heard again', () => heard.length === 2, 20_000, 20);
    expect(heard[1]).toBe('a:resume:lb');
    a.close();
    b.close();
  });

  it('a renewal the database does not answer: the node stops everything, then takes the leases again', async () => {
    await q(`DELETE FROM $S.agent_leases`);
    await q(`DELETE FROM $S.cluster_nodes`);
    const r = recorder();
    const mgr = new LeaseManager(store.handle() as never, { nodeId: 'n3', address: null, weight: 1, capacity: null, leaseMs: LEASE_MS }, slots, r);
    await mgr.join(null);
    mgr.start();
    const before = mgr.fence('a#0').epoch;
    // Hold the node's heartbeat row: every renewal waits on it until its timeout.
    const hold = await db.connect();
    await hold.query('BEGIN');
    await hold.query(`SELECT 1 FROM "${schema}".cluster_nodes WHERE node_id = 'n3' FOR UPDATE`);
    try {
      await waitFor('every lease stopped', async () => r.lost.calls.length === 2, 20_000, 20);
      expect(mgr.heldCount).toBe(0);
      expect(mgr.late.kept).toBe(0);
    } finally {
      await hold.query('ROLLBACK');
      hold.release();
    }
    // The database answers again: the node (alone) takes both back, with new epochs.
    await waitFor('taken again', async () => mgr.heldCount === 2, 20_000, 20);
    expect(mgr.fence('a#0').epoch).toBeGreaterThan(before);
    await commit(mgr, 'a#0');
    mgr.close();
    await store.close();
    await db.end();
  });
});
