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
 * Claims one fire time in a cluster: the ledger row (owner, epoch) and the store's claim of the
 * time (the same conditional upsert as Store.claimFire) in ONE transaction, conditional on this
 * node's lease of the agent's instance (locked FOR SHARE, as a run commit's fence). A node that
 * lost the lease claims nothing, and no node ever sees a claimed time without its ledger row.
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
  return h
    .tx(async (c) => {
      const lease = await c.query(`SELECT 1 FROM ${s}.agent_leases WHERE instance = $1 AND owner = $2 AND epoch = $3 AND expires_at > ${DB_NOW} FOR KEY SHARE`, [f.instance, f.owner, f.epoch]);
      if (lease.rowCount === 0) return 'fenced' as const;
      const row = await c.query(
        `INSERT INTO ${s}.schedule_fires (agent, fire_at, run_id, claimed_at, owner, epoch) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [f.agent, fireAt, runId, now, f.owner, f.epoch],
      );
      if (row.rowCount === 0) return false;
      const claim = await c.query(
        `INSERT INTO ${s}.schedules AS sc (agent, last_fire_at) VALUES ($1, $2)
         ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
         WHERE sc.last_fire_at IS NULL OR sc.last_fire_at < excluded.last_fire_at`,
        [f.agent, fireAt],
      );
      if (claim.rowCount === 0) throw new NotClaimed();
      return true;
    })
    .catch((err: unknown) => {
      if (err instanceof NotClaimed) return false;
      throw err;
    });
}

class NotClaimed extends Error {}
