// PostgreSQL schema, as numbered migrations; `s` is the quoted schema every table lives in.
// Keep in step with ../sqlite/schema.ts: same tables, same columns, same meaning.
//
// Values are TEXT holding JSON, not jsonb: the bytes we account (max_state_size, sizeBytes) are the
// bytes we wrote, identical to SQLite's; jsonb would reorder keys and drop whitespace, so sizes and
// rollback's value comparison would differ by dialect, and every write would pay jsonb's parse.
// Keys use COLLATE "C" so ordering and prefix ranges compare code points, as SQLite does.
import type { Migration } from '../migrations.js';

export function migrationsTable(s: string): string {
  return `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`;
}

export function migrations(s: string): Migration[] {
  return [
    {
      id: 1,
      name: 'initial',
      statements: [
        // ---- state (see the SQLite schema for the shape); the namespace row is also the lock
        // that serialises commits to one namespace across daemons (SELECT ... FOR UPDATE).
        `CREATE TABLE ${s}.state_namespaces (
          namespace text COLLATE "C" PRIMARY KEY, version bigint NOT NULL, size_bytes bigint NOT NULL, key_count bigint NOT NULL)`,
        `CREATE TABLE ${s}.state_current (
          namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL, version bigint NOT NULL,
          expires_at bigint, size integer NOT NULL, PRIMARY KEY (namespace, key))`,
        `CREATE INDEX state_current_expiry ON ${s}.state_current (expires_at) WHERE expires_at IS NOT NULL`,
        `CREATE TABLE ${s}.state_history (
          namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, version bigint NOT NULL, value text, expires_at bigint,
          PRIMARY KEY (namespace, key, version))`,
        `CREATE TABLE ${s}.state_versions (
          namespace text COLLATE "C" NOT NULL, version bigint NOT NULL, created_at bigint NOT NULL, size_bytes bigint NOT NULL,
          key_count bigint NOT NULL, changed_keys text NOT NULL, run_id text, reason text NOT NULL, PRIMARY KEY (namespace, version))`,

        // ---- events
        `CREATE TABLE ${s}.events (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL UNIQUE, name text NOT NULL, payload text NOT NULL,
          source text, created_at bigint NOT NULL, trace_id text)`,
        `CREATE INDEX events_name ON ${s}.events (name, seq)`,
        `CREATE TABLE ${s}.subscriptions (consumer text NOT NULL, event_name text NOT NULL, PRIMARY KEY (consumer, event_name))`,
        `CREATE INDEX subscriptions_event ON ${s}.subscriptions (event_name, consumer)`,
        // status and available_at as in the SQLite schema (pending | retry | inflight | dead).
        `CREATE TABLE ${s}.deliveries (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, consumer text NOT NULL, event_seq bigint NOT NULL, status text NOT NULL,
          attempts integer NOT NULL DEFAULT 0, available_at bigint NOT NULL, lease_token text, lease_expires_at bigint,
          last_error text, dead_at bigint)`,
        `CREATE INDEX deliveries_ready ON ${s}.deliveries (consumer, event_seq) WHERE status = 'pending'`,
        `CREATE INDEX deliveries_waiting ON ${s}.deliveries (consumer, available_at) WHERE status IN ('inflight', 'retry')`,
        `CREATE INDEX deliveries_dead ON ${s}.deliveries (consumer, id) WHERE status = 'dead'`,

        // ---- runs
        `CREATE TABLE ${s}.runs (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL UNIQUE, agent text NOT NULL, instance text,
          trigger text NOT NULL, status text NOT NULL, scheduled_at bigint, started_at bigint NOT NULL, finished_at bigint NOT NULL,
          error text, reason text, event_id text)`,
        `CREATE INDEX runs_agent ON ${s}.runs (agent, started_at, seq)`,
        `CREATE TABLE ${s}.agent_stats (
          agent text PRIMARY KEY, runs_total bigint NOT NULL, runs_failed bigint NOT NULL, last_run_at bigint, last_status text)`,

        // ---- schedules, control, meta
        `CREATE TABLE ${s}.schedules (agent text PRIMARY KEY, last_fire_at bigint, next_fire_at bigint)`,
        `CREATE TABLE ${s}.desired_state (agent text PRIMARY KEY, desired text NOT NULL, updated_at bigint NOT NULL)`,
        `CREATE TABLE ${s}.transitions (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, agent text NOT NULL, instance text, from_state text NOT NULL,
          to_state text NOT NULL, reason text NOT NULL, at bigint NOT NULL)`,
        `CREATE INDEX transitions_agent ON ${s}.transitions (agent, seq)`,
        `CREATE TABLE ${s}.meta (key text PRIMARY KEY, value text NOT NULL)`,
      ],
    },
    {
      id: 2,
      name: 'run stats as insert-only deltas',
      statements: [
        // One row per counted run, folded into agent_stats later (see queries.ts recordRun).
        `CREATE TABLE ${s}.agent_stats_delta (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, agent text NOT NULL, failed integer NOT NULL, run_at bigint NOT NULL, status text NOT NULL)`,
      ],
    },
    {
      id: 3,
      name: 'event ordering keys',
      // The bus's per-key ordering (NewEvent.key); NULL = unordered.
      statements: [`ALTER TABLE ${s}.events ADD COLUMN order_key text`],
    },
    {
      id: 4,
      name: 'the run that emitted an event',
      // A run's timeline (the dashboard's run detail) finds its events by this; NULL = not from a run.
      statements: [`ALTER TABLE ${s}.events ADD COLUMN run_id text`, `CREATE INDEX events_run ON ${s}.events (run_id) WHERE run_id IS NOT NULL`],
    },
  ];
}
