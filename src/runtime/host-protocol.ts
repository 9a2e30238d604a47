// Messages inside the runtime: daemon ⇄ host (IPC) and host ⇄ worker (the worker's parentPort).
// Agent-facing shapes (AgentSpec, Invocation, RpcRequest …) are in protocol.ts; these envelopes
// only route them. Every message names the instance it is about, since a host (and a shared
// worker) holds several.
import type {
  AgentDescription,
  AgentSpec,
  InstanceExit,
  Invocation,
  InvocationResult,
  LogLine,
  MemorySample,
  MetricSample,
  RpcRequest,
  RpcResponse,
  SerializedError,
} from './protocol.js';
import type { SdkUrls } from './paths.js';

export interface HostOptions {
  sdk: SdkUrls;
  /** Shared-isolation instances are packed into at most this many workers per host. */
  sharedWorkers: number;
}

/** daemon → host */
export type ToHost =
  | { t: 'init'; opts: HostOptions }
  | { t: 'start'; spec: AgentSpec }
  | { t: 'describe'; reqId: number; file: string; exportName?: string; compiled?: string }
  | { t: 'invoke'; instanceId: string; inv: Invocation }
  /** Every invocation the daemon started in one event-loop turn, in one message (batching). */
  | { t: 'invokes'; items: InvokeItem[] }
  | { t: 'probe'; instanceId: string; reqId: number; kind: 'liveness' | 'readiness' }
  /** Without runId: the instance's signal (stopping). With runId: only that run's signal. */
  | { t: 'abort'; instanceId: string; reason: string; runId?: string }
  | { t: 'stop'; instanceId: string; reason: string; dispose: boolean }
  | { t: 'rpcResult'; instanceId: string; reqId: number; res: RpcResponse };

// Batching: one message per hop per event-loop turn carries every invocation (and every result) of
// that turn. Measured before (bench/events, 2 cores): each IPC message costs the daemon ~20–40 µs
// of serialisation and a syscall, four per event; at 10k+ events/s that alone filled a core.
export interface InvokeItem {
  instanceId: string;
  inv: Invocation;
}

export interface ResultItem {
  instanceId: string;
  result: InvocationResult;
}

/**
 * Collects items during one turn and hands them over together on the next (setImmediate), so every
 * invocation or result of a turn travels in one message.
 */
export class TurnBatcher<T> {
  private items: T[] = [];
  private scheduled = false;
  constructor(private readonly flush: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const items = this.items;
      this.items = [];
      if (items.length > 0) this.flush(items);
    });
  }
}

/** Output of agent code, batched per tick. */
export interface OutputBatch {
  logs: LogLine[];
  metrics: Array<{ instanceId: string; agent: string; samples: MetricSample[] }>;
  dropped: Array<{ instanceId: string; agent: string; count: number }>;
}

/** host → daemon */
export type FromHost =
  | { t: 'ready'; pid: number }
  /** spare: the instance was loaded into the host's spare worker; spareBooted: that worker had its SDK loaded by then. */
  | { t: 'described'; instanceId: string; description: AgentDescription; coldStartMs: number; spare?: boolean; spareBooted?: boolean }
  /** The host's spare worker has loaded the SDK: a dedicated start now costs only the agent's own module. */
  | { t: 'spareReady' }
  | { t: 'startFailed'; instanceId: string; error: SerializedError }
  | { t: 'describeResult'; reqId: number; description?: AgentDescription; error?: SerializedError }
  | { t: 'result'; instanceId: string; result: InvocationResult }
  /** Every result that came back in one turn, in one message (batching). */
  | { t: 'results'; items: ResultItem[] }
  | { t: 'probeResult'; instanceId: string; reqId: number; ok: boolean }
  | { t: 'rpc'; instanceId: string; reqId: number; req: RpcRequest }
  | { t: 'output'; batch: OutputBatch }
  | { t: 'memory'; instanceId: string; sample: MemorySample; overSoft: boolean }
  /**
   * One sample of a worker for every instance in it (a shared worker holds thousands): one message
   * per worker and second, not one per instance. overSoft: the ids over their soft limit.
   */
  | { t: 'memories'; instanceIds: string[]; sample: MemorySample; overSoft: string[] }
  | { t: 'exit'; instanceId: string; exit: InstanceExit };

/** host → worker */
export type ToWorker =
  | { t: 'load'; spec: AgentSpec }
  | { t: 'describe'; reqId: number; file: string; exportName?: string; compiled?: string }
  | { t: 'invoke'; instanceId: string; inv: Invocation }
  | { t: 'invokes'; items: InvokeItem[] }
  | { t: 'probe'; instanceId: string; reqId: number; kind: 'liveness' | 'readiness' }
  | { t: 'abort'; instanceId: string; reason: string; runId?: string }
  | { t: 'unload'; instanceId: string }
  | { t: 'rpcResult'; instanceId: string; reqId: number; res: RpcResponse };

/** worker → host */
export type FromWorker =
  | { t: 'described'; instanceId: string; description: AgentDescription }
  | { t: 'loadFailed'; instanceId: string; error: SerializedError }
  | { t: 'describeResult'; reqId: number; description?: AgentDescription; error?: SerializedError }
  | { t: 'result'; instanceId: string; result: InvocationResult }
  | { t: 'results'; items: ResultItem[] }
  | { t: 'probeResult'; instanceId: string; reqId: number; ok: boolean }
  | { t: 'rpc'; instanceId: string; reqId: number; req: RpcRequest }
  | { t: 'output'; batch: OutputBatch }
  | { t: 'memory'; heapUsed: number; external: number; arrayBuffers: number; elu?: number }
  /** The worker has loaded the SDK (sent once). */
  | { t: 'booted' }
  /** Uncaught exception or unhandled rejection: the host ends the worker with reason 'crashed'. */
  | { t: 'fatal'; error: SerializedError };

/** workerData of every agent worker. */
export interface WorkerBoot {
  /** Int32Array over it: slot 0 is bumped by the worker's heartbeat interval. */
  heartbeat: SharedArrayBuffer;
  heartbeatIntervalMs: number;
  memoryIntervalMs: number;
  sdk: SdkUrls;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      message: err.message,
      ...(err.stack ? { stack: err.stack } : {}),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: typeof err === 'string' ? err : safeString(err) };
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Rebuilds an Error on the receiving side, keeping name, code and the remote stack. */
export function deserializeError(e: SerializedError): Error & { code?: string } {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code) err.code = e.code;
  if (e.stack) err.stack = e.stack;
  return err;
}
