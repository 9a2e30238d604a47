// Worker thread entry: runs agent instances (one for `dedicated`, several for `shared`).
//
// Loaded by a tiny bootstrap (see host-main.ts) that has already registered the tsx hooks (for
// TypeScript agents) and sdk-resolve-hook (so `import … from 'openclaw-runtime'` is the daemon's SDK).
// Everything the agent does that needs the daemon goes out as an RpcRequest through the host.
import { parentPort, workerData } from 'node:worker_threads';
import { format } from 'node:util';
import type { AgentRuntimeContext } from '../agents/context.js';
import type { AgentSpec, Invocation, InvocationResult, LogLine, MetricSample, RpcRequest, RpcResponse } from './protocol.js';
import { deserializeError, serializeError, TurnBatcher, type FromWorker, type OutputBatch, type ResultItem, type ToWorker, type WorkerBoot } from './host-protocol.js';
import { InstanceContext, RunScope, runStorage, type WorkerLink } from './agent-context.js';
import { loadAgentClass, loadSdk, type AgentClass, type Sdk } from './agent-loader.js';
import { OpenClawError } from '../util/errors.js';
import { installHttpGuard } from '../security/guardrails/worker.js';
import { installSocketGuard } from '../security/guardrails/socket-guard.js';
import { applySandbox, lockWorkerPermissions, sandboxNetwork } from './sandbox-worker.js';
import { profileThreadFromEnv } from './thread-profile.js';

const port = parentPort!;
const boot = workerData as WorkerBoot;
const post = (m: FromWorker) => port.postMessage(m);

// ---- liveness heartbeat: bumped while the event loop turns; a busy loop freezes it ------------
const heartbeat = new Int32Array(boot.heartbeat);
setInterval(() => Atomics.add(heartbeat, 0, 1), boot.heartbeatIntervalMs).unref();

// ---- memory: this isolate's heap, external memory and array buffers, about once a second -----
// (and how busy its event loop was since the last sample).
let lastElu = performance.eventLoopUtilization();
setInterval(() => {
  const m = process.memoryUsage();
  const elu = performance.eventLoopUtilization();
  post({ t: 'memory', heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, elu: performance.eventLoopUtilization(elu, lastElu).utilization });
  lastElu = elu;
}, boot.memoryIntervalMs).unref();

// ---- output: log lines and metrics leave in one message per tick ------------------------------
let pendingLogs: LogLine[] = [];
let pendingMetrics = new Map<string, { instanceId: string; agent: string; samples: MetricSample[] }>();
let flushScheduled = false;

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function flush(): void {
  flushScheduled = false;
  const batch: OutputBatch = { logs: pendingLogs, metrics: [...pendingMetrics.values()], dropped: [] };
  for (const inst of instances.values()) {
    const n = inst.ctx.limiter.takeDropped();
    if (n > 0) batch.dropped.push({ instanceId: inst.spec.instanceId, agent: inst.spec.agent, count: n });
  }
  pendingLogs = [];
  pendingMetrics = new Map();
  if (batch.logs.length || batch.metrics.length || batch.dropped.length) post({ t: 'output', batch });
}

// ---- RPC to the daemon ------------------------------------------------------------------------
let nextRpcId = 1;
const pendingRpc = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

const link: WorkerLink = {
  rpc(instanceId: string, req: RpcRequest): Promise<unknown> {
    const reqId = nextRpcId++;
    return new Promise((resolve, reject) => {
      pendingRpc.set(reqId, { resolve, reject });
      post({ t: 'rpc', instanceId, reqId, req });
    });
  },
  log(line) {
    pendingLogs.push(line);
    scheduleFlush();
  },
  metric(instanceId, agent, sample) {
    let m = pendingMetrics.get(instanceId);
    if (!m) pendingMetrics.set(instanceId, (m = { instanceId, agent, samples: [] }));
    m.samples.push(sample);
    scheduleFlush();
  },
  dropped: scheduleFlush,
};

function settleRpc(reqId: number, res: RpcResponse): void {
  const p = pendingRpc.get(reqId);
  if (!p) return;
  pendingRpc.delete(reqId);
  if (res.ok) p.resolve(res.value);
  else p.reject(deserializeError(res.error));
}

// ---- instances ------------------------------------------------------------------------------

