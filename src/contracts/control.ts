// The daemon's facade for the control API (src/api) and in-process callers. The API validates
// input and maps errors; the daemon decides. Errors are OpenClawError subclasses (src/util/errors).
import type { DeadLetter, RunRecord, StateVersionInfo, StoredEvent, Transition } from './store.js';
import type { LogLine } from '../runtime/protocol.js';

export type AgentStatus =
  | 'initializing'
  | 'running'
  | 'paused'
  | 'error' // waiting to retry with backoff
  | 'stopped'
  | 'crash_loop'; // breaker tripped: not restarted until an explicit start

export interface InstanceView {
  instanceId: string;
  status: AgentStatus;
  pid: number | null;
  ready: boolean;
  startedAt: number | null; // when it last entered RUNNING
  restarts: number;
  lastError: string | null;
  memory: { heapUsed: number; external: number; arrayBuffers: number; hostRss: number } | null;
  /** The daemon (cluster node) running it; null when no node holds its lease (or on a single daemon: this one's id is null). */
  node?: string | null;
}

/** A daemon of the fleet (cluster node, PostgreSQL). */
export interface NodeView {
  nodeId: string;
  address: string | null;
  weight: number;
  capacity: number | null;
  pid: number | null;
  startedAt: number;
  heartbeatAt: number;
  alive: boolean;
  draining: boolean;
  /** Agent instances it holds leases of. */
  leases: number;
  instances: string[];
  /** This daemon. */
  self?: boolean;
}

export interface AgentView {
  name: string;
  kind: 'module' | 'command';
  status: AgentStatus; // the aggregate of its instances (worst first, running if any runs)
  desired: 'running' | 'paused' | 'stopped';
  reason: string | null; // why it is in this status (last transition reason)
  replicas: number;
  instances: InstanceView[];
  schedule: string | null; // human form: 'every 5m', 'cron 0 9 * * * (Europe/Paris)'
  subscriptions: string[];
  uptimeMs: number | null;
  lastRunAt: number | null;
  nextRunAt: number | null;
  runsTotal: number;
  runsFailed: number;
  successRate: number | null; // 0..1, null when no runs yet
  restarts: number;
  pendingEvents: number;
  stateVersion: number;
  stateSizeBytes: number;
  owner: string | null;
}

export type AgentAction = 'start' | 'stop' | 'pause' | 'resume' | 'restart';

export interface HealthView {
  status: 'ok' | 'degraded' | 'starting' | 'stopping';
  version: string;
  project: string;
  pid: number;
  uptimeMs: number;
  store: 'sqlite' | 'postgres';
  /** starting: instances in setup (initializing). */
  agents: { total: number; running: number; starting: number; error: number; stopped: number; paused: number };
}

export interface ControlPlane {
  listAgents(): Promise<AgentView[]>;
  getAgent(name: string): Promise<AgentView>;
  action(name: string, action: AgentAction): Promise<AgentView>;
  /** Starts a run now (outside the schedule); resolves with its run id when it has been admitted. */
  trigger(name: string, payload?: unknown): Promise<{ runId: string }>;

  getState(name: string, opts?: { version?: number }): Promise<{ agent: string; version: number; state: Record<string, unknown> }>;
  listStateVersions(name: string, opts?: { limit?: number }): Promise<StateVersionInfo[]>;
  rollbackState(name: string, version: number): Promise<{ version: number }>;
  /** Writes from outside a run (command agents over the API): one commit, new version. */
  writeState(name: string, writes: Array<{ key: string; value?: unknown; deleted?: boolean; ttlMs?: number }>): Promise<{ version: number }>;

  /** Recent log lines from the in-memory ring buffer (and log files when asked for more). */
  recentLogs(name: string, opts?: { limit?: number; sinceMs?: number; level?: LogLine['level'] }): Promise<LogLine[]>;
  /**
   * Follows an agent's log lines. The subscriber has a bounded queue: when it cannot keep up,
   * lines are dropped and `onDrop` tells how many. Returns the unsubscribe function.
   */
  followLogs(name: string, onLine: (line: LogLine) => void, onDrop?: (dropped: number) => void): () => void;

  publishEvent(e: { name: string; data?: unknown; id?: string }): Promise<{ id: string; published: boolean }>;
  listRuns(name: string, opts?: { limit?: number }): Promise<RunRecord[]>;
  listTransitions(name: string, opts?: { limit?: number }): Promise<Transition[]>;
  listDeadLetters(opts?: { agent?: string; limit?: number }): Promise<DeadLetter[]>;
  redriveDeadLetters(opts: { agent?: string; ids?: number[] }): Promise<{ redriven: number }>;
  listEvents(opts?: { afterSeq?: number; limit?: number; name?: string }): Promise<StoredEvent[]>;

  health(): HealthView;
  /** The daemons sharing this store (cluster); on a single daemon: an empty list. */
  listNodes(): Promise<NodeView[]>;
  /** /healthz: the process serves. /readyz: store reachable and startup finished. /startupz: started. */
  probes(): { live: boolean; ready: boolean; started: boolean };
  /** Graceful stop of the whole daemon (drains). Used by POST /api/daemon/stop and signals. */
  shutdown(reason: string): Promise<void>;
}
