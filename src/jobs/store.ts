// The job queue's tables and every state transition of a job, written ONCE for both dialects.
//
// Each transition is a generator that yields SQL and receives the rows: `runSqlite` drives it
// synchronously inside better-sqlite3's BEGIN IMMEDIATE (so it can also run inside a run's commit,
// as a TxEffect), `runPostgres` drives it on one client inside BEGIN … COMMIT. SQL is written with
// `?` placeholders and `${t('jobs')}` table names; the drivers live in store/sql-ops.ts.
//
// Claims: PostgreSQL takes a transaction-scoped advisory lock per queue (so the queue's concurrency
// and rate limits are counted consistently across daemons) and selects with FOR UPDATE SKIP LOCKED
// (rows another transaction holds — a completion, a heartbeat — are skipped, never waited on).
// SQLite's BEGIN IMMEDIATE serialises writers anyway.
//
// A claim is a lease: a random token and an expiry. Completion, failure and heartbeats name the
// token, and completion also checks the expiry in the same statement: a worker whose lease expired
// cannot complete the job, even if nobody reclaimed it yet. Expired leases are recovered by the
// next claim of the queue (crash recovery within the lease time, not hours later).
import { randomUUID } from 'node:crypto';
import type { BatchStep, StoreHandle, StoreModule, TxEffect } from '../store/extension.js';
import { all, num, optNum, run, runPostgres, runSqlite, type Op, type Row } from '../store/sql-ops.js';
import { LeaseLostError } from '../util/errors.js';
import { backoffDelay, type QueuePolicy, type RateLimit } from './config.js';
import type { NormalizedEnqueue } from './options.js';
import type { EnqueueResult, IdempotencyMode, JobRecord, JobStatus } from './types.js';

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

// ---- the two drivers ------------------------------------------------------------------------

interface Dialect {
  pg: boolean;
  /** A table name, schema-qualified on PostgreSQL. */
  t(name: string): string;
  /** PostgreSQL: the schema name for advisory lock keys and NOTIFY channels. */
  schemaName: string;
}

// ---- rows -----------------------------------------------------------------------------------

const COLUMNS =
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

// ---- transitions (generators, dialect-neutral) ----------------------------------------------

const INSERT_COLS = 'id, queue, payload, priority, run_at, attempts, max_attempts, backoff, timeout_ms, status, idem_key, idem_mode, ckey, created_at, updated_at, traceparent';
const INSERT_ROW = "(?, ?, ?, ?, ?, 0, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?)";
/** Rows per multi-row INSERT: 14 parameters each, well under PostgreSQL's 65,535. */
const INSERT_CHUNK = 500;

function insertParams(j: NormalizedEnqueue, p: QueuePolicy, now: number): unknown[] {
  return [
    j.id, j.queue, JSON.stringify(j.payload ?? null), j.priority, j.runAt ?? now + j.delayMs,
    j.maxAttempts ?? p.maxAttempts, JSON.stringify(j.backoff ?? p.backoff), j.timeoutMs ?? p.timeoutMs,
    j.key, j.mode, j.concurrencyKey, now, now, j.traceparent ?? null,
  ];
}

