// The worker side of the queue: for each queue with a handler, claim as many jobs as there is room
// for (queue concurrency, the daemon's global concurrency), run each handler in its agent as a run
// transaction whose commit also completes the job (JobStore.completeEffect), renew the leases of
// jobs in flight, and fail / retry / dead-letter what threw.
//
// Wake-ups: in process after a commit or an API enqueue, PostgreSQL NOTIFY from other daemons, a
// timer for the next delayed job or rate-limit refill, and a slow safety poll. No tight polling.
// Completions chain without any timer. Complete-and-fetch-next: the group commit that completes a
// turn's jobs also claims the queue's next ones in the same transaction (JobStore.claimStep, one
// claim per batch, sized by the slots the batch freed), and they start as soon as it committed.
// A slot freed otherwise (a failure, a lost lease) claims on the next turn of the event loop
// (setImmediate, coalesced), so throughput never waits on a clock. Every timer (delayed jobs,
// rate-limit refills, heartbeats, the safety poll) runs on the injected Clock.
import type { AgentHandle, CallResult } from '../contracts/modules.js';
import type { LogLine } from '../runtime/protocol.js';
import type { BatchStep } from '../store/extension.js';
import type { JobStore, ClaimedJob, ClaimResult } from './store.js';
import type { QueuePolicy } from './config.js';
import type { JobInfo } from './types.js';

export interface QueueBinding {
  queue: string;
  agent: string;
  method: string;
  policy: QueuePolicy;
}

export interface RunnerMetrics {
  outcome(queue: string, status: 'completed' | 'retried' | 'dead' | 'lease_lost' | 'released'): void;
  duration(queue: string, seconds: number): void;
}

export interface RunnerDeps {
  jobs: JobStore;
  controller(agent: string): AgentHandle | undefined;
  globalConcurrency: number;
  log(line: Omit<LogLine, 'time'>): void;
  metrics: RunnerMetrics;
  now(): number;
  /** The injected clock's timer (default: real timers). */
  setTimer?(fn: () => void, ms: number): () => void;
  /** Safety poll (default 5 s): catches wake-ups that were lost (a dropped LISTEN connection). */
  pollMs?: number;
  /** Test hook standing in for a frozen heartbeat (a paused process, a partition): no renewals. */
  heartbeat?: boolean;
  /** Whether the agent's logging level takes debug lines (one per completed job); default no. */
  debug?(agent: string): boolean;
  /** Complete-and-fetch-next (default on); off: every freed slot claims in a transaction of its own. */
  fetchNext?: boolean;
}

interface InFlight {
  job: ClaimedJob;
  startedAt: number;
  abort: AbortController;
  lost: boolean;
}

class QueueWorker {
  readonly inflight = new Map<string, InFlight>();
  private pumping = false;
  private again = false;
  private timer: (() => void) | null = null;
  private timerAt = Infinity;
  private heartbeatTimer: (() => void) | null = null;
  /** When expired leases were last recovered (every claim would cost two more statements). */
  private recoveredAt = -Infinity;
  /** Slots promised to fetch steps whose batch has not ended yet (their jobs are not in `inflight`). */
  reserved = 0;
  /** The claim that rides on the group commit completing this queue's jobs (null: fetch-next off). */
  private readonly next: BatchStep | null;

  constructor(
    readonly b: QueueBinding,
    private readonly runner: JobRunner,
  ) {
    this.next =
      runner.deps.fetchNext === false
        ? null
        : runner.deps.jobs.claimStep(b.queue, b.policy, (n) => this.planFetch(n), (claimed, limit, committed) => this.fetched(claimed, limit, committed));
  }

  /**
   * Inside the batch's transaction: how many jobs to claim. `n` completions of this queue committed
   * in the batch; their jobs are still in `inflight` (their callers resume after the commit), so
   * their slots count as free here.
   */
  private planFetch(n: number): { limit: number; recover: boolean } {
    const limit = Math.max(0, Math.min(this.room(n), this.b.policy.concurrency));
    if (limit === 0) return { limit, recover: false };
    this.reserve(limit);
    return { limit, recover: this.recoverDue() };
  }

