// The Store contract: domain repositories that SQLite (embedded default) and PostgreSQL implement
// alike, and that ONE conformance suite (test/store/conformance.test.ts) checks on both.
// All times are epoch milliseconds from the injected clock. Values are JSON-serialisable.
import type { StoreHandle, StoreModule, TxEffect } from './extension.js';

export type { StoreHandle, StoreModule, TxEffect, SqliteHandle, PostgresHandle } from './extension.js';

/** Namespace of the shared state that any agent may write. Agent namespaces are agent names. */
export const SHARED_NAMESPACE = '__shared';

export interface StateEntry {
  key: string;
  value: unknown;
  /** The namespace version at which this key was last written (0 = never). */
  version: number;
  expiresAt: number | null;
}

export interface StateWrite {
  namespace: string;
  key: string;
  /** Absent with deleted=true means delete. */
  value?: unknown;
  deleted?: boolean;
  /** Absolute expiry; null/undefined = no TTL. */
  expiresAt?: number | null;
}

/** A key a run read, with the key version it saw (0 = absent). Checked at commit (optimistic). */
export interface StateRead {
  namespace: string;
  key: string;
  version: number;
}

export interface StateVersionInfo {
  version: number;
  createdAt: number;
  /** Total size of the namespace's live values after this version, in bytes (JSON length). */
  sizeBytes: number;
  keyCount: number;
  /** Keys changed by this version. */
  changedKeys: string[];
  runId: string | null;
  reason: string; // 'run' | 'checkpoint' | 'rollback to v140' | 'api' ...
}

export interface NewEvent {
  id: string; // unique; publishing an id that exists is a no-op (dedupe)
  name: string;
  payload: unknown;
  source: string | null; // emitting agent, or null for API/system
  createdAt: number;
  traceId?: string | null;
  /**
   * Ordering key: a consumer group that asks for per-key ordering handles events of one key one
   * at a time, in log order. Null/absent = no ordering constraint (see docs/architecture.md).
   */
  key?: string | null;
  /**
   * W3C traceparent of the span that emitted it (tracing on), so handling the event continues that
   * trace. Stored in the trace_id column (it contains the trace id); read back into both fields.
   */
  traceparent?: string | null;
  /** The run whose commit published it (written, never read back: the dashboard's run timeline). */
  runId?: string | null;
}

export interface StoredEvent extends NewEvent {
  seq: number; // monotonic position in the log
}

export interface Delivery {
  deliveryId: number;
  consumer: string; // consumer group = agent name (replicas share it)
  event: StoredEvent;
  attempts: number; // including this claim
  leaseToken: string;
  leaseExpiresAt: number;
}

export interface DeadLetter {
  deliveryId: number;
  consumer: string;
  event: StoredEvent;
  attempts: number;
  lastError: string | null;
  deadAt: number;
}

/** 'job': a job handler; 'workflow': a workflow's agent step; 'call': any other AgentController.call. */
export type RunTrigger = 'schedule' | 'event' | 'manual' | 'setup' | 'teardown' | 'checkpoint' | 'api' | 'job' | 'workflow' | 'call';
export type RunStatus = 'succeeded' | 'failed' | 'missed' | 'skipped' | 'conflict';

export interface RunRecord {
  id: string;
  agent: string;
  instance: string | null; // "analyzer#0"
  trigger: RunTrigger;
  status: RunStatus;
  scheduledAt: number | null; // the schedule time this run was for
  startedAt: number;
  finishedAt: number;
  error: string | null;
  /** Why a run was missed or skipped: 'daemon down', 'overlap', 'paused', ... */
  reason: string | null;
  eventId: string | null;
}

export interface AgentStats {
  agent: string;
  runsTotal: number; // succeeded + failed (missed/skipped are not runs)
  runsFailed: number;
  lastRunAt: number | null;
  lastStatus: RunStatus | null;
}

/** Desired state from explicit user actions; never written by shutdown. */
export type DesiredState = 'running' | 'paused' | 'stopped';

export interface Transition {
  agent: string;
  instance: string | null;
  from: string;
  to: string;
  reason: string;
  at: number;
}