function* enqueueOp(d: Dialect, jobs: NormalizedEnqueue[], policyOf: (queue: string) => QueuePolicy, now: number): Op<EnqueueResult[]> {
  const J = d.t('jobs');
  const out: EnqueueResult[] = new Array(jobs.length);
  // Jobs without an idempotency key: multi-row INSERTs (ON CONFLICT DO NOTHING: an existing
  // caller-chosen id is not an error, it is "not created").
  const plain = jobs.map((j, i) => [j, i] as const).filter(([j]) => !j.key);
  for (let c = 0; c < plain.length; c += INSERT_CHUNK) {
    const chunk = plain.slice(c, c + INSERT_CHUNK);
    const rows = (yield all(
      `INSERT INTO ${J} (${INSERT_COLS}) VALUES ${chunk.map(() => INSERT_ROW).join(', ')} ON CONFLICT DO NOTHING RETURNING id`,
      ...chunk.flatMap(([j]) => insertParams(j, policyOf(j.queue), now)),
    )) as Row[];
    const created = new Set(rows.map((r) => r.id as string));
    for (const [j, i] of chunk) out[i] = { id: j.id, created: created.has(j.id) };
  }
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i]!;
    if (!j.key) continue;
    const p = policyOf(j.queue);
    const params = insertParams(j, p, now);
    const [, , payload, , runAt, maxAttempts, backoff, timeout] = params;
    const waiting = (yield all(`SELECT id FROM ${J} WHERE queue = ? AND idem_key = ? AND status = 'waiting'`, j.queue, j.key)) as Row[];
    if (waiting.length > 0) {
      const id = waiting[0]!.id as string;
      if (j.mode === 'replace') {
        yield run(`UPDATE ${J} SET payload = ?, priority = ?, max_attempts = ?, backoff = ?, timeout_ms = ?, ckey = ?, idem_mode = ?, updated_at = ? WHERE id = ?`, payload, j.priority, maxAttempts, backoff, timeout, j.concurrencyKey, j.mode, now, id);
      } else if (j.mode === 'debounce') {
        yield run(`UPDATE ${J} SET payload = ?, priority = ?, max_attempts = ?, backoff = ?, timeout_ms = ?, ckey = ?, idem_mode = ?, run_at = ?, updated_at = ? WHERE id = ?`, payload, j.priority, maxAttempts, backoff, timeout, j.concurrencyKey, j.mode, runAt, now, id);
      }
      out[i] = { id, created: false };
      continue;
    }
    if (j.mode === 'dedupe') {
      const active = (yield all(`SELECT id FROM ${J} WHERE queue = ? AND idem_key = ? AND status = 'active' LIMIT 1`, j.queue, j.key)) as Row[];
      if (active.length > 0) {
        out[i] = { id: active[0]!.id as string, created: false };
        continue;
      }
    }
    // ON CONFLICT DO NOTHING: an existing id, or a waiting job with the same key committed by a
    // concurrent enqueue (PostgreSQL waits for it, then does nothing), is not an error.
    const ins = (yield run(`INSERT INTO ${J} (${INSERT_COLS}) VALUES ${INSERT_ROW} ON CONFLICT DO NOTHING`, ...params)) as { changes: number };
    if (ins.changes === 1) {
      out[i] = { id: j.id, created: true };
      continue;
    }
    const same = (yield all(`SELECT id FROM ${J} WHERE id = ?`, j.id)) as Row[];
    if (same.length > 0) {
      out[i] = { id: j.id, created: false };
      continue;
    }
    const raced = (yield all(`SELECT id FROM ${J} WHERE queue = ? AND idem_key = ? AND status = 'waiting'`, j.queue, j.key)) as Row[];
    out[i] = { id: (raced[0]?.id as string | undefined) ?? j.id, created: false };
  }
  return out;
}

interface Bucket {
  scope: string;
  tokens: number;
  limit: RateLimit;
}

function* loadBucket(d: Dialect, scope: string, limit: RateLimit, now: number): Op<Bucket> {
  const rows = (yield all(`SELECT tokens, updated_at FROM ${d.t('job_rate')} WHERE scope = ?`, scope)) as Row[];
  let tokens = limit.count;
  if (rows.length > 0) {
    const elapsed = Math.max(0, now - num(rows[0]!.updated_at));
    tokens = Math.min(limit.count, num(rows[0]!.tokens) + (elapsed * limit.count) / limit.windowMs);
  }
  return { scope, tokens, limit };
}

function* saveBucket(d: Dialect, b: Bucket, now: number): Op<void> {
  yield run(
    `INSERT INTO ${d.t('job_rate')} (scope, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (scope) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at`,
    b.scope, b.tokens, now,
  );
}

/** When the bucket will hold one whole token again. */
const refillAt = (b: Bucket, now: number) => now + Math.ceil(((1 - b.tokens) * b.limit.windowMs) / b.limit.count);

export interface ClaimResult {
  jobs: ClaimedJob[];
  /** The next time a claim of this queue may find work (a delayed job, a rate-limit refill); null = on wake-up only. */
  nextAt: number | null;
  /** Jobs whose lease had expired and that were returned to the queue or dead-lettered by this claim. */
  recovered: number;
  deadLettered: number;
}

function* claimOp(d: Dialect, queue: string, p: QueuePolicy, limit: number, now: number, recover: boolean): Op<ClaimResult> {
  if (d.pg) yield all(`SELECT pg_advisory_xact_lock(hashtext(?))`, `openclaw.jobs:${d.schemaName}:${queue}`);
  const base = recover ? yield* recoverOp(d, queue, now) : { recovered: 0, deadLettered: 0 };
  return yield* claimRest(d, queue, p, limit, now, base);
}