  /** After the batch ended: the fetched jobs start (only if it committed: else they were never claimed). */
  private fetched(claimed: ClaimResult | null, limit: number, committed: boolean): void {
    this.reserve(-limit);
    if (committed && claimed) this.started(claimed);
    // Whatever the fetch did not fill (rolled back, lock busy, fewer jobs): the usual claim.
    this.freed();
  }

  private reserve(n: number): void {
    this.reserved += n;
    this.runner.reserved += n;
  }

  private recoverDue(): boolean {
    const now = this.runner.deps.now();
    if (now - this.recoveredAt < this.b.policy.leaseMs / 4) return false;
    this.recoveredAt = now;
    return true;
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.b.policy.leaseMs / 3));
    if (this.runner.deps.heartbeat !== false) {
      const beat = () => {
        this.heartbeatTimer = this.runner.setTimer(() => {
          void this.heartbeat().finally(() => {
            if (this.heartbeatTimer) beat();
          });
        }, every);
      };
      beat();
    }
    this.wake();
  }

  stop(): void {
    if (this.soon) clearImmediate(this.soon);
    this.soon = null;
    this.timer?.();
    this.heartbeatTimer?.();
    this.timer = null;
    this.timerAt = Infinity;
    this.heartbeatTimer = null;
  }

  /**
   * A slot came free. Claim on the next turn of the event loop, not at once: the runs that finish
   * in the same turn (a group commit resolves many) free their slots together and one claim
   * takes them all (a claim is a transaction of several statements). No timer: the wake-up
   * cannot be lost to a clock that does not move.
   */
  freed(): void {
    if (this.soon) return;
    this.soon = setImmediate(() => {
      this.soon = null;
      this.wake();
    });
  }

  private soon: NodeJS.Immediate | null = null;

  /** Claim as soon as possible (coalesced: one claim loop per queue at a time). */
  wake(): void {
    if (this.runner.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private arm(at: number): void {
    if (at >= this.timerAt) return;
    this.timer?.();
    this.timerAt = at;
    this.timer = this.runner.setTimer(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.wake();
    }, Math.max(1, at - this.runner.deps.now()));
  }

  /** Free slots; `done` jobs of `inflight` have finished (their slots count as free). */
  private room(done = 0): number {
    if (this.runner.stopped) return 0;
    const c = this.runner.deps.controller(this.b.agent);
    if (!c || c.status() !== 'running') {
      // Starting, restarting or paused: look again shortly (claiming now would burn attempts).
      if (c && c.status() !== 'stopped') this.arm(this.runner.deps.now() + 200);
      return 0;
    }
    return Math.min(this.b.policy.concurrency - this.inflight.size - this.reserved, this.runner.globalFree()) + done;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        const room = this.room();
        if (room <= 0) break;
        let claimed;
        this.reserve(room);
        try {
          claimed = await this.runner.deps.jobs.claim(this.b.queue, this.b.policy, room, this.recoverDue());
        } catch (err) {
          this.runner.deps.log({ level: 'error', agent: 'daemon', instance: 'daemon', msg: `jobs: claiming from '${this.b.queue}' failed: ${(err as Error).message}`, fields: { queue: this.b.queue } });
          this.arm(this.runner.deps.now() + 1000);
          break;
        } finally {
          this.reserve(-room);
        }
        this.started(claimed);
        // A full claim may leave more behind: go again while there is room.
        if (claimed.jobs.length >= room) this.again = true;
      } while (this.again && !this.runner.stopped);
    } finally {
      this.pumping = false;
    }
  }

  /** Starts what a claim (the pump's or a fetch step's) leased. */
  private started(claimed: ClaimResult): void {
    if (claimed.recovered > 0 || claimed.deadLettered > 0) {
      this.runner.deps.log({
        level: 'warning',
        agent: this.b.agent,
        instance: `${this.b.agent}#0`,
        msg: `jobs: ${claimed.recovered} job(s) of '${this.b.queue}' came back after their lease expired${claimed.deadLettered ? `, ${claimed.deadLettered} dead-lettered (no attempts left)` : ''}`,
        fields: { queue: this.b.queue },
      });
      for (let i = 0; i < claimed.deadLettered; i++) this.runner.deps.metrics.outcome(this.b.queue, 'dead');
    }
    for (const job of claimed.jobs) this.start1(job);
    if (claimed.nextAt !== null) this.arm(claimed.nextAt);
  }

  private start1(job: ClaimedJob): void {
    const f: InFlight = { job, startedAt: this.runner.deps.now(), abort: new AbortController(), lost: false };
    this.inflight.set(job.id, f);
    this.runner.active++;
    void this.execute(f).finally(() => {
      this.inflight.delete(job.id);
      this.runner.active--;
      this.runner.freed(this);
    });
  }

  private async execute(f: InFlight): Promise<void> {
    const { job } = f;
    const { jobs, metrics } = this.runner.deps;
    const c = this.runner.deps.controller(this.b.agent);
    const info: JobInfo = { id: job.id, queue: job.queue, attempt: job.attempts, maxAttempts: job.maxAttempts, enqueuedAt: job.createdAt };
    const deleteOnComplete = this.b.policy.retentionMs === 0;
    const r: CallResult = c
      ? await c.call(this.b.method, job.payload, {
          trigger: 'job',
          runId: job.runId ?? job.leaseToken,
          // The commit completing the job also claims the next ones (once per group commit).
          effects: (value) => [jobs.completeEffect(job.id, job.leaseToken, () => value, deleteOnComplete, this.next ?? undefined)],
          ...(job.timeoutMs ? { deadlineMs: job.timeoutMs } : {}),
          signal: f.abort.signal,
          meta: info,
          // The handler's run continues the trace of whoever enqueued the job.
          parentTrace: job.traceparent,
        })
      : { ok: false, runId: job.leaseToken, error: { name: 'Error', message: `agent '${this.b.agent}' is not configured`, code: 'agent_unavailable' } };
    const seconds = (this.runner.deps.now() - f.startedAt) / 1000;
    if (r.ok) {
      metrics.outcome(job.queue, 'completed');
      metrics.duration(job.queue, seconds);
      if (this.runner.deps.debug?.(this.b.agent)) this.line(job, r.runId, 'debug', `job ${job.queue}/${job.id} completed (attempt ${job.attempts}, ${Math.round(seconds * 1000)} ms)`);
      return;
    }
    const code = r.error?.code;
    const message = r.error ? `${r.error.message}` : 'failed';
    if (f.lost || code === 'lease_lost') {
      metrics.outcome(job.queue, 'lease_lost');
      this.line(job, r.runId, 'warning', `job ${job.queue}/${job.id}: the lease was lost (expired, cancelled or reclaimed); this attempt's effects were discarded`);
      return;
    }
    if (code === 'agent_unavailable' || (code === 'call_aborted' && this.runner.stopped)) {
      // Not the job's fault: give it back without spending the attempt.
      await jobs.release([{ id: job.id, token: job.leaseToken }]).catch(() => undefined);
      metrics.outcome(job.queue, 'released');
      return;
    }
    metrics.duration(job.queue, seconds);
    const reason = code === 'call_timeout' ? `timed out after ${job.timeoutMs} ms` : message;
    const res = await jobs.fail(job.id, job.leaseToken, reason, { final: code === 'job_unrecoverable' || code === 'no_method' }).catch((err: Error) => {
      this.line(job, r.runId, 'error', `job ${job.queue}/${job.id}: recording the failure failed: ${err.message}`);
      return null;
    });
    if (!res) return;
    if (res.outcome === 'lost') {
      metrics.outcome(job.queue, 'lease_lost');
      this.line(job, r.runId, 'warning', `job ${job.queue}/${job.id} failed (${reason}) after its lease was lost; the job is handled elsewhere`);
    } else if (res.outcome === 'dead') {
      metrics.outcome(job.queue, 'dead');
      this.line(job, r.runId, 'error', `job ${job.queue}/${job.id} dead-lettered after attempt ${job.attempts}/${job.maxAttempts}: ${reason}`);
    } else {
      metrics.outcome(job.queue, 'retried');
      this.line(job, r.runId, 'warning', `job ${job.queue}/${job.id} failed (attempt ${job.attempts}/${job.maxAttempts}): ${reason}; retry at ${new Date(res.retryAt!).toISOString()}`);
      this.arm(res.retryAt!);
    }
  }

  private line(job: ClaimedJob, runId: string, level: LogLine['level'], msg: string): void {
    this.runner.deps.log({ level, agent: this.b.agent, instance: `${this.b.agent}#0`, msg, runId, fields: { job: job.id, queue: job.queue, attempt: job.attempts } });
  }

  /** Renews the leases of jobs running longer than a third of the lease; aborts those lost. */
  private async heartbeat(): Promise<void> {
    const now = this.runner.deps.now();
    const due = [...this.inflight.values()].filter((f) => !f.lost && now - f.startedAt >= this.b.policy.leaseMs / 3);
    if (due.length === 0) return;
    let lost: string[];
    try {
      lost = await this.runner.deps.jobs.extend(due.map((f) => ({ id: f.job.id, token: f.job.leaseToken })), this.b.policy.leaseMs);
    } catch {
      return; // the store is unreachable: the lease may expire; completion is fenced anyway
    }
    for (const id of lost) {
      const f = this.inflight.get(id);
      if (!f) continue;
      f.lost = true;
      f.abort.abort(new Error(`the lease of job ${id} was lost (expired, cancelled or reclaimed)`));
    }
  }

  /** Graceful stop: abort what is still running; its leases are given back. */
  abortAll(): void {
    for (const f of this.inflight.values()) f.abort.abort(new Error('the daemon is stopping'));
  }
}

