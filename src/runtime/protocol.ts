// The one small, typed protocol between the daemon and agent code.
//
//   daemon main thread ──IPC (child_process, serialization: 'advanced')──► agent host process
//   agent host         ──MessagePort──────────────────────────────────────► worker thread (agent)
//
// The daemon owns every connection and decision; agent code reaches the store, the bus and the
// LLM router only through RpcRequest. A run's state writes and emits are buffered in the worker
// and come back in InvocationResult; the daemon commits them in one store transaction.
import type { ScheduleSpec } from '../scheduler/types.js';
import type { StateWrite, StateRead } from '../store/types.js';
import type { Isolation } from '../config/types.js';
import type { WorkerGuardrails } from '../security/guardrails/worker.js';
import type { JobHandlerOptions } from '../jobs/policy.js';

/** What the daemon asks a host to start. One per agent replica ("instance"). */
export interface AgentSpec {
  instanceId: string; // "analyzer#0"
  agent: string;
  replica: number;
  file: string; // absolute path of the agent module (.ts, .js, .mjs)
  /** The compiled JavaScript the worker imports instead of `file` (runtime/compile.ts); errors still name `file`. */
  compiled?: string;
  exportName?: string; // default: the default export, else the only exported Agent subclass
  config: Record<string, unknown>;
  isolation: Isolation;
  memory: {
    /** V8 heap cap for the worker (resourceLimits.maxOldGenerationSizeMb). */
    heapMb?: number;
    /** Sampled about once a second (heap + external + arrayBuffers): over soft → drain and restart. */
    softBytes?: number;
    /** Over hard → killed at once. */
    hardBytes?: number;
  };
  /** Liveness via heartbeat: no heartbeat for this long while busy counts as one probe failure. */
  heartbeatTimeoutMs: number;
  logLevel: 'debug' | 'info' | 'warning' | 'error';
  maxLogLinesPerSecond?: number; // flood guard; excess lines are dropped and counted
  /** Network policy and rate limits enforced in the worker (security.sandbox, rate limits). */
  guardrails?: WorkerGuardrails;
  /** The agent's declared `env:` (set by the runtime from its sandbox options; src/runtime/sandbox.ts). */
  env?: Record<string, string>;
}

/** What the loaded module declares; reported once after load, before setup(). */
export interface AgentDescription {
  className: string;
  schedule: ScheduleSpec | null; // from `static schedule`
  /** @on handlers: event name → method name (several methods may share an event). */
  handlers: Array<{ event: string; method: string }>;
  /** Job handlers (@job / static jobs): queue name → method, with the handler's options. Absent = none. */
  jobs?: Array<{ name: string; method: string; options: JobHandlerOptions }>;
  /** @window declarations (a window over a configured stream, handled by `method`). Absent = none. */
  windows?: Array<{ name: string; method: string; spec: Record<string, unknown> }>;
  hasLiveness: boolean;
  hasReadiness: boolean;
}

export interface InvocationEvent {
  id: string;
  name: string;
  data: unknown;
  source: string | null;
  createdAt: number;
  attempt: number;
}

export type InvocationKind = 'setup' | 'run' | 'event' | 'teardown' | 'call';

/**
 * Work a run asks a daemon subsystem to do in its commit (`this.jobs.enqueue` → kind 'jobs.enqueue').
 * Buffered like emits; at commit the daemon turns them into TxEffects of the run's transaction.
 */
export interface RunIntent {
  kind: string;
  data: unknown;
}

export interface Invocation {
  runId: string;
  kind: InvocationKind;
  /**
   * For 'event': the handler method(s) to call with the event, comma-separated, in order.
   * For 'call': the one method to call with `payload`; its return value comes back in `value`.
   */
  method?: string;
  event?: InvocationEvent;
  /** For 'run' triggered manually: the trigger payload (this.trigger?.payload). For 'call': the argument. */
  payload?: unknown;
  /** For 'call': the method's second argument. */
  meta?: unknown;
  scheduledAt?: number | null;
  /**
   * The committed versions of the namespaces this agent reads (own and shared). The worker keeps
   * a read cache; it drops cached keys of a namespace whose version moved since it last looked.
   */
  versions: Record<string, number>;
  /**
   * Runs of this instance committed since its previous invocation, in commit order, with the
   * namespace versions each produced: the worker folds those runs' own writes into its read cache
   * (a key the instance just wrote is then read without an RPC).
   */
  commits?: Array<{ runId: string; versions: Record<string, number> }>;
  /** Wall-clock budget; the worker's AbortSignal for this invocation fires at this deadline. */
  deadlineMs?: number;
  /** W3C traceparent of the daemon's span for this invocation (tracing on): log lines and state RPCs join it. */
  traceparent?: string;
}