/**
 * The claim of complete-and-fetch-next, inside a group commit's transaction. PostgreSQL only TRIES
 * the queue's lock: that transaction holds the namespace locks of its runs and must not wait on
 * another daemon's claim; without the lock it claims nothing (the runner's own claim takes over).
 */
function* fetchOp(d: Dialect, queue: string, p: QueuePolicy, limit: number, now: number, recover: boolean): Op<ClaimResult | null> {
  if (d.pg) {
    const got = (yield all(`SELECT pg_try_advisory_xact_lock(hashtext(?)) AS ok`, `openclaw.jobs:${d.schemaName}:${queue}`)) as Row[];
    if (got[0]?.ok !== true) return null;
  }
  const base = recover ? yield* recoverOp(d, queue, now) : { recovered: 0, deadLettered: 0 };
  return yield* claimRest(d, queue, p, limit, now, base);
}

/** Crash recovery: leases that expired. Out of attempts → dead; otherwise back to waiting at once. */
function* recoverOp(d: Dialect, queue: string, now: number): Op<{ recovered: number; deadLettered: number }> {
  const J = d.t('jobs');
  const dead = (yield run(
    `UPDATE ${J} SET status = 'dead', error = ?, lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ?
     WHERE queue = ? AND status = 'active' AND lease_expires_at <= ? AND attempts >= max_attempts`,
    'the lease expired on the last attempt (the worker crashed, stalled or lost the store)', now, now, queue, now,
  )) as { changes: number };
  const back = (yield run(
    `UPDATE ${J} SET status = 'waiting', error = ?, lease_token = NULL, lease_expires_at = NULL, updated_at = ?
     WHERE queue = ? AND status = 'active' AND lease_expires_at <= ?`,
    'the lease expired (the worker crashed, stalled or lost the store); retried', now, queue, now,
  )) as { changes: number };
  return { recovered: back.changes, deadLettered: dead.changes };
}