/** Everything a finished run changes, committed in ONE transaction. */
export interface RunCommit {
  /** Writes across namespaces (own namespace and SHARED_NAMESPACE). Applied in order, last wins. */
  writes: StateWrite[];
  /** Optimistic concurrency: if any read key's current version differs, throw StateConflictError. */
  reads: StateRead[];
  /** Outbox: events emitted, fanned out to subscribers in the same transaction. */
  emits: NewEvent[];
  /** The delivery that triggered the run, acknowledged (removed) in the same transaction. */
  ack?: { deliveryId: number; leaseToken: string };
  /** The run record, inserted and folded into AgentStats. */
  run?: RunRecord;
  /** Per-namespace size caps in bytes; exceeding throws StateSizeError and commits nothing. */
  maxStateSize?: Record<string, number>;
  /** Recorded in StateVersionInfo.reason; default 'run'. */
  reason?: string;
  runId?: string | null;
  /** Subsystem work in the same transaction (a job's completion, ...); a throw aborts the commit. */
  effects?: TxEffect[];
  /**
   * Cluster fencing (PostgreSQL, src/cluster): the run commits only if the agent instance's lease
   * row still has this owner and epoch and has not expired (database clock); the row is locked
   * FOR SHARE until COMMIT, so a takeover cannot slip in between. Otherwise FencedError.
   */
  fence?: LeaseFence;
}

/** The lease a run's writes are conditional on (`agent_leases`, src/cluster/schema.ts). */
export interface LeaseFence {
  agent: string;
  instance: string;
  owner: string;
  epoch: number;
}

export interface CommitResult {
  /** New version per namespace that changed (namespaces without writes are absent). */
  versions: Record<string, number>;
  /** Events actually inserted (duplicates by id are skipped). */
  published: number;
}

/** How one run of a group commit ended. */
export type CommitSettled = { ok: true; result: CommitResult } | { ok: false; error: unknown };

export interface ClaimOptions {
  limit: number;
  leaseMs: number;
  /** The claiming node (cluster): lease tokens start with `owner:`, so its deliveries can be released when it dies. */
  owner?: string;
}

export interface StoreLike {
  readonly dialect: 'sqlite' | 'postgres';

  /** Runs pending migrations (numbered, idempotent). Called once by open. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Applies a subsystem's own pending migrations (tracked per module); idempotent. */
  migrateModule(module: StoreModule): Promise<void>;
  /** The dialect's connection, for subsystem repositories (see extension.ts). */
  handle(): StoreHandle;
  /**
   * Problems the store works around but an operator should see (SQLite: a failing WAL checkpoint
   * or a dead checkpoint worker). Without a listener they go to stderr as a process warning.
   */
  onWarning?(listener: (message: string) => void): void;

  // ---- run transaction -------------------------------------------------------------------
  commitRun(commit: RunCommit): Promise<CommitResult>;
  /**
   * Commits several runs in ONE transaction (group commit); each settles on its own: a run that
   * conflicts or throws is rolled back alone and the others commit. Runs given to commitRun in the
   * same turn are grouped the same way.
   */
  commitRuns(commits: RunCommit[]): Promise<CommitSettled[]>;

  // ---- state ------------------------------------------------------------------------------
  getState(namespace: string, key: string): Promise<StateEntry | undefined>; // expired → undefined
  /** Current live entries (TTL respected), optionally by key prefix. */
  listState(namespace: string, prefix?: string): Promise<StateEntry[]>;
  /** The namespace's current version (0 when never written). */
  namespaceVersion(namespace: string): Promise<number>;
  listVersions(namespace: string, opts?: { limit?: number; beforeVersion?: number }): Promise<StateVersionInfo[]>;
  /** The whole namespace as it was right after `version` (expired keys included as they were). */
  stateAt(namespace: string, version: number): Promise<Record<string, unknown>>;
  /** Makes the namespace equal to stateAt(version) by writing a NEW version with only the diff. */
  rollback(namespace: string, version: number, reason?: string): Promise<number>;
  stateSize(namespace: string): Promise<number>;
  /** Deletes expired keys as a new version per namespace touched; returns keys removed. */
  purgeExpired(): Promise<number>;

