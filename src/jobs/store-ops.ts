// Every state transition of a job on the hot path, written ONCE for both dialects: enqueue, claim
// (with crash recovery and rate limits), the claim of complete-and-fetch-next, completion,
// failure (retry or dead letter), lease renewal and release.
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
import { all, num, optNum, run, type Op, type Row } from '../store/sql-ops.js';
import { LeaseLostError } from '../util/errors.js';
import { uuidv7 } from '../util/ids.js';
import { backoffDelay, type QueuePolicy, type RateLimit } from './config.js';
import type { NormalizedEnqueue } from './options.js';
import { COLUMNS, toRecord, type ClaimedJob, type Dialect } from './store-sql.js';
import type { EnqueueResult } from './types.js';

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

export function* enqueueOp(d: Dialect, jobs: NormalizedEnqueue[], policyOf: (queue: string) => QueuePolicy, now: number): Op<EnqueueResult[]> {
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

export function* claimOp(d: Dialect, queue: string, p: QueuePolicy, limit: number, now: number, recover: boolean): Op<ClaimResult> {
  if (d.pg) yield all(`SELECT pg_advisory_xact_lock(hashtext(?))`, `openclaw.jobs:${d.schemaName}:${queue}`);
  const base = recover ? yield* recoverOp(d, queue, now) : { recovered: 0, deadLettered: 0 };
  return yield* claimRest(d, queue, p, limit, now, base);
}

/**
 * The claim of complete-and-fetch-next, inside a group commit's transaction. PostgreSQL only TRIES
 * the queue's lock: that transaction holds the namespace locks of its runs and must not wait on
 * another daemon's claim; without the lock it claims nothing (the runner's own claim takes over).
 */
export function* fetchOp(d: Dialect, queue: string, p: QueuePolicy, limit: number, now: number, recover: boolean): Op<ClaimResult | null> {
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
    // The token is also the attempt's run id: time-ordered, so the runs table's id index takes
    // appends (util/ids.ts); unique by its random tail.
    const pairs = chosen.map((id) => [id, uuidv7(now)] as const);
    const rows = (yield all(
      `UPDATE ${J} SET status = 'active', lease_token = v.column2, run_id = v.column2, lease_expires_at = ?, attempts = attempts + 1, started_at = ?, updated_at = ?
       FROM (VALUES ${pairs.map(() => '(?, ?)').join(', ')}) AS v WHERE ${J}.id = v.column1 AND ${J}.status = 'waiting'
       RETURNING ${qualifiedColumns(J)}`,
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

const qualified = new Map<string, string>();
/** COLUMNS prefixed with the table (the claim's UPDATE … FROM), built once per table name. */
function qualifiedColumns(table: string): string {
  let q = qualified.get(table);
  if (q === undefined) {
    q = COLUMNS.split(', ').map((c) => `${table}.${c}`).join(', ');
    if (qualified.size > 64) qualified.clear();
    qualified.set(table, q);
  }
  return q;
}

/** Completion: only while the lease is held AND unexpired, in the caller's transaction. */
export function* completeOp(d: Dialect, id: string, token: string, result: unknown, deleteRow: boolean, now: number): Op<void> {
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

export function* failOp(d: Dialect, id: string, token: string, error: string, opts: { final?: boolean; random?: () => number }, now: number): Op<{ outcome: FailOutcome; retryAt?: number }> {
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

export function* extendOp(d: Dialect, leases: Array<{ id: string; token: string }>, leaseMs: number, now: number): Op<string[]> {
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
export function* releaseOp(d: Dialect, leases: Array<{ id: string; token: string }>, now: number): Op<number> {
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