function* claimRest(d: Dialect, queue: string, p: QueuePolicy, limit: number, now: number, base: { recovered: number; deadLettered: number }): Op<ClaimResult> {
  const J = d.t('jobs');

  const activeRows = (yield all(`SELECT count(*) AS n FROM ${J} WHERE queue = ? AND status = 'active'`, queue)) as Row[];
  let n = Math.min(limit, p.concurrency - num(activeRows[0]!.n));
  if (n <= 0) return { jobs: [], nextAt: null, ...base };

  let bucket: Bucket | null = null;
  if (p.rateLimit) {
    bucket = yield* loadBucket(d, `q:${queue}`, p.rateLimit, now);
    n = Math.min(n, Math.floor(bucket.tokens));
    if (n <= 0) return { jobs: [], nextAt: refillAt(bucket, now), ...base };
  }

  const keyed = p.keyConcurrency !== null || p.keyRateLimit !== null;
  const candidates = (yield all(
    `SELECT id, ckey FROM ${J} WHERE queue = ? AND status = 'waiting' AND run_at <= ? ORDER BY priority DESC, run_at, ${d.pg ? 'seq' : 'rowid'} LIMIT ?${d.pg ? ' FOR UPDATE SKIP LOCKED' : ''}`,
    queue, now, keyed ? n * 4 + 32 : n,
  )) as Row[];

  let chosen: string[] = [];
  let nextAt: number | null = null;
  const keyBuckets = new Map<string, Bucket>();
  if (!keyed) {
    chosen = candidates.map((r) => r.id as string);
  } else {
    const keys = [...new Set(candidates.map((r) => r.ckey as string | null).filter((k): k is string => k !== null))];
    const activeByKey = new Map<string, number>();
    if (p.keyConcurrency !== null && keys.length > 0) {
      const rows = (yield all(
        `SELECT ckey, count(*) AS n FROM ${J} WHERE queue = ? AND status = 'active' AND ckey IN (${keys.map(() => '?').join(', ')}) GROUP BY ckey`,
        queue, ...keys,
      )) as Row[];
      for (const r of rows) activeByKey.set(r.ckey as string, num(r.n));
    }
    for (const r of candidates) {
      if (chosen.length >= n) break;
      const k = r.ckey as string | null;
      if (k !== null) {
        if (p.keyConcurrency !== null && (activeByKey.get(k) ?? 0) >= p.keyConcurrency) continue;
        if (p.keyRateLimit) {
          let b = keyBuckets.get(k);
          if (!b) keyBuckets.set(k, (b = yield* loadBucket(d, `k:${queue}|${k}`, p.keyRateLimit, now)));
          if (b.tokens < 1) {
            const at = refillAt(b, now);
            nextAt = nextAt === null ? at : Math.min(nextAt, at);
            continue;
          }
          b.tokens -= 1;
        }
        activeByKey.set(k, (activeByKey.get(k) ?? 0) + 1);
      }
      chosen.push(r.id as string);
    }
  }

  const jobs: ClaimedJob[] = [];
  if (chosen.length > 0) {
    const expires = now + p.leaseMs;
    const pairs = chosen.map((id) => [id, randomUUID()] as const);
    const rows = (yield all(
      `UPDATE ${J} SET status = 'active', lease_token = v.column2, run_id = v.column2, lease_expires_at = ?, attempts = attempts + 1, started_at = ?, updated_at = ?
       FROM (VALUES ${pairs.map(() => '(?, ?)').join(', ')}) AS v WHERE ${J}.id = v.column1 AND ${J}.status = 'waiting'
       RETURNING ${COLUMNS.split(', ').map((c) => `${J}.${c}`).join(', ')}`,
      expires, now, now, ...pairs.flat(),
    )) as Row[];
    for (const r of rows) jobs.push(toRecord(r) as ClaimedJob);
    // Keep the queue's priority order for the caller.
    const order = new Map(chosen.map((id, i) => [id, i]));
    jobs.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  }
  if (bucket) {
    bucket.tokens -= jobs.length;
    yield* saveBucket(d, bucket, now);
  }
  for (const b of keyBuckets.values()) yield* saveBucket(d, b, now);

  if (jobs.length < n) {
    const rows = (yield all(`SELECT min(run_at) AS t FROM ${J} WHERE queue = ? AND status = 'waiting' AND run_at > ?`, queue, now)) as Row[];
    const t = optNum(rows[0]?.t);
    if (t !== null) nextAt = nextAt === null ? t : Math.min(nextAt, t);
  }
  return { jobs, nextAt, ...base };
}

/** Completion: only while the lease is held AND unexpired, in the caller's transaction. */
function* completeOp(d: Dialect, id: string, token: string, result: unknown, deleteRow: boolean, now: number): Op<void> {
  const J = d.t('jobs');
  const held = `id = ? AND lease_token = ? AND status = 'active' AND lease_expires_at > ?`;
  let res: { changes: number };
  if (deleteRow) {
    res = (yield run(`DELETE FROM ${J} WHERE ${held}`, id, token, now)) as { changes: number };
  } else {
    let text: string | null = null;
    try {
      text = result === undefined ? null : JSON.stringify(result) ?? null;
    } catch {
      text = null;
    }
    res = (yield run(
      `UPDATE ${J} SET status = 'completed', result = ?, error = NULL, lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ? WHERE ${held}`,
      text, now, now, id, token, now,
    )) as { changes: number };
  }
  if (res.changes !== 1) throw new LeaseLostError(`completing job ${id}`);
}

export type FailOutcome = 'retry' | 'dead' | 'lost';

function* failOp(d: Dialect, id: string, token: string, error: string, opts: { final?: boolean; random?: () => number }, now: number): Op<{ outcome: FailOutcome; retryAt?: number }> {
  const J = d.t('jobs');
  const rows = (yield all(`SELECT attempts, max_attempts, backoff FROM ${J} WHERE id = ? AND lease_token = ? AND status = 'active'`, id, token)) as Row[];
  if (rows.length === 0) return { outcome: 'lost' };
  const r = rows[0]!;
  if (opts.final || num(r.attempts) >= num(r.max_attempts)) {
    yield run(`UPDATE ${J} SET status = 'dead', error = ?, lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ? WHERE id = ?`, error, now, now, id);
    return { outcome: 'dead' };
  }
  const b = r.backoff ? (JSON.parse(r.backoff as string) as { type: 'fixed' | 'exponential' | 'jitter'; delayMs: number; maxMs: number }) : { type: 'exponential' as const, delayMs: 1000, maxMs: 300_000 };
  const retryAt = now + backoffDelay(b, num(r.attempts), opts.random);
  yield run(`UPDATE ${J} SET status = 'waiting', run_at = ?, error = ?, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`, retryAt, error, now, id);
  return { outcome: 'retry', retryAt };
}

