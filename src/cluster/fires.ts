// Schedule fires left by a node that no longer runs the agent (it died, was paused past its lease,
// or lost the lease between claiming a fire and running it). The node that runs the agent adopts
// them in one UPDATE — only one node wins a row — and runs them (or records them missed) by the
// agent's missed-run policy (src/scheduler/fire-ledger.ts, planRecovery).
import type { PostgresHandle } from '../store/extension.js';
import type { PendingFire } from '../scheduler/fire-ledger.js';
import { DB_NOW } from './schema.js';

/**
 * Takes over the open fires of `agent` whose owner holds no live lease of it. With `own`, this
 * node's own rows too (it just took the agent back: its earlier runs were stopped and fenced).
 */
export async function adoptOrphanFires(h: PostgresHandle, agent: string, me: string, epoch: number, own: boolean): Promise<PendingFire[]> {
  const s = h.schema;
  const res = await h.pool.query<{ agent: string; fire_at: string; run_id: string; claimed_at: string; owner: string; epoch: string }>(
    `UPDATE ${s}.schedule_fires f SET owner = $2, epoch = $3
     WHERE f.agent = $1 AND (
       ($4 AND f.owner = $2) OR f.owner IS NULL OR (f.owner <> $2 AND NOT EXISTS (
         SELECT 1 FROM ${s}.agent_leases l WHERE l.agent = f.agent AND l.owner = f.owner AND l.expires_at > ${DB_NOW})))
     RETURNING f.agent, f.fire_at, f.run_id, f.claimed_at, f.owner, f.epoch`,
    [agent, me, epoch, own],
  );
  return res.rows
    .map((r) => ({ agent: r.agent, fireAt: Number(r.fire_at), runId: r.run_id, claimedAt: Number(r.claimed_at), owner: r.owner, epoch: Number(r.epoch) }))
    .sort((a, b) => a.fireAt - b.fireAt);
}

/**
 * Claims one fire time in a cluster: the store's claim of the time (the same conditional upsert as
 * Store.claimFire) and the ledger row (owner, epoch) in ONE statement, conditional on this node's
 * lease of the agent's instance (locked FOR KEY SHARE, as a run commit's fence: a take-over waits,
 * a renewal does not). A node that lost the lease claims nothing, and no node ever sees a claimed
 * time without its ledger row. One round trip: with 1,000 agents firing every second the claim's
 * former five (BEGIN, lock, two inserts, COMMIT) kept the store's pool saturated.
 * 'fenced': the lease is gone; false: the time was claimed already.
 */
export async function claimFireFenced(
  h: PostgresHandle,
  f: { agent: string; instance: string; owner: string; epoch: number },
  fireAt: number,
  runId: string,
  now: number,
): Promise<boolean | 'fenced'> {
  const s = h.schema;
  const res = await h.pool.query<{ leased: boolean; fired: boolean }>(
    `WITH lease AS (
       SELECT 1 FROM ${s}.agent_leases WHERE instance = $1 AND owner = $2 AND epoch = $3 AND expires_at > ${DB_NOW} FOR KEY SHARE
     ), claim AS (
       INSERT INTO ${s}.schedules AS sc (agent, last_fire_at) SELECT $4, $5 WHERE EXISTS (SELECT 1 FROM lease)
       ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
       WHERE sc.last_fire_at IS NULL OR sc.last_fire_at < excluded.last_fire_at
       RETURNING 1
     ), fire AS (
       INSERT INTO ${s}.schedule_fires (agent, fire_at, run_id, claimed_at, owner, epoch)
       SELECT $4, $5, $6, $7, $2, $3 WHERE EXISTS (SELECT 1 FROM claim)
       ON CONFLICT DO NOTHING RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM lease) AS leased, EXISTS (SELECT 1 FROM fire) AS fired`,
    [f.instance, f.owner, f.epoch, f.agent, fireAt, runId, now],
  );
  const r = res.rows[0]!;
  return r.leased ? r.fired : 'fenced';
}

/**
 * claimFireFenced for many fires (one scheduler tick) in ONE statement: the same lease check per
 * fire (its instance's lease under this node's (owner, epoch), unexpired, locked FOR KEY SHARE),
 * the same conditional upsert of the time and the same ledger row — only the round trips are
 * shared. Each fire keeps its own outcome: 'fenced' (its lease is gone), false (its time was
 * claimed already) or true. The fires must be of distinct agents (one fire per agent per tick).
 */
export async function claimFiresFenced(
  h: PostgresHandle,
  owner: string,
  given: Array<{ agent: string; instance: string; epoch: number; fireAt: number; runId: string }>,
  now: number,
): Promise<Array<boolean | 'fenced'>> {
  let fires = given;
  if (fires.length === 0) return [];
  const s = h.schema;
  // Rows are locked in agent order, so two claims over the same agents never wait on each other in a cycle.
  fires = [...fires].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
  const res = await h.pool.query<{ leased: string[] | null; fired: string[] | null }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[]) AS i(agent, instance, epoch, fire_at, run_id)
     ), lease AS (
       SELECT i.agent, i.epoch, i.fire_at, i.run_id FROM input i JOIN ${s}.agent_leases l
         ON l.instance = i.instance AND l.owner = $6 AND l.epoch = i.epoch AND l.expires_at > ${DB_NOW}
       FOR KEY SHARE OF l
     ), claim AS (
       INSERT INTO ${s}.schedules AS sc (agent, last_fire_at) SELECT agent, fire_at FROM lease
       ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
       WHERE sc.last_fire_at IS NULL OR sc.last_fire_at < excluded.last_fire_at
       RETURNING sc.agent
     ), fire AS (
       INSERT INTO ${s}.schedule_fires (agent, fire_at, run_id, claimed_at, owner, epoch)
       SELECT l.agent, l.fire_at, l.run_id, $7, $6, l.epoch FROM lease l JOIN claim c ON c.agent = l.agent
       ON CONFLICT DO NOTHING RETURNING agent
     )
     SELECT (SELECT array_agg(agent) FROM lease) AS leased, (SELECT array_agg(agent) FROM fire) AS fired`,
    [fires.map((f) => f.agent), fires.map((f) => f.instance), fires.map((f) => f.epoch), fires.map((f) => f.fireAt), fires.map((f) => f.runId), owner, now],
  );
  const leased = new Set(res.rows[0]?.leased ?? []);
  const fired = new Set(res.rows[0]?.fired ?? []);
  return given.map((f) => (leased.has(f.agent) ? fired.has(f.agent) : 'fenced'));
}
