// The job queue's tables and rows: the migrations of both dialects, the dialect a transition is
// written against, and how a row becomes a JobRecord. The transitions are in store-ops.ts (the
// hot path: enqueue, claim, complete, fail) and store-admin.ts (lists, stats, cancel, redrive,
// sweep); JobStore (store.ts) runs them.
import type { StoreModule } from '../store/extension.js';
import { num, optNum, type Row } from '../store/sql-ops.js';
import type { IdempotencyMode, JobRecord, JobStatus } from './types.js';

// ---- schema ---------------------------------------------------------------------------------

// FIFO among equal priority and run time: SQLite's implicit rowid, PostgreSQL's seq column.
const TABLES = (t: (n: string, index?: boolean) => string, big: string, real: string, pg: boolean) => [
  `CREATE TABLE ${t('jobs')} (
    id TEXT PRIMARY KEY,${pg ? '\n    seq BIGSERIAL,' : ''}
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    run_at ${big} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    backoff TEXT,
    timeout_ms ${big},
    status TEXT NOT NULL,
    lease_token TEXT,
    lease_expires_at ${big},
    idem_key TEXT,
    idem_mode TEXT,
    ckey TEXT,
    result TEXT,
    error TEXT,
    run_id TEXT,
    created_at ${big} NOT NULL,
    updated_at ${big} NOT NULL,
    started_at ${big},
    finished_at ${big}
  )`,
  `CREATE INDEX ${t('jobs_ready', true)} ON ${t('jobs')} (queue, priority DESC, run_at${pg ? ', seq' : ''}) WHERE status = 'waiting'`,
  `CREATE INDEX ${t('jobs_active', true)} ON ${t('jobs')} (queue, ckey, lease_expires_at) WHERE status = 'active'`,
  `CREATE UNIQUE INDEX ${t('jobs_key_waiting', true)} ON ${t('jobs')} (queue, idem_key) WHERE status = 'waiting' AND idem_key IS NOT NULL`,
  `CREATE INDEX ${t('jobs_key', true)} ON ${t('jobs')} (queue, idem_key) WHERE idem_key IS NOT NULL`,
  `CREATE INDEX ${t('jobs_finished', true)} ON ${t('jobs')} (status, finished_at)`,
  `CREATE TABLE ${t('job_rate')} (scope TEXT PRIMARY KEY, tokens ${real} NOT NULL, updated_at ${big} NOT NULL)`,
];

/** The trace context of the enqueuing span (issue 14, item 16). */
const TRACE_COLUMN = (jobs: string) => [`ALTER TABLE ${jobs} ADD COLUMN traceparent TEXT`];

export const jobsStoreModule: StoreModule = {
  name: 'jobs',
  sqlite: [
    { id: 1, name: 'jobs and rate buckets', statements: TABLES((n) => n, 'INTEGER', 'REAL', false) },
    { id: 2, name: 'the trace context of each job', statements: TRACE_COLUMN('jobs') },
  ],
  postgres: (schema) => [
    { id: 1, name: 'jobs and rate buckets', statements: TABLES((n, index) => (index ? n : `${schema}.${n}`), 'BIGINT', 'DOUBLE PRECISION', true) },
    { id: 2, name: 'the trace context of each job', statements: TRACE_COLUMN(`${schema}.jobs`) },
  ],
};


/** What a transition needs to know of the dialect. */
export interface Dialect {
  pg: boolean;
  /** A table name, schema-qualified on PostgreSQL. */
  t(name: string): string;
  /** PostgreSQL: the schema name for advisory lock keys and NOTIFY channels. */
  schemaName: string;
}

// ---- rows -----------------------------------------------------------------------------------

export const COLUMNS =
  'id, queue, payload, priority, run_at, attempts, max_attempts, backoff, timeout_ms, status, lease_token, lease_expires_at, idem_key, idem_mode, ckey, result, error, run_id, created_at, updated_at, started_at, finished_at, traceparent';

const parse = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : (v ?? null));

export function toRecord(r: Row): JobRecord {
  return {
    id: r.id as string,
    queue: r.queue as string,
    payload: parse(r.payload),
    priority: num(r.priority),
    runAt: num(r.run_at),
    attempts: num(r.attempts),
    maxAttempts: num(r.max_attempts),
    backoff: r.backoff ? (JSON.parse(r.backoff as string) as JobRecord['backoff']) : null,
    timeoutMs: optNum(r.timeout_ms),
    status: r.status as JobStatus,
    leaseToken: (r.lease_token as string | null) ?? null,
    leaseExpiresAt: optNum(r.lease_expires_at),
    key: (r.idem_key as string | null) ?? null,
    keyMode: (r.idem_mode as IdempotencyMode | null) ?? null,
    concurrencyKey: (r.ckey as string | null) ?? null,
    result: r.result === null || r.result === undefined ? null : parse(r.result),
    error: (r.error as string | null) ?? null,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    startedAt: optNum(r.started_at),
    finishedAt: optNum(r.finished_at),
    runId: (r.run_id as string | null) ?? null,
    traceparent: (r.traceparent as string | null) ?? null,
  };
}

/** A claimed job: its record (status active, lease held) — the token fences every later write. */
export type ClaimedJob = JobRecord & { leaseToken: string; leaseExpiresAt: number };