function* extendOp(d: Dialect, leases: Array<{ id: string; token: string }>, leaseMs: number, now: number): Op<string[]> {
  const lost: string[] = [];
  for (const l of leases) {
    const res = (yield run(
      `UPDATE ${d.t('jobs')} SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND status = 'active' AND lease_expires_at > ?`,
      now + leaseMs, l.id, l.token, now,
    )) as { changes: number };
    if (res.changes !== 1) lost.push(l.id);
  }
  return lost;
}

/** Gives leases back without spending the attempt (graceful stop with jobs still in flight). */
function* releaseOp(d: Dialect, leases: Array<{ id: string; token: string }>, now: number): Op<number> {
  let n = 0;
  for (const l of leases) {
    const res = (yield run(
      `UPDATE ${d.t('jobs')} SET status = 'waiting', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_token = ? AND status = 'active'`,
      now, l.id, l.token,
    )) as { changes: number };
    n += res.changes;
  }
  return n;
}

// ---- the repository -------------------------------------------------------------------------

export interface ListOptions {
  queue?: string;
  status?: JobStatus | 'delayed';
  limit?: number;
  /** Jobs with id > after, for paging in id order. */
  after?: string;
}

export interface QueueStats {
  queue: string;
  waiting: number;
  delayed: number;
  active: number;
  completed: number;
  dead: number;
  cancelled: number;
}

export class JobStore {
  private readonly d: Dialect;

  constructor(
    private readonly h: StoreHandle,
    private readonly now: () => number,
    /** Secret values out of payloads and results before they are stored (issue 14 #5). */
    private readonly redact: <T>(v: T) => T = (v) => v,
  ) {
    this.d = h.dialect === 'sqlite' ? { pg: false, t: (n) => n, schemaName: '' } : { pg: true, t: (n) => `${h.schema}.${n}`, schemaName: h.schemaName };
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.h.dialect;
  }

  /** The NOTIFY channel of this store's job queue (PostgreSQL). */
  get channel(): string {
    return `openclaw_jobs_${this.d.schemaName}`.slice(0, 63);
  }

  /** One transaction (a write on SQLite). */
  private tx<R>(op: () => Op<R>, notify?: (r: R) => string[]): Promise<R> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      try {
        return Promise.resolve(h.write(() => runSqlite(h.db, op())));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return h.tx(async (c) => {
      const r = await runPostgres(c, op());
      for (const q of notify?.(r) ?? []) await c.query('SELECT pg_notify($1, $2)', [this.channel, q]);
      return r;
    });
  }

  private read<R>(op: () => Op<R>): Promise<R> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      try {
        return Promise.resolve(runSqlite(h.db, op()));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return runPostgres(h.pool, op());
  }

  private clean(jobs: NormalizedEnqueue[]): NormalizedEnqueue[] {
    return jobs.map((j) => {
      const payload = this.redact(j.payload);
      return payload === j.payload ? j : { ...j, payload };
    });
  }

  enqueue(raw: NormalizedEnqueue[], policyOf: (queue: string) => QueuePolicy): Promise<EnqueueResult[]> {
    const jobs = this.clean(raw);
    return this.tx(
      () => enqueueOp(this.d, jobs, policyOf, this.now()),
      () => [...new Set(jobs.map((j) => j.queue))],
    );
  }

  /** The same enqueue inside another transaction (a run's commit). PostgreSQL notifies at its commit. */
  enqueueEffect(raw: NormalizedEnqueue[], policyOf: (queue: string) => QueuePolicy): TxEffect {
    const jobs = this.clean(raw);
    const d = this.d;
    const channel = this.channel;
    return {
      sqlite: (db, now) => void runSqlite(db, enqueueOp(d, jobs, policyOf, now)),
      postgres: async (c, _schema, now) => {
        await runPostgres(c, enqueueOp(d, jobs, policyOf, now));
        for (const q of new Set(jobs.map((j) => j.queue))) await c.query('SELECT pg_notify($1, $2)', [channel, q]);
      },
    };
  }

