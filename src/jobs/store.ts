// JobStore: the job queue's repository. It runs the transitions of store-ops.ts (hot path) and
// store-admin.ts (operators' queries) in a transaction of their own, or inside a run's commit
// (TxEffect) and its group commit (BatchStep); the tables and rows are in store-sql.ts.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { BatchStep, StoreHandle, TxEffect } from '../store/extension.js';
import { runPostgres, runSqlite, type Op } from '../store/sql-ops.js';
import type { QueuePolicy } from './config.js';
import type { NormalizedEnqueue } from './options.js';
import { cancelOp, getOp, listOp, pendingOp, redriveOp, statsOp, sweepOp, type ListOptions, type QueueStats } from './store-admin.js';
import { claimOp, completeOp, enqueueOp, extendOp, failOp, fetchOp, releaseOp, type ClaimResult, type FailOutcome } from './store-ops.js';
import type { Dialect } from './store-sql.js';
import type { EnqueueResult, JobRecord } from './types.js';

export { jobsStoreModule, toRecord, type ClaimedJob } from './store-sql.js';
export type { ClaimResult, FailOutcome } from './store-ops.js';
export type { ListOptions, QueueStats } from './store-admin.js';

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
    return new CompleteEffect(this.d, this.redact, id, token, raw, deleteRow, next);
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
    return this.read(() => getOp(this.d, id));
  }

  list(opts: ListOptions = {}): Promise<JobRecord[]> {
    const now = this.now();
    return this.read(() => listOp(this.d, opts, now));
  }

  stats(): Promise<QueueStats[]> {
    const now = this.now();
    return this.read(() => statsOp(this.d, now));
  }

  /** Waiting or active → cancelled. An active job's handler loses its lease (cannot complete). */
  cancel(id: string): Promise<JobRecord | undefined> {
    const now = this.now();
    return this.tx(() => cancelOp(this.d, id, now));
  }

  /** Dead letters back to waiting with attempts reset: by ids, or all of a queue, or all. */
  redrive(opts: { queue?: string; ids?: string[] }): Promise<{ redriven: number; queues: string[] }> {
    const now = this.now();
    return this.tx(() => redriveOp(this.d, opts, now), (r) => r.queues);
  }

  /** Deletes completed and cancelled jobs finished before their queue's retention. */
  sweep(retentionOf: (queue: string) => number): Promise<number> {
    const now = this.now();
    return this.tx(() => sweepOp(this.d, retentionOf, now));
  }

  /** Waiting jobs per queue (the pending gauge). */
  pending(): Promise<Record<string, number>> {
    return this.read(() => pendingOp(this.d));
  }
}

/**
 * A job's completion in its run's commit (JobStore.completeEffect). A class, not an object of
 * closures: one is made per job, on the hot path.
 */
class CompleteEffect implements TxEffect {
  readonly after?: BatchStep;

  constructor(
    private readonly d: Dialect,
    private readonly redact: <T>(v: T) => T,
    private readonly id: string,
    private readonly token: string,
    private readonly raw: () => unknown,
    private readonly deleteRow: boolean,
    next: BatchStep | undefined,
  ) {
    if (next) this.after = next;
  }

  /** Read when the commit runs (after the handler returned); nothing to store when the row goes. */
  private result(): unknown {
    return this.deleteRow ? undefined : this.redact(this.raw());
  }

  sqlite(db: Database.Database, now: number): void {
    runSqlite(db, completeOp(this.d, this.id, this.token, this.result(), this.deleteRow, now));
  }

  postgres(c: pg.PoolClient, _schema: string, now: number): Promise<void> {
    return runPostgres(c, completeOp(this.d, this.id, this.token, this.result(), this.deleteRow, now));
  }
}