/** An event a run emitted (buffered until its commit). `key`: the ordering key (NewEvent.key). */
export interface EmittedEvent {
  id: string;
  name: string;
  data: unknown;
  key?: string;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export interface InvocationResult {
  runId: string;
  ok: boolean;
  error?: SerializedError;
  /** Buffered writes (own namespace and SHARED_NAMESPACE), reads with versions seen, emits. */
  writes: StateWrite[];
  reads: StateRead[];
  emits: EmittedEvent[];
  /** Subsystem work buffered by the run (job enqueues, ...), committed with it. */
  intents?: RunIntent[];
  /** For 'call': the method's return value (structured clone). */
  value?: unknown;
  durationMs: number;
}

export interface LogLine {
  time: number;
  level: 'debug' | 'info' | 'warning' | 'error';
  agent: string;
  instance: string;
  msg: string;
  runId?: string;
  /** OpenTelemetry trace and span of the run that wrote the line (tracing on). */
  traceId?: string;
  spanId?: string;
  fields?: Record<string, unknown>;
  stream?: 'stdout' | 'stderr'; // command agents and console.* in workers
}

export interface MetricSample {
  kind: 'counter' | 'gauge' | 'histogram';
  name: string;
  value: number;
  labels?: Record<string, string>;
}

/**
 * Agent code → daemon. Every call of this.state/this.emit/this.llm that needs the daemon. A request
 * made during a traced run also carries `traceparent` (RpcTrace), the parent of the daemon's span.
 */
export type RpcRequest =
  | { op: 'state.get'; namespace: string; key: string }
  | { op: 'state.list'; namespace: string; prefix?: string }
  /** checkpoint(): commit the run's buffer now; the worker then clears it. */
  | { op: 'state.checkpoint'; runId: string; writes: StateWrite[]; reads: StateRead[]; emits: EmittedEvent[]; intents?: RunIntent[] }
  /** A replicated agent's agent-wide rate limit (guardrails); throws rate_limited when over. */
  | { op: 'guardrails.take'; limit: 'api_calls_per_minute'; call: string }
  /** runId: the run making the call (its usage row names it); absent outside a run. */
  | { op: 'llm.complete'; request: unknown; runId?: string }
  /** Opens a stream in the daemon → { streamId }; chunks are pulled with llm.stream.next. */
  | { op: 'llm.stream'; request: unknown; runId?: string }
  /** → { chunks: string[], done: boolean }: what arrived since the last pull (waits for at least one). */
  | { op: 'llm.stream.next'; streamId: string }
  /** The agent stopped iterating: the daemon aborts the upstream call. */
  | { op: 'llm.stream.cancel'; streamId: string };

export interface RpcTrace {
  traceparent?: string;
}

export type RpcResponse =
  | { ok: true; value: unknown }
  | { ok: false; error: SerializedError };

/** Memory sample of one instance, about once a second. */
export interface MemorySample {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** RSS of the whole host process (shared by every worker in it). */
  hostRss: number;
  /** Event-loop utilisation of the worker thread since the previous sample, 0..1. */
  elu?: number;
}

export type ExitReason =
  | 'crashed' // threw outside a run, unhandled rejection, worker error
  | 'exited' // process.exit() or the command exited
  | 'oom' // heap limit or hard memory limit
  | 'memory_soft_limit'
  | 'unresponsive' // heartbeat missing / liveness failed past threshold
  | 'killed' // by the daemon on request
  | 'host_died'; // the host process went away

export interface InstanceExit {
  reason: ExitReason;
  message: string;
  exitCode?: number | null;
  signal?: string | null;
}