  // ---- events -----------------------------------------------------------------------------
  /** Replaces the event names a consumer group subscribes to ('*' = all). Persisted. */
  setSubscriptions(consumer: string, eventNames: string[]): Promise<void>;
  getSubscriptions(): Promise<Record<string, string[]>>;
  /** Publishes outside a run (API, system). Dedupe by id; fan-out to subscribers. */
  publish(events: NewEvent[]): Promise<number>;
  getEvent(id: string): Promise<StoredEvent | undefined>;
  listEvents(opts?: { afterSeq?: number; limit?: number; name?: string }): Promise<StoredEvent[]>;
  /**
   * Leases up to `limit` deliveries for a consumer: pending ones whose availableAt has come, and
   * in-flight ones whose lease expired (crash recovery). Oldest first. Increments attempts.
   */
  claimDeliveries(consumer: string, opts: ClaimOptions): Promise<Delivery[]>;
  /** Extends a lease; false if the lease is no longer held. */
  extendDelivery(deliveryId: number, leaseToken: string, leaseMs: number): Promise<boolean>;
  /** Gives a delivery back: retry at `retryAt`, or dead-letter it. False if the lease was lost. */
  failDelivery(
    deliveryId: number,
    leaseToken: string,
    outcome: { error: string; retryAt?: number; dead?: boolean },
  ): Promise<boolean>;
  /** Acknowledges deliveries outside a run (one statement); returns how many were still held. */
  ackDeliveries(tokens: Array<{ deliveryId: number; leaseToken: string }>): Promise<number>;
  /** Depth (unacknowledged, not dead) of a consumer group and the creation time of its oldest such event. */
  deliveryStats(consumer: string): Promise<{ depth: number; oldestCreatedAt: number | null }>;
  /**
   * Returns leased deliveries to pending immediately (daemon start / instance gone); with `owner`,
   * only those claimed by that node (ClaimOptions.owner): a node never releases another live node's.
   */
  releaseDeliveries(consumer?: string, owner?: string): Promise<number>;
  pendingCount(consumer: string): Promise<number>;
  pendingCounts(): Promise<Record<string, number>>;
  listDeadLetters(opts?: { consumer?: string; limit?: number }): Promise<DeadLetter[]>;
  /** Moves dead letters back to pending with attempts reset; all of a consumer's if ids absent. */
  redriveDeadLetters(opts: { consumer?: string; ids?: number[] }): Promise<number>;

  // ---- runs -------------------------------------------------------------------------------
  /** Records a run outside a commit (failed, missed, skipped). Folds into AgentStats. */
  recordRun(run: RunRecord): Promise<void>;
  listRuns(agent: string, opts?: { limit?: number; status?: RunStatus }): Promise<RunRecord[]>;
  agentStats(agent?: string): Promise<AgentStats[]>;

  // ---- schedules --------------------------------------------------------------------------
  getSchedule(agent: string): Promise<{ lastFireAt: number | null; nextFireAt: number | null }>;
  /**
   * Atomically records that the schedule time `fireAt` fired: true only if no fire at or after
   * `fireAt` was recorded before. This is the no-double-fire guarantee, also across restarts.
   */
  claimFire(agent: string, fireAt: number): Promise<boolean>;
  setNextFire(agent: string, nextFireAt: number | null): Promise<void>;
  /** getSchedule for many agents in one query (daemon boot); agents without a row are absent. */
  getSchedules(agents: string[]): Promise<Map<string, { lastFireAt: number | null; nextFireAt: number | null }>>;
  /** setNextFire for many agents in one statement (one scheduler tick, or the boot). */
  setNextFires(entries: Array<{ agent: string; nextFireAt: number | null }>): Promise<void>;

  // ---- agent control ----------------------------------------------------------------------
  getDesired(agent: string): Promise<DesiredState | undefined>;
  setDesired(agent: string, desired: DesiredState): Promise<void>;
  recordTransition(t: Transition): Promise<void>;
  listTransitions(agent: string, limit?: number): Promise<Transition[]>;

  // ---- meta -------------------------------------------------------------------------------
  /** Small key-value for daemon bookkeeping (last heartbeat time for downtime detection, ...). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** getMeta for many keys in one query; keys without a value are absent. */
  getMetas(keys: string[]): Promise<Map<string, string>>;
  /** setMeta for many keys in one statement. */
  setMetas(entries: Array<[key: string, value: string]>): Promise<void>;
}

export type Store = StoreLike;