/** Lifecycle methods the runtime calls on an Agent instance; all optional. */
interface AgentObject {
  __attach?(ctx: AgentRuntimeContext): void;
  setup?(): unknown;
  run?(): unknown;
  teardown?(): unknown;
  onError?(err: unknown): unknown;
  liveness?(): unknown;
  readiness?(): unknown;
  [method: string]: unknown;
}

class AgentInstance {
  readonly ctx: InstanceContext;
  /** Per-run abort (a call's timeout or cancellation from the daemon). */
  readonly runAborts = new Map<string, AbortController>();

  constructor(
    readonly spec: AgentSpec,
    readonly agent: AgentObject,
  ) {
    this.ctx = new InstanceContext(spec, link);
    if (typeof agent.__attach === 'function') {
      agent.__attach(this.ctx.context);
    } else {
      // No SDK base with __attach: give the object the same services directly.
      const c = this.ctx.context;
      for (const key of ['state', 'sharedState', 'logger', 'metrics', 'llm', 'jobs', 'config'] as const) agent[key] = c[key];
      agent.emit = c.emit;
      agent.context = c;
      Object.defineProperty(agent, 'signal', { get: () => c.signal, configurable: true });
    }
  }

  async invoke(inv: Invocation): Promise<InvocationResult> {
    const started = performance.now();
    if (inv.commits) this.ctx.cache.committed(inv.commits);
    this.ctx.cache.sync(inv.versions ?? {});
    const runAbort = new AbortController();
    this.runAborts.set(inv.runId, runAbort);
    const sources = [this.ctx.abortController.signal, runAbort.signal];
    let timer: NodeJS.Timeout | undefined;
    if (inv.deadlineMs !== undefined) {
      // An absolute epoch time (> year 2001) or, when small, a budget in ms from now.
      const ms = inv.deadlineMs > 1e12 ? inv.deadlineMs - Date.now() : inv.deadlineMs;
      const deadline = new AbortController();
      sources.push(deadline.signal);
      timer = setTimeout(() => deadline.abort(new OpenClawError('run_deadline', `run ${inv.runId} passed its deadline`)), Math.max(0, ms));
      timer.unref();
    }
    const scope = new RunScope(this.ctx, inv, sources);
    try {
      const value = await runStorage.run(scope, () => this.call(inv));
      const result: InvocationResult = {
        runId: inv.runId,
        ok: true,
        writes: [...scope.writes.values()],
        reads: [...scope.reads.values()],
        emits: scope.emits,
        durationMs: performance.now() - started,
      };
      if (scope.intents.length > 0) result.intents = scope.intents;
      this.ctx.cache.finished(inv.runId, result.writes);
      if (inv.kind === 'call' && value !== undefined) result.value = cloneReturn(this.spec.agent, inv.method ?? '', value);
      return result;
    } catch (err) {
      if (typeof this.agent.onError === 'function') {
        try {
          await runStorage.run(scope, () => this.agent.onError!(err));
        } catch (e2) {
          this.ctx.log('error', `onError() threw: ${(e2 as Error)?.message ?? String(e2)}`, { error: serializeError(e2) });
        }
      }
      // The buffer is not returned: the daemon discards the run and the trigger is delivered again.
      return { runId: inv.runId, ok: false, error: serializeError(err), writes: [], reads: [], emits: [], durationMs: performance.now() - started };
    } finally {
      if (timer) clearTimeout(timer);
      this.runAborts.delete(inv.runId);
    }
  }

  private async call(inv: Invocation): Promise<unknown> {
    const a = this.agent;
    switch (inv.kind) {
      case 'setup':
        return typeof a.setup === 'function' ? a.setup() : undefined;
      case 'run':
        if (typeof a.run !== 'function') throw new OpenClawError('no_run_method', `${this.spec.agent} has no run() method to call`);
        return a.run();
      case 'teardown':
        return typeof a.teardown === 'function' ? a.teardown() : undefined;
      case 'event': {
        // Several methods may handle one event: they run in order, in ONE run transaction.
        const methods = (inv.method ?? '').split(',').filter(Boolean);
        if (methods.length === 0) throw new OpenClawError('no_handler', `${this.spec.agent} has no handler for '${inv.event?.name}'`);
        const e = inv.event!;
        const event = { id: e.id, name: e.name, data: e.data, source: e.source, createdAt: e.createdAt, attempt: e.attempt };
        for (const method of methods) {
          const fn = a[method];
          if (typeof fn !== 'function') throw new OpenClawError('no_handler', `${this.spec.agent} has no handler method '${method}'`);
          await (fn as (ev: unknown) => unknown).call(a, event);
        }
        return undefined;
      }
      case 'call': {
        const method = inv.method ?? '';
        const fn = RESERVED_CALL.has(method) ? undefined : a[method];
        if (typeof fn !== 'function') throw new OpenClawError('no_method', `${this.spec.agent} has no method '${method}' to call`, { status: 404 });
        return (fn as (payload: unknown, meta: unknown) => unknown).call(a, inv.payload, inv.meta);
      }
      default:
        throw new OpenClawError('bad_invocation', `unknown invocation kind '${String(inv.kind)}'`);
    }
  }

