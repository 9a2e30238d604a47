// SQLite schema, as numbered migrations. Times are epoch ms INTEGERs; values are JSON TEXT whose
// byte length is the size we account. Keep in step with ../postgres/schema.ts.
import type { Migration } from '../migrations.js';

export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`;

export const migrations: Migration[] = [
  {
    id: 1,
    name: 'initial',
    statements: [
      // ---- state: the current value per key, plus one history row per CHANGED key per version,
      // so storage grows with what changes, not with state size x versions.
      `CREATE TABLE state_namespaces (
        namespace TEXT PRIMARY KEY, version INTEGER NOT NULL, size_bytes INTEGER NOT NULL, key_count INTEGER NOT NULL
      ) WITHOUT ROWID`,
      `CREATE TABLE state_current (
        namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL,
        expires_at INTEGER, size INTEGER NOT NULL, PRIMARY KEY (namespace, key))`,
      `CREATE INDEX state_current_expiry ON state_current (expires_at) WHERE expires_at IS NOT NULL`,
      // value NULL = the key was deleted at this version
      `CREATE TABLE state_history (
        namespace TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, value TEXT, expires_at INTEGER,
        PRIMARY KEY (namespace, key, version))`,
      `CREATE TABLE state_versions (
        namespace TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL, size_bytes INTEGER NOT NULL,
        key_count INTEGER NOT NULL, changed_keys TEXT NOT NULL, run_id TEXT, reason TEXT NOT NULL,
        PRIMARY KEY (namespace, version)) WITHOUT ROWID`,

      // ---- events: AUTOINCREMENT so a log position is never reused, even after pruning.
      `CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, payload TEXT NOT NULL,
        source TEXT, created_at INTEGER NOT NULL, trace_id TEXT)`,
      `CREATE INDEX events_name ON events (name, seq)`,
      `CREATE TABLE subscriptions (
        consumer TEXT NOT NULL, event_name TEXT NOT NULL, PRIMARY KEY (consumer, event_name)) WITHOUT ROWID`,
      `CREATE INDEX subscriptions_event ON subscriptions (event_name, consumer)`,
      // One row per (consumer group, event) until acked. status: pending = claimable now; retry =
      // waiting for available_at after a failure; inflight = leased until available_at (the lease
      // expiry); dead = dead letter. A delivery id may be reused after its row is deleted: the lease
      // token, not the id, proves ownership.
      `CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, consumer TEXT NOT NULL, event_seq INTEGER NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, available_at INTEGER NOT NULL, lease_token TEXT,
        lease_expires_at INTEGER, last_error TEXT, dead_at INTEGER)`,
      // A claim reads the head of each index: ready rows in seq order, and waiting rows whose time
      // has come. One index over all live rows would make every claim walk past every row already
      // in flight or backing off, so claim cost would grow with the in-flight window.
      `CREATE INDEX deliveries_ready ON deliveries (consumer, event_seq) WHERE status = 'pending'`,
      `CREATE INDEX deliveries_waiting ON deliveries (consumer, available_at) WHERE status IN ('inflight', 'retry')`,
      `CREATE INDEX deliveries_dead ON deliveries (consumer, id) WHERE status = 'dead'`,

      // ---- runs
      `CREATE TABLE runs (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, agent TEXT NOT NULL, instance TEXT, trigger TEXT NOT NULL,
        status TEXT NOT NULL, scheduled_at INTEGER, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
        error TEXT, reason TEXT, event_id TEXT)`,
      `CREATE INDEX runs_agent ON runs (agent, started_at, seq)`,
      `CREATE TABLE agent_stats (
        agent TEXT PRIMARY KEY, runs_total INTEGER NOT NULL, runs_failed INTEGER NOT NULL,
        last_run_at INTEGER, last_status TEXT) WITHOUT ROWID`,

      // ---- schedules, control, meta
      `CREATE TABLE schedules (agent TEXT PRIMARY KEY, last_fire_at INTEGER, next_fire_at INTEGER) WITHOUT ROWID`,
      `CREATE TABLE desired_state (agent TEXT PRIMARY KEY, desired TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID`,
      `CREATE TABLE transitions (
        seq INTEGER PRIMARY KEY, agent TEXT NOT NULL, instance TEXT, from_state TEXT NOT NULL, to_state TEXT NOT NULL,
        reason TEXT NOT NULL, at INTEGER NOT NULL)`,
      `CREATE INDEX transitions_agent ON transitions (agent, seq)`,
      `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`,
    ],
  },
  {
    id: 2,
    name: 'event ordering keys',
    // The bus's per-key ordering (NewEvent.key); NULL = unordered.
    statements: [`ALTER TABLE events ADD COLUMN order_key TEXT`],
  },
  {
    id: 3,
    name: 'the run that emitted an event',
    // A run's timeline (the dashboard's run detail) finds its events by this; NULL = not from a run.
    statements: [`ALTER TABLE events ADD COLUMN run_id TEXT`, `CREATE INDEX events_run ON events (run_id) WHERE run_id IS NOT NULL`],
  },
];
