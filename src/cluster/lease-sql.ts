// The lease manager's statements (leases.ts). `s` is the quoted schema. Row locks: the fence and
// fire claims hold lease rows FOR KEY SHARE until COMMIT; every statement that changes a lease's
// owner or epoch locks it FOR UPDATE first (and so waits for them); renewal only extends
// `expires_at` (a NO KEY UPDATE, which never waits for them).
import { DB_NOW } from './schema.js';

/** The node row: a new boot takes the id over (its heartbeat renewed from now on). */
export const register = (s: string): string =>
  `INSERT INTO ${s}.cluster_nodes (node_id, address, weight, capacity, boot_id, pid, started_at, heartbeat_at, expires_at, draining)
       VALUES ($1, $2, $3, $4, $5, $6, ${DB_NOW}, ${DB_NOW}, ${DB_NOW} + $7, false)
       ON CONFLICT (node_id) DO UPDATE SET address = $2, weight = $3, capacity = $4, boot_id = $5, pid = $6, started_at = ${DB_NOW},
         heartbeat_at = ${DB_NOW}, expires_at = ${DB_NOW} + $7, draining = false`;

/** A boot adopts the leases its node id still holds, with new epochs (FOR UPDATE: an old boot's commit in flight ends first). */
export const adopt = (s: string): string =>
  `WITH mine AS (SELECT agent, instance FROM ${s}.agent_leases WHERE owner = $1 AND instance = ANY($3::text[]) ORDER BY agent, instance FOR UPDATE)
       UPDATE ${s}.agent_leases l SET epoch = l.epoch + 1, expires_at = ${DB_NOW} + $2, acquired_at = ${DB_NOW}
       FROM mine WHERE l.agent = mine.agent AND l.instance = mine.instance RETURNING l.agent, l.instance, l.epoch`;

/** Heartbeat and renewal in one statement: only unexpired leases still at (owner, epoch) are extended (a lapsed lease is never revived: see leases.ts). */
export const renew = (s: string): string =>
  `WITH beat AS (
           UPDATE ${s}.cluster_nodes SET heartbeat_at = ${DB_NOW}, expires_at = ${DB_NOW} + $2 WHERE node_id = $1 AND boot_id = $5 RETURNING 1
         ), renewed AS (
           UPDATE ${s}.agent_leases l SET expires_at = ${DB_NOW} + $2
           FROM unnest($3::text[], $4::bigint[]) AS h(instance, epoch)
           WHERE l.instance = h.instance AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > ${DB_NOW} AND EXISTS (SELECT 1 FROM beat)
           RETURNING l.instance
         )
         SELECT (SELECT count(*) FROM beat)::int AS beat, (SELECT array_agg(instance) FROM renewed) AS renewed`;

/** Takes up to $4 free or expired leases (SKIP LOCKED: a lease a commit holds is left for the next round). */
export const acquire = (s: string): string =>
  `WITH pick AS (
         SELECT agent, instance, owner AS prev FROM ${s}.agent_leases
         WHERE (owner IS NULL OR expires_at <= ${DB_NOW}) AND instance = ANY($2::text[])
         ORDER BY (agent = ANY($3::text[])), random() LIMIT $4 FOR UPDATE SKIP LOCKED
       )
       UPDATE ${s}.agent_leases l SET owner = $1, epoch = l.epoch + 1, expires_at = ${DB_NOW} + $5, acquired_at = ${DB_NOW}
       FROM pick WHERE l.agent = pick.agent AND l.instance = pick.instance
       RETURNING l.agent, l.instance, l.epoch, pick.prev,
         EXISTS (SELECT 1 FROM ${s}.cluster_nodes c WHERE c.node_id = pick.prev AND c.expires_at > ${DB_NOW}) AS alive`;

/** A hand-over frees the lease (FOR UPDATE: waits for a commit or fire claim in flight, so the next owner's adoption of open fires sees it). */
export const release = (s: string): string =>
  `WITH x AS (SELECT agent, instance FROM ${s}.agent_leases WHERE instance = $1 AND owner = $2 AND epoch = $3 FOR UPDATE)
               UPDATE ${s}.agent_leases l SET owner = NULL, expires_at = 0 FROM x WHERE l.agent = x.agent AND l.instance = x.instance`;
