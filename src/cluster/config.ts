// The `cluster:` section of openclaw.yaml: how this daemon joins a fleet of daemons sharing one
// PostgreSQL store (src/cluster/leases.ts). Optional: on PostgreSQL every daemon is a node with
// these defaults; on SQLite the section is refused (one daemon owns a SQLite store).
//
//   cluster:
//     node_id: web-1        # unique per daemon; default <hostname>-<hash of the project data dir>
//     address: http://10.0.0.5:8400   # how the others reach its API (default: its API URL)
//     weight: 2             # its share of the agent instances, relative to the others (default 1)
//     capacity: 40          # at most this many agent instances here (default: no limit)
//     lease: 6s             # an agent instance's lease; renewed every lease/3 (1s … 5m)
import os from 'node:os';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseDuration } from '../config/units.js';

export const DEFAULT_LEASE_MS = 6000;

const duration = (what: string, min: number, max: number) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      const ms = parseDuration(v);
      if (ms < min || ms > max) throw new Error(`must be between ${min / 1000}s and ${max / 1000}s (got ${ms} ms)`);
      return ms;
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${what}: ${(err as Error).message}` });
      return z.NEVER;
    }
  });

export const clusterSectionSchema = z
  .object({
    node_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a node id: 1–63 letters, digits, . _ - (unique per daemon)').optional(),
    address: z.string().url('an URL such as http://10.0.0.5:8400').optional(),
    weight: z.number().int().min(1).max(1000).optional(),
    capacity: z.number().int().min(0).max(100_000).optional(),
    lease: duration('lease', 1000, 300_000).optional(),
  })
  .strict();

export type ClusterSection = z.infer<typeof clusterSectionSchema>;

export interface ClusterConfig {
  nodeId: string;
  address: string | null;
  weight: number;
  capacity: number | null;
  leaseMs: number;
}

/** The section with its defaults; the node id is stable for a project directory on a host. */
export function resolveCluster(section: ClusterSection | undefined, dataDir: string): ClusterConfig {
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'node';
  const nodeId = section?.node_id ?? `${host}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
  return { nodeId, address: section?.address ?? null, weight: section?.weight ?? 1, capacity: section?.capacity ?? null, leaseMs: section?.lease ?? DEFAULT_LEASE_MS };
}
