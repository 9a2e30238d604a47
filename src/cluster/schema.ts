// Cluster tables (PostgreSQL; store module 'cluster'). SQLite has one daemon and no tables here.
//
// cluster_nodes: one row per daemon (node): its weight and capacity, the boot that holds the id
//   now, and a heartbeat whose expiry (database clock, ms) says whether it is alive.
// agent_leases: one row per agent instance (`agent#replica`): the node that runs it, the lease
//   epoch (bumped on every acquisition: the fencing token) and when the lease runs out. Every run
//   commit of the instance checks (owner, epoch, expires_at > now) in its transaction
//   (RunCommit.fence); schedule_fires rows carry the owner that claimed them.
import type { StoreModule } from '../store/extension.js';

export const clusterStoreModule: StoreModule = {
  name: 'cluster',
  sqlite: [],
  postgres: (s) => [
    {
      id: 1,
      name: 'nodes and fenced agent leases',
      statements: [
        `CREATE TABLE ${s}.cluster_nodes (
          node_id text PRIMARY KEY, address text, weight integer NOT NULL, capacity integer, boot_id text NOT NULL,
          pid integer, started_at bigint NOT NULL, heartbeat_at bigint NOT NULL, expires_at bigint NOT NULL,
          draining boolean NOT NULL DEFAULT false)`,
        `CREATE TABLE ${s}.agent_leases (
          agent text NOT NULL, instance text NOT NULL, owner text, epoch bigint NOT NULL DEFAULT 0,
          expires_at bigint NOT NULL DEFAULT 0, acquired_at bigint, PRIMARY KEY (agent, instance))`,
        `CREATE INDEX agent_leases_owner ON ${s}.agent_leases (owner)`,
      ],
    },
  ],
};

/** Milliseconds since the epoch on the database's clock: every node compares leases on one clock. */
export const DB_NOW = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;
