// Read-only views of the cluster tables for `openclaw nodes`, `openclaw status` and the API.
import type { PostgresHandle } from '../store/extension.js';
import type { NodeView } from '../contracts/control.js';
import { DB_NOW } from './schema.js';

/** Every node known (live and recently dead) with its leases. */
export async function listNodes(h: PostgresHandle): Promise<NodeView[]> {
  const s = h.schema;
  const res = await h.pool.query<{
    node_id: string; address: string | null; weight: number; capacity: number | null; pid: number | null; started_at: string;
    heartbeat_at: string; alive: boolean; draining: boolean; instances: string[] | null;
  }>(
    `SELECT n.*, n.expires_at > ${DB_NOW} AS alive,
       (SELECT array_agg(l.instance ORDER BY l.instance) FROM ${s}.agent_leases l WHERE l.owner = n.node_id AND l.expires_at > ${DB_NOW}) AS instances
     FROM ${s}.cluster_nodes n ORDER BY n.node_id`,
  );
  return res.rows.map((r) => ({
    nodeId: r.node_id,
    address: r.address,
    weight: r.weight,
    capacity: r.capacity,
    pid: r.pid,
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
    alive: r.alive,
    draining: r.draining,
    leases: r.instances?.length ?? 0,
    instances: r.instances ?? [],
  }));
}

/** instance → owner node, for instances with an unexpired lease. */
export async function leaseOwners(h: PostgresHandle): Promise<Map<string, string>> {
  const res = await h.pool.query<{ instance: string; owner: string }>(`SELECT instance, owner FROM ${h.schema}.agent_leases WHERE owner IS NOT NULL AND expires_at > ${DB_NOW}`);
  return new Map(res.rows.map((r) => [r.instance, r.owner]));
}
