// The job queue's operator queries, for both dialects (generators run by JobStore, like the
// transitions of store-ops.ts): one job, lists and paging, per-queue counts, cancel, redrive of
// dead letters, the retention sweep and the pending gauge.
import { all, num, run, type Op, type Row } from '../store/sql-ops.js';
import { COLUMNS, toRecord, type Dialect } from './store-sql.js';
import type { JobRecord, JobStatus } from './types.js';

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


export function* getOp(d: Dialect, id: string): Op<JobRecord | undefined> {
  const rows = (yield all(`SELECT ${COLUMNS} FROM ${d.t('jobs')} WHERE id = ?`, id)) as Row[];
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export function* listOp(d: Dialect, opts: ListOptions, now: number): Op<JobRecord[]> {
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
}

export function* statsOp(d: Dialect, now: number): Op<QueueStats[]> {
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
}

/** Waiting or active → cancelled. An active job's handler loses its lease (cannot complete). */
export function* cancelOp(d: Dialect, id: string, now: number): Op<JobRecord | undefined> {
  yield run(
    `UPDATE ${d.t('jobs')} SET status = 'cancelled', lease_token = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ?, error = COALESCE(error, 'cancelled') WHERE id = ? AND status IN ('waiting', 'active')`,
    now, now, id,
  );
  return yield* getOp(d, id);
}

/** Dead letters back to waiting with attempts reset: by ids, or all of a queue, or all. */
export function* redriveOp(d: Dialect, opts: { queue?: string; ids?: string[] }, now: number): Op<{ redriven: number; queues: string[] }> {
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
}

/** Deletes completed and cancelled jobs finished before their queue's retention. */
export function* sweepOp(d: Dialect, retentionOf: (queue: string) => number, now: number): Op<number> {
  const queues = (yield all(`SELECT DISTINCT queue FROM ${d.t('jobs')} WHERE status IN ('completed', 'cancelled')`)) as Row[];
  let n = 0;
  for (const r of queues) {
    const q = r.queue as string;
    const res = (yield run(`DELETE FROM ${d.t('jobs')} WHERE queue = ? AND status IN ('completed', 'cancelled') AND finished_at < ?`, q, now - retentionOf(q))) as { changes: number };
    n += res.changes;
  }
  return n;
}

/** Waiting jobs per queue (the pending gauge). */
export function* pendingOp(d: Dialect): Op<Record<string, number>> {
  const rows = (yield all(`SELECT queue, count(*) AS n FROM ${d.t('jobs')} WHERE status = 'waiting' GROUP BY queue`)) as Row[];
  return Object.fromEntries(rows.map((r) => [r.queue as string, num(r.n)]));
}
