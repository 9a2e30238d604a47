// The job queue's public shapes: what agents, the API and the CLI enqueue, and what they read back.
// The repository (store.ts), the worker loop (runner.ts) and the SDK (`this.jobs`) share them.

export type IdempotencyMode = 'dedupe' | 'replace' | 'debounce';
export type BackoffType = 'fixed' | 'exponential' | 'jitter';
export type JobStatus = 'waiting' | 'active' | 'completed' | 'dead' | 'cancelled';

/** A duration: '10s', '5m', '1h30m', or milliseconds as a number. */
export type DurationInput = string | number;

export interface BackoffSpec {
  type: BackoffType;
  delay: DurationInput;
  /** Cap for exponential and jitter. */
  max?: DurationInput;
}

export interface EnqueueOptions {
  /** Higher runs first (default 0). Among equal priorities, the earliest run_at first. */
  priority?: number;
  /** Run no earlier than now + delay. */
  delay?: DurationInput;
  /** Run no earlier than this time (epoch ms, ISO string or Date). Wins over delay. */
  runAt?: number | string | Date;
  /** Attempts before the job is dead-lettered (default: the queue's, else 3). */
  maxAttempts?: number;
  backoff?: BackoffSpec;
  /** Per-attempt timeout: the handler's AbortSignal fires, then the attempt fails. */
  timeout?: DurationInput;
  /** Idempotency key: at most one waiting-or-active job per (queue, key). */
  key?: string;
  /**
   * What an enqueue with a key that is already waiting does:
   *  - dedupe (default): nothing; the existing job stands (its id is returned);
   *  - replace: the waiting job's payload and options are replaced, its run time kept;
   *  - debounce: the waiting job's payload is replaced and its run time pushed to now + delay.
   * A key whose job is active (running) gets a new waiting job in replace/debounce modes.
   */
  mode?: IdempotencyMode;
  /** Concurrency / rate-limit group inside the queue (a tenant, a provider). */
  concurrencyKey?: string;
  /** Caller-chosen job id (unique); enqueueing an existing id is a no-op. */
  id?: string;
}

export interface EnqueueRequest {
  name: string;
  payload?: unknown;
  opts?: EnqueueOptions;
}

export interface EnqueueResult {
  id: string;
  /** false when an idempotency key or id deduplicated the enqueue onto an existing job. */
  created: boolean;
  /** Set when no agent serves the queue: the job is kept and waits for one. */
  warning?: string;
}

export interface JobRecord {
  id: string;
  queue: string;
  payload: unknown;
  priority: number;
  runAt: number;
  attempts: number;
  maxAttempts: number;
  backoff: { type: BackoffType; delayMs: number; maxMs: number } | null;
  timeoutMs: number | null;
  status: JobStatus;
  leaseToken: string | null;
  leaseExpiresAt: number | null;
  key: string | null;
  keyMode: IdempotencyMode | null;
  concurrencyKey: string | null;
  result: unknown;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** The run id of the last attempt (logs and the runs table carry it). */
  runId: string | null;
  /** W3C traceparent of the span that enqueued it (tracing on); its handler runs continue that trace. */
  traceparent: string | null;
}

/** What a job handler gets as its second argument. */
export interface JobInfo {
  id: string;
  queue: string;
  attempt: number;
  maxAttempts: number;
  enqueuedAt: number;
}