  async probe(kind: 'liveness' | 'readiness'): Promise<boolean> {
    const fn = this.agent[kind];
    if (typeof fn !== 'function') return true;
    try {
      return Boolean(await (fn as () => unknown).call(this.agent));
    } catch {
      return false;
    }
  }
}

/** Lifecycle methods are the runtime's to call, never through a 'call' invocation. */
const RESERVED_CALL = new Set(['constructor', 'setup', 'run', 'teardown', 'onError', 'liveness', 'readiness', '__attach', 'emit']);

/** A call's return value crosses two message ports: it must be structured-cloneable. */
function cloneReturn(agent: string, method: string, value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch (err) {
    throw new OpenClawError('call_value_invalid', `${agent}.${method}() returned a value that cannot be sent to the daemon (${(err as Error).message}); return plain data`, { status: 500 });
  }
}

const instances = new Map<string, AgentInstance>();
let sdkPromise: Promise<Sdk> | null = null;
const sdk = () => (sdkPromise ??= loadSdk(boot.sdk.index));
// Load the SDK now: a worker is often booted ahead of need (a host's spare), and every agent
// imports the SDK anyway. The host learns when it is loaded (a spare that is ready).
let sdkLoaded = false;
void sdk().then(
  () => {
    sdkLoaded = true;
    post({ t: 'booted' });
    collectWhenQuiet();
  },
  () => undefined,
);

// ---- memory: one full collection when the worker goes quiet after loading ----------------------
// Loading (the SDK, the agent module, setup()) leaves a few MB of garbage, and an idle isolate
// allocates too little for V8 to ever run a full GC on its own: an idle dedicated agent kept it
// for good (heap used 7.6 MB instead of 4.9, 20 agents started at once; issue 10). So once the
// worker is booted, and after each setup(), a full GC runs when nothing has happened for
// QUIET_MS and no invocation is running: a few ms of this worker's CPU, once per load. A busy
// worker does not need it (its allocations drive the GC). The bootstrap hands over gc() (the
// host runs with --expose-gc and the bootstrap hides it from agent code; worker-slot.ts).
const QUIET_MS = 1000;
let collect: (() => void) | null = null;
let quietTimer: NodeJS.Timeout | null = null;
let running = 0;

/** Called by the worker bootstrap with the isolate's gc(). */
export function useCollector(gc: () => void): void {
  collect = gc;
  if (sdkLoaded) collectWhenQuiet();
}

function collectWhenQuiet(): void {
  if (!collect) return;
  if (quietTimer) {
    quietTimer.refresh();
    return;
  }
  quietTimer = setTimeout(() => {
    quietTimer = null;
    if (running === 0) collect!();
  }, QUIET_MS).unref();
}

async function instantiate(cls: AgentClass, file: string): Promise<AgentObject> {
  try {
    return new cls() as AgentObject;
  } catch (err) {
    throw new OpenClawError('agent_constructor_failed', `${file}: the constructor of ${cls.name} threw: ${(err as Error)?.message ?? String(err)}`, {
      exitCode: 78,
      cause: err,
    });
  }
}

async function load(spec: AgentSpec): Promise<void> {
  try {
    applySandbox(spec);
    const s = await sdk();
    const cls = await loadAgentClass(spec.file, spec.exportName, s, spec.compiled);
    const description = s.describe(cls);
    const inst = new AgentInstance(spec, await instantiate(cls, spec.file));
    instances.set(spec.instanceId, inst);
    post({ t: 'described', instanceId: spec.instanceId, description });
  } catch (err) {
    post({ t: 'loadFailed', instanceId: spec.instanceId, error: serializeError(err) });
  }
}