  /**
   * Leases up to `limit` due jobs of the queue. `recover` (default true) first returns expired
   * leases to the queue (or dead-letters them); the runner does that about every lease/4.
   */
  claim(queue: string, policy: QueuePolicy, limit: number, recover = true): Promise<ClaimResult> {
    return this.tx(() => claimOp(this.d, queue, policy, limit, this.now(), recover));
  }

  /**
   * The completion of a claimed job as an effect of the handler's run transaction. `result` is
   * read when the commit runs (after the handler returned). A lost or expired lease throws
   * LeaseLostError, which aborts the whole commit: none of the handler's effects apply.
   */
  completeEffect(id: string, token: string, raw: () => unknown, deleteRow = false, next?: BatchStep): TxEffect {
    const d = this.d;
    const result = () => this.redact(raw());
    return {
      sqlite: (db, now) => runSqlite(db, completeOp(d, id, token, result(), deleteRow, now)),
      postgres: (c, _schema, now) => runPostgres(c, completeOp(d, id, token, result(), deleteRow, now)),
      ...(next ? { after: next } : {}),
    };
  }

  /**
   * Complete-and-fetch-next (BullMQ's moveToFinished-and-fetch, graphile-worker's batched
   * complete/get): the claim of a queue's next jobs as a batch step (store/extension.ts BatchStep)
   * of the group commit that completes its jobs — once per batch, not per job, after the runs and
   * outside their savepoints, sized by `plan(n)` (n = completions of this queue that committed in
   * the batch). `done` gets the claim once the transaction ended: start its jobs only if
   * `committed` (a rolled-back batch took the claim with it).
   */
  claimStep(queue: string, policy: QueuePolicy, plan: (n: number) => { limit: number; recover: boolean }, done: (claimed: ClaimResult | null, limit: number, committed: boolean) => void): BatchStep<{ limit: number; claimed: ClaimResult | null }> {
    const d = this.d;
    return {
      sqlite: (db, now, n) => {
        const { limit, recover } = plan(n);
        return { limit, claimed: limit > 0 ? runSqlite(db, fetchOp(d, queue, policy, limit, now, recover)) : null };
      },
      postgres: async (c, _schema, now, n) => {
        const { limit, recover } = plan(n);
        return { limit, claimed: limit > 0 ? await runPostgres(c, fetchOp(d, queue, policy, limit, now, recover)) : null };
      },
      done: (answer, committed) => done(answer?.claimed ?? null, answer?.limit ?? 0, committed),
    };
  }

  /** Completion outside a run (tests, handlers that are not agents). */
  complete(id: string, token: string, result?: unknown): Promise<void> {
    return this.tx(() => completeOp(this.d, id, token, this.redact(result), false, this.now()));
  }

  fail(id: string, token: string, error: string, opts: { final?: boolean; random?: () => number } = {}): Promise<{ outcome: FailOutcome; retryAt?: number }> {
    return this.tx(() => failOp(this.d, id, token, error, opts, this.now()));
  }

  /** Renews leases; returns the ids whose lease was lost (expired, reclaimed or cancelled). */
  extend(leases: Array<{ id: string; token: string }>, leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return Promise.resolve([]);
    return this.tx(() => extendOp(this.d, leases, leaseMs, this.now()));
  }

  release(leases: Array<{ id: string; token: string }>): Promise<number> {
    if (leases.length === 0) return Promise.resolve(0);
    return this.tx(() => releaseOp(this.d, leases, this.now()));
  }

  get(id: string): Promise<JobRecord | undefined> {
    const d = this.d;
    return this.read(function* () {
      const rows = (yield all(`SELECT ${COLUMNS} FROM ${d.t('jobs')} WHERE id = ?`, id)) as Row[];
      return rows[0] ? toRecord(rows[0]) : undefined;
    });
  }

  list(opts: ListOptions = {}): Promise<JobRecord[]> {
    const d = this.d;
    const now = this.now();
    return this.read(function* () {
      const where: string[] = [];
      const params: unknown[] = [];
      if (opts.queue) {
        where.push('queue = ?');
        params.push(opts.queue);
      }
      if (opts.status === 'delayed') {
        where.push(`status = 'waiting' AND run_at > ?`);
        params.push(now);
      } else if (opts.status) {
        where.push('status = ?');
        params.push(opts.status);
      }
      if (opts.after) {
        where.push('id > ?');
        params.push(opts.after);
      }
      const limit = Math.min(Math.max(1, opts.limit ?? 100), 10_000);
      const order = opts.after ? 'id' : 'created_at DESC, id';
      const rows = (yield all(`SELECT ${COLUMNS} FROM ${d.t('jobs')}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`, ...params, limit)) as Row[];
      return rows.map(toRecord);
    });
  }