export class JobRunner {
  private readonly workers = new Map<string, QueueWorker>();
  private poll: (() => void) | null = null;
  stopped = false;
  active = 0;
  /** Slots promised to claims not yet started (a claim in flight, a fetch step's batch). */
  reserved = 0;

  constructor(readonly deps: RunnerDeps) {}

  get queues(): string[] {
    return [...this.workers.keys()];
  }

  binding(queue: string): QueueBinding | undefined {
    return this.workers.get(queue)?.b;
  }

  inflight(queue: string): number {
    return this.workers.get(queue)?.inflight.size ?? 0;
  }

  start(bindings: QueueBinding[]): void {
    for (const b of bindings) this.workers.set(b.queue, new QueueWorker(b, this));
    for (const w of this.workers.values()) w.start();
    const every = this.deps.pollMs ?? 5000;
    const tick = () => {
      this.poll = this.setTimer(() => {
        if (this.stopped) return;
        this.wakeAll();
        tick();
      }, every);
    };
    tick();
  }

  /** A timer on the injected clock (real timers when none was given). */
  setTimer(fn: () => void, ms: number): () => void {
    if (this.deps.setTimer) return this.deps.setTimer(fn, ms);
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  }

  globalFree(): number {
    return this.deps.globalConcurrency - this.active - this.reserved;
  }

  wake(queue: string): void {
    this.workers.get(queue)?.wake();
  }

  wakeAll(): void {
    for (const w of this.workers.values()) w.wake();
  }

  /** A slot came free: this queue first, then (global concurrency) the others. */
  freed(w: QueueWorker): void {
    w.freed();
    if (this.globalFree() === 1) for (const other of this.workers.values()) if (other !== w) other.wake();
  }

  /** Stops claiming; waits up to `drainMs` for jobs in flight, then aborts the rest (their leases are given back). */
  async stop(drainMs = 5000): Promise<void> {
    this.stopped = true;
    this.poll?.();
    this.poll = null;
    for (const w of this.workers.values()) w.stop();
    // The drain budget is the daemon's shutdown budget: real elapsed time (monotonic), not the
    // injected clock, which a test may hold still.
    const until = (ms: number) => {
      const end = performance.now() + ms;
      return async () => {
        while (this.active > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
      };
    };
    await until(drainMs)();
    if (this.active > 0) for (const w of this.workers.values()) w.abortAll();
    await until(2000)();
  }
}