async function describeOnly(reqId: number, file: string, exportName?: string, compiled?: string): Promise<void> {
  try {
    const s = await sdk();
    const cls = await loadAgentClass(file, exportName, s, compiled);
    post({ t: 'describeResult', reqId, description: s.describe(cls) });
  } catch (err) {
    post({ t: 'describeResult', reqId, error: serializeError(err) });
  }
}

// Results of the runs that finished in one turn leave in one message.
const results = new TurnBatcher<ResultItem>((items) => post(items.length === 1 ? { t: 'result', ...items[0]! } : { t: 'results', items }));

function invoke(instanceId: string, inv: Invocation): void {
  if (inv.kind !== 'setup') profileThreadFromEnv('worker');
  const inst = instances.get(instanceId);
  if (!inst) {
    const error = serializeError(new OpenClawError('instance_gone', `instance ${instanceId} is not loaded in this worker`));
    results.push({ instanceId, result: { runId: inv.runId, ok: false, error, writes: [], reads: [], emits: [], durationMs: 0 } });
    return;
  }
  running++;
  void inst.invoke(inv).then((result) => {
    running--;
    results.push({ instanceId, result });
    if (inv.kind === 'setup') collectWhenQuiet();
  });
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'load':
      void load(m.spec);
      break;
    case 'describe':
      void describeOnly(m.reqId, m.file, m.exportName, m.compiled);
      break;
    case 'invoke':
      invoke(m.instanceId, m.inv);
      break;
    case 'invokes':
      for (const it of m.items) invoke(it.instanceId, it.inv);
      break;
    case 'probe': {
      const inst = instances.get(m.instanceId);
      void (inst ? inst.probe(m.kind) : Promise.resolve(false)).then((ok) => post({ t: 'probeResult', instanceId: m.instanceId, reqId: m.reqId, ok }));
      break;
    }
    case 'abort':
      if (m.runId) instances.get(m.instanceId)?.runAborts.get(m.runId)?.abort(new OpenClawError('run_aborted', m.reason));
      else instances.get(m.instanceId)?.ctx.abortController.abort(new OpenClawError('instance_aborted', m.reason));
      break;
    case 'unload': {
      const inst = instances.get(m.instanceId);
      inst?.ctx.abortController.abort(new OpenClawError('instance_stopped', 'instance stopped'));
      instances.delete(m.instanceId);
      break;
    }
    case 'rpcResult':
      settleRpc(m.reqId, m.res);
      break;
  }
});

// ---- console.* in agent code becomes log lines of the instance that wrote them --------------
function consoleInstance(): AgentInstance | undefined {
  const scope = runStorage.getStore();
  if (scope) return instances.get(scope.instance.spec.instanceId);
  return instances.size === 1 ? instances.values().next().value : undefined;
}
const consoleTo = (level: 'debug' | 'info' | 'warning' | 'error', stream: 'stdout' | 'stderr') =>
  (...args: unknown[]) => {
    const inst = consoleInstance();
    if (inst) inst.ctx.log(level, format(...args), undefined, stream);
    else (stream === 'stdout' ? process.stdout : process.stderr).write(format(...args) + '\n');
  };
// Every HttpClient in this isolate applies the network policy and the running instance's limits.
installHttpGuard(() => consoleInstance()?.ctx.guard, () => instances.values().next().value?.ctx.guard);
// …and so does every other TCP connection: fetch, node:http(s), net/tls (security/guardrails/socket-guard.ts).
installSocketGuard(() => sandboxNetwork());
lockWorkerPermissions();

console.log = consoleTo('info', 'stdout');
console.info = consoleTo('info', 'stdout');
console.debug = consoleTo('debug', 'stdout');
console.warn = consoleTo('warning', 'stderr');
console.error = consoleTo('error', 'stderr');

// ---- faults: never silent. Report, then the host ends the worker ('crashed'). -----------------
let fatal = false;
function onFatal(kind: string, err: unknown): void {
  if (fatal) return;
  fatal = true;
  const e = serializeError(err);
  e.message = `${kind}: ${e.message}`;
  flush();
  post({ t: 'fatal', error: e });
}
process.on('uncaughtException', (err) => onFatal('uncaught exception', err));
process.on('unhandledRejection', (reason) => onFatal('unhandled promise rejection', reason));