  stats(): Promise<QueueStats[]> {
    const d = this.d;
    const now = this.now();
    return this.read(function* () {
      const rows = (yield all(
        `SELECT queue, status, CASE WHEN status = 'waiting' AND run_at > ? THEN 1 ELSE 0 END AS later, count(*) AS n FROM ${d.t('jobs')} GROUP BY queue, status, later`,
        now,
      )) as Row[];
      const m = new Map<string, QueueStats>();
      for (const r of rows) {
        const q = r.queue as string;
        let s = m.get(q);
        if (!s) m.set(q, (s = { queue: q, waiting: 0, delayed: 0, active: 0, completed: 0, dead: 0, cancelled: 0 }));
        const status = r.status as JobStatus;
        if (status === 'waiting' && num(r.later) === 1) s.delayed += num(r.n);
        else s[status] += num(r.n);
      }
      return [...m.values()].sort((a, b) => a.queue.localeCompare(b.queue));
    });
  }

  /** Waiting or active → cancelled. An active job's handler loses its lease (cannot complete). */
  cancel(id: string): Promise<JobRecord | undefined> {
    const d = this.d;
    const now = this.now();
    return this.tx(function* () {
      yield run(
        `UPDATE ${d.t('jobs')} SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ?, error = COALESCE(error, 'cancelled') WHERE id = ? AND status IN ('waiting', 'active')`,
        now, now, id,
      );
      const rows = (yield all(`SELECT ${COLUMNS} FROM ${d.t('jobs')} WHERE id = ?`, id)) as Row[];
      return rows[0] ? toRecord(rows[0]) : undefined;
    });
  }

  /** Dead letters back to waiting with attempts reset: by ids, or all of a queue, or all. */
  redrive(opts: { queue?: string; ids?: string[] }): Promise<{ redriven: number; queues: string[] }> {
    const d = this.d;
    const now = this.now();
    return this.tx(
      function* () {
        const where = [`status = 'dead'`];
        const params: unknown[] = [];
        if (opts.queue) {
          where.push('queue = ?');
          params.push(opts.queue);
        }
        if (opts.ids && opts.ids.length > 0) {
          where.push(`id IN (${opts.ids.map(() => '?').join(', ')})`);
          params.push(...opts.ids);
        }
        const rows = (yield all(`SELECT DISTINCT queue FROM ${d.t('jobs')} WHERE ${where.join(' AND ')}`, ...params)) as Row[];
        const res = (yield run(
          `UPDATE ${d.t('jobs')} SET status = 'waiting', attempts = 0, run_at = ?, finished_at = NULL, updated_at = ? WHERE ${where.join(' AND ')}`,
          now, now, ...params,
        )) as { changes: number };
        return { redriven: res.changes, queues: rows.map((r) => r.queue as string) };
      },
      (r) => r.queues,
    );
  }

  /** Deletes completed and cancelled jobs finished before their queue's retention. */
  sweep(retentionOf: (queue: string) => number): Promise<number> {
    const d = this.d;
    const now = this.now();
    return this.tx(function* () {
      const queues = (yield all(`SELECT DISTINCT queue FROM ${d.t('jobs')} WHERE status IN ('completed', 'cancelled')`)) as Row[];
      let n = 0;
      for (const r of queues) {
        const q = r.queue as string;
        const res = (yield run(`DELETE FROM ${d.t('jobs')} WHERE queue = ? AND status IN ('completed', 'cancelled') AND finished_at < ?`, q, now - retentionOf(q))) as { changes: number };
        n += res.changes;
      }
      return n;
    });
  }

  /** Waiting jobs per queue (the pending gauge). */
  async pending(): Promise<Record<string, number>> {
    const d = this.d;
    return this.read(function* () {
      const rows = (yield all(`SELECT queue, count(*) AS n FROM ${d.t('jobs')} WHERE status = 'waiting' GROUP BY queue`)) as Row[];
      return Object.fromEntries(rows.map((r) => [r.queue as string, num(r.n)]));
    });
  }
}
