// Agent host process entry. Forked by the daemon (runtime.ts) in its own process group; holds the
// worker threads that run TypeScript agents:
//   dedicated → one worker per instance; shared → several instances per worker, in a small pool;
//   process   → a host of its own with one worker.
// The host watches its workers (heartbeat, memory) and reports; the daemon decides. It exits when
// its IPC channel closes, so no host outlives the daemon.
import { Worker } from 'node:worker_threads';
import type { AgentSpec, ExitReason, InstanceExit, LogLine, MemorySample, SerializedError } from './protocol.js';
import {
  serializeError,
  type FromHost,
  type FromWorker,
  type HostOptions,
  type OutputBatch,
  type ResultItem,
  type ToHost,
  type InvokeItem,
  TurnBatcher,
  type ToWorker,
  type WorkerBoot,
} from './host-protocol.js';
import { FROM_SOURCE, runtimeFiles, tsxUrls } from './paths.js';
import { DEFAULT_MAX_LOG_LINES_PER_SECOND, LineSplitter, LogRateLimiter } from './log-flood.js';
import { permissionExecArgv } from './sandbox-worker.js';
import { profileThreadFromEnv } from './thread-profile.js';

const HEARTBEAT_INTERVAL_MS = 100;
const HEARTBEAT_POLL_MS = 100;
const MEMORY_INTERVAL_MS = 1000;

if (!process.send) {
  console.error('host-main is started by the OpenClaw daemon (child_process.fork), not directly');
  process.exit(2);
}
// No host outlives the daemon: when the IPC channel closes (daemon exited or was killed), go.
process.on('disconnect', () => process.exit(0));

let options: HostOptions | null = null;
const send = (m: FromHost) => {
  if (process.connected) process.send!(m);
};
const baselineRss = process.memoryUsage.rss();

// ---- worker bootstrap -----------------------------------------------------------------------
// A worker does not inherit the host's module hooks (Node 20), so a worker that needs them
// registers its own: tsx and the SDK resolver, only when running from source or for a module that
// was not compiled (runtime/compile.ts). A compiled agent is plain JavaScript that imports the SDK
// by URL: no hooks, no hooks thread. Source maps map its stack traces to the user's .ts lines.
// Hosts run with --expose-gc (runtime.ts): the bootstrap takes the isolate's gc() away from the
// global scope, before any agent code runs, and hands it to worker-main, which collects once the
// worker goes quiet after loading (see collectWhenQuiet there).
const BOOT = `
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';
const b = workerData.__boot;
const gc = typeof globalThis.gc === 'function' ? globalThis.gc : null;
if (gc) globalThis.gc = undefined;
process.setSourceMapsEnabled(true);
if (b.tsx) (await import(b.tsx)).register();
if (b.hook) register(b.hook, { data: b.sdk });
const main = await import(b.main);
if (gc) main.useCollector(gc);
`;
const BOOT_URL = new URL(`data:text/javascript,${encodeURIComponent(BOOT)}`);

type SlotKind = 'dedicated' | 'shared' | 'describe';

interface HostedInstance {
  spec: AgentSpec;
  slot: WorkerSlot;
  described: boolean;
  hasLiveness: boolean;
  startedAt: number;
  /** Loaded into the host's spare worker (a hand-over, not a spawn). */
  fromSpare: boolean;
  /** …and that spare had its SDK loaded when it was handed over. */
  spareBooted: boolean;
  /** Set from load until the host's spare is replaced after this instance came up. */
  spareDue?: NodeJS.Timeout;
}

class WorkerSlot {
  readonly worker: Worker;
  readonly heartbeat: Int32Array;
  readonly instances = new Set<string>();
  lastBeatValue = 0;
  lastBeatAt = Date.now();
  /** The worker has loaded the SDK ('booted'). */
  booted = false;
  /** Set when the host ends the worker on purpose, so the exit gets that reason. */
  ending: { reason: ExitReason; message: string } | null = null;
  /** An error seen before the exit ('crashed' or 'oom'). */
  failure: { reason: ExitReason; message: string } | null = null;
  private readonly outLimiter = new LogRateLimiter(DEFAULT_MAX_LOG_LINES_PER_SECOND);

  constructor(
    readonly kind: SlotKind,
    readonly needTsx: boolean,
    readonly heapMb: number | undefined,
    name: string,
  ) {
    const sab = new SharedArrayBuffer(4);
    this.heartbeat = new Int32Array(sab);
    const boot: WorkerBoot & { __boot: unknown } = {
      heartbeat: sab,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      memoryIntervalMs: MEMORY_INTERVAL_MS,
      sdk: options!.sdk,
      __boot: {
        tsx: needTsx ? tsxUrls().api : null,
        hook: needTsx ? runtimeFiles.resolveHook : null,
        sdk: options!.sdk,
        main: runtimeFiles.workerMain,
      },
    };
    this.worker = new Worker(BOOT_URL, {
      workerData: boot,
      // Only the permission model's flags: an explicit execArgv without them turns it off (sandbox-worker.ts).
      execArgv: permissionExecArgv(),
      stdout: true,
      stderr: true,
      name,
      ...(heapMb ? { resourceLimits: { maxOldGenerationSizeMb: heapMb } } : {}),
    });
    this.worker.on('message', (m: FromWorker) => {
      this.lastBeatAt = Date.now(); // a message proves the worker's event loop turns
      onWorkerMessage(this, m);
    });
    this.worker.on('error', (err: Error & { code?: string }) => {
      if (this.failure) return;
      this.failure =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { reason: 'oom', message: `heap limit reached (${heapMb ?? 'default'} MB): ${err.message}` }
          : { reason: 'crashed', message: err.message || String(err) };
    });
    this.worker.on('exit', (code) => onWorkerExit(this, code));
    // Output that bypassed console (process.stdout.write in agent code).
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) => this.rawLine(stream, line));
      this.worker[stream].setEncoding('utf8');
      this.worker[stream].on('data', (chunk: string) => splitter.push(chunk));
      this.worker[stream].on('end', () => splitter.end());
    }
  }

  post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  heartbeatAgeMs(now: number): number {
    return now - this.lastBeatAt;
  }

  end(reason: ExitReason, message: string): void {
    if (!this.ending) this.ending = { reason, message };
    void this.worker.terminate();
  }

  private rawLine(stream: 'stdout' | 'stderr', msg: string): void {
    const first = [...this.instances].map((id) => hosted.get(id)).find(Boolean);
    if (!first) return;
    if (!this.outLimiter.admit(Date.now())) {
      hostOutput.dropped(first.spec.instanceId, first.spec.agent, 1);
      return;
    }
    hostOutput.log({ time: Date.now(), level: stream === 'stderr' ? 'warning' : 'info', agent: first.spec.agent, instance: first.spec.instanceId, msg, stream });
  }
}

/** Host-originated output, batched per tick like the workers'. */
const hostOutput = {
  batch: { logs: [], metrics: [], dropped: [] } as OutputBatch,
  scheduled: false,
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.batch;
      this.batch = { logs: [], metrics: [], dropped: [] };
      send({ t: 'output', batch });
    });
  },
  log(line: LogLine) {
    this.batch.logs.push(line);
    this.schedule();
  },
  dropped(instanceId: string, agent: string, count: number) {
    this.batch.dropped.push({ instanceId, agent, count });
    this.schedule();
  },
};

// The results of every worker that came back in one turn leave in one message to the daemon.
const results = new TurnBatcher<ResultItem>((items) => send(items.length === 1 ? { t: 'result', ...items[0]! } : { t: 'results', items }));

/** Invocations of one daemon message, one message per worker slot. */
function invokeMany(items: InvokeItem[]): void {
  const bySlot = new Map<WorkerSlot, InvokeItem[]>();
  for (const it of items) {
    const slot = hosted.get(it.instanceId)?.slot;
    if (!slot) continue;
    let list = bySlot.get(slot);
    if (!list) bySlot.set(slot, (list = []));
    list.push(it);
  }
  for (const [slot, list] of bySlot) slot.post(list.length === 1 ? { t: 'invoke', ...list[0]! } : { t: 'invokes', items: list });
}

const hosted = new Map<string, HostedInstance>();
const sharedSlots: WorkerSlot[] = [];
const describeRequests = new Map<WorkerSlot, number>();

function exitInstance(inst: HostedInstance, exit: InstanceExit): void {
  if (!hosted.delete(inst.spec.instanceId)) return;
  inst.slot.instances.delete(inst.spec.instanceId);
  if (inst.described) send({ t: 'exit', instanceId: inst.spec.instanceId, exit });
  else send({ t: 'startFailed', instanceId: inst.spec.instanceId, error: { name: 'Error', message: `${inst.spec.file}: the agent worker ended while loading (${exit.reason}: ${exit.message})`, code: 'agent_start_failed' } });
}

function onWorkerExit(slot: WorkerSlot, code: number): void {
  if (spare === slot) spare = null;
  const i = sharedSlots.indexOf(slot);
  if (i >= 0) sharedSlots.splice(i, 1);
  const reqId = describeRequests.get(slot);
  if (reqId !== undefined) {
    describeRequests.delete(slot);
    send({ t: 'describeResult', reqId, error: { name: 'Error', message: `the module could not be described: worker ${slot.failure?.message ?? `exited with code ${code}`}` } });
  }
  const exit: InstanceExit =
    slot.ending ?? slot.failure ?? { reason: 'exited', message: `the agent called process.exit(${code})` };
  const shared = slot.kind === 'shared' && slot.instances.size > 1;
  for (const id of [...slot.instances]) {
    const inst = hosted.get(id);
    if (!inst) continue;
    const message = shared ? `${exit.message} (shared worker with ${[...slot.instances].filter((x) => x !== id).join(', ')})` : exit.message;
    exitInstance(inst, { reason: exit.reason, message, exitCode: code });
  }
}

function onWorkerMessage(slot: WorkerSlot, m: FromWorker): void {
  switch (m.t) {
    case 'described': {
      const inst = hosted.get(m.instanceId);
      if (!inst) return;
      inst.described = true;
      inst.hasLiveness = m.description.hasLiveness;
      // Boot the next spare once this instance is up — after its first invocation (setup) answers,
      // or SPARE_AFTER_MS after load if setup takes longer — not alongside its load and setup: they
      // would compete for CPU on the start path. A process-isolated host holds one instance: no spare.
      if (inst.spec.isolation === 'dedicated') {
        inst.spareDue = setTimeout(() => replaceSpareFor(inst), SPARE_AFTER_MS);
        inst.spareDue.unref();
      }
      send({ t: 'described', instanceId: m.instanceId, description: m.description, coldStartMs: performance.now() - inst.startedAt, spare: inst.fromSpare, spareBooted: inst.spareBooted });
      return;
    }
    case 'booted':
      slot.booted = true;
      if (slot === spare) send({ t: 'spareReady' });
      return;
    case 'loadFailed': {
      const inst = hosted.get(m.instanceId);
      if (inst) {
        hosted.delete(m.instanceId);
        slot.instances.delete(m.instanceId);
      }
      send({ t: 'startFailed', instanceId: m.instanceId, error: m.error });
      if (slot.kind !== 'shared') slot.end('killed', 'load failed');
      else slot.post({ t: 'unload', instanceId: m.instanceId });
      return;
    }
    case 'describeResult':
      describeRequests.delete(slot);
      send(m);
      slot.end('killed', 'describe done');
      return;
    case 'result': {
      const inst = hosted.get(m.instanceId);
      if (inst?.spareDue) replaceSpareFor(inst);
      results.push({ instanceId: m.instanceId, result: m.result });
      return;
    }
    case 'results':
      for (const r of m.items) {
        const inst = hosted.get(r.instanceId);
        if (inst?.spareDue) replaceSpareFor(inst);
        results.push(r);
      }
      return;
    case 'probeResult':
    case 'rpc':
      send(m);
      return;
    case 'output':
      send(m);
      return;
    case 'memory':
      onMemory(slot, m.heapUsed, m.external, m.arrayBuffers, m.elu);
      return;
    case 'fatal':
      slot.failure ??= { reason: 'crashed', message: m.error.message };
      slot.end('crashed', m.error.message);
      return;
  }
}

function onMemory(slot: WorkerSlot, heapUsed: number, external: number, arrayBuffers: number, elu?: number): void {
  const sample: MemorySample = { heapUsed, external, arrayBuffers, hostRss: process.memoryUsage.rss(), elu };
  // `external` already includes array buffers (Node's accounting); heap + external is what the
  // isolate holds.
  const used = heapUsed + external;
  let overHard: number | null = null;
  const instanceIds: string[] = [];
  const overSoft: string[] = [];
  for (const id of slot.instances) {
    const inst = hosted.get(id);
    if (!inst) continue;
    const { hardBytes, softBytes } = inst.spec.memory;
    instanceIds.push(id);
    if (softBytes && used > softBytes) overSoft.push(id);
    if (hardBytes && used > hardBytes) overHard = Math.min(overHard ?? hardBytes, hardBytes);
  }
  if (instanceIds.length === 1) send({ t: 'memory', instanceId: instanceIds[0]!, sample, overSoft: overSoft.length > 0 });
  else if (instanceIds.length > 1) send({ t: 'memories', instanceIds, sample, overSoft });
  if (overHard !== null) {
    slot.end('oom', `memory ${mb(used)} MB (heap ${mb(heapUsed)} + external ${mb(external)}) over the hard limit of ${mb(overHard)} MB`);
  }
}

const mb = (n: number) => Math.round(n / 1048576);

// The heartbeat slot moves while the worker's event loop turns; note when it last did.
setInterval(() => {
  const now = Date.now();
  const slots = new Set([...hosted.values()].map((i) => i.slot));
  for (const slot of slots) {
    const v = Atomics.load(slot.heartbeat, 0);
    if (v !== slot.lastBeatValue) {
      slot.lastBeatValue = v;
      slot.lastBeatAt = now;
    }
  }
  // A process-isolated agent owns the host: its RSS growth counts against its hard limit, which
  // also catches allocation in a synchronous loop that never gets to report a sample.
  if (hosted.size === 1) {
    const inst = hosted.values().next().value!;
    const hard = inst.spec.memory.hardBytes;
    if (inst.spec.isolation === 'process' && hard) {
      const grown = process.memoryUsage.rss() - baselineRss;
      if (grown > hard) inst.slot.end('oom', `host RSS grew by ${mb(grown)} MB, over the hard limit of ${mb(hard)} MB`);
    }
  }
}, HEARTBEAT_POLL_MS).unref();

/** Module hooks (tsx, SDK resolver) are needed from source, or for a module that was not compiled. */
function needTsx(spec: { file: string; compiled?: string } | null): boolean {
  return FROM_SOURCE || spec === null || !spec.compiled;
}

// A spare dedicated worker, booted ahead (SDK loaded), so that starting a dedicated instance on a
// warm host — a start, or a restart after a crash — is a hand-over that costs only the import of the
// agent's own (compiled) module. It is replaced once the instance that took it is up (its setup
// answered, or SPARE_AFTER_MS after load), with the heap cap last asked for. (It used to be replaced
// 50 ms after load, with the timer pushed back by every load: a restart that came inside that
// window found no spare and spawned a worker, the slow half of the bimodal restart times.)
let spare: WorkerSlot | null = null;
/** Set by dedicatedSlot() when it handed the spare over, read by start(). */
let spareTaken = false;
let spareTimer: NodeJS.Immediate | null = null;

const SPARE_AFTER_MS = 200;

function replaceSpareFor(inst: HostedInstance): void {
  if (!inst.spareDue) return;
  clearTimeout(inst.spareDue);
  inst.spareDue = undefined;
  scheduleSpare(inst.spec.memory.heapMb, inst.slot.needTsx);
}

function scheduleSpare(heapMb: number | undefined, tsx: boolean): void {
  if (spareTimer) clearImmediate(spareTimer);
  spareTimer = setImmediate(() => {
    spareTimer = null;
    if (spare && spare.heapMb === heapMb && spare.needTsx === tsx) return;
    if (spare) spare.end('killed', 'spare replaced');
    try {
      spare = new WorkerSlot('dedicated', tsx, heapMb, 'spare');
    } catch {
      spare = null;
    }
  });
}

function dedicatedSlot(spec: AgentSpec): WorkerSlot {
  const tsx = needTsx(spec);
  const heapMb = spec.memory.heapMb;
  let slot: WorkerSlot;
  if (spare && spare.heapMb === heapMb && (spare.needTsx || !tsx)) {
    spareTaken = true;
    slot = spare;
    spare = null;
    slot.lastBeatAt = Date.now();
  } else {
    slot = new WorkerSlot('dedicated', tsx, heapMb, spec.instanceId);
  }
  return slot;
}

function slotFor(spec: AgentSpec): WorkerSlot {
  if (spec.isolation !== 'shared') return dedicatedSlot(spec);
  const max = Math.max(1, options!.sharedWorkers);
  const tsx = needTsx(spec);
  const fits = sharedSlots.filter((s) => s.needTsx || !tsx);
  if (sharedSlots.length < max || fits.length === 0) {
    const slot = new WorkerSlot('shared', tsx, undefined, `shared-${sharedSlots.length}`);
    sharedSlots.push(slot);
    return slot;
  }
  return fits.reduce((a, b) => (b.instances.size < a.instances.size ? b : a));
}

function start(spec: AgentSpec): void {
  if (hosted.has(spec.instanceId)) {
    send({ t: 'startFailed', instanceId: spec.instanceId, error: { name: 'Error', message: `instance ${spec.instanceId} is already running in this host` } });
    return;
  }
  let slot: WorkerSlot;
  try {
    slot = slotFor(spec);
  } catch (err) {
    send({ t: 'startFailed', instanceId: spec.instanceId, error: serializeError(err) });
    return;
  }
  hosted.set(spec.instanceId, { spec, slot, described: false, hasLiveness: false, startedAt: performance.now(), fromSpare: spareTaken, spareBooted: spareTaken && slot.booted });
  spareTaken = false;
  slot.instances.add(spec.instanceId);
  slot.post({ t: 'load', spec });
}

function stop(instanceId: string, reason: string, dispose: boolean): void {
  const inst = hosted.get(instanceId);
  if (!inst) return;
  const why: ExitReason = 'killed';
  const message = dispose ? `stopped: ${reason}` : `killed: ${reason}`;
  const slot = inst.slot;
  if (slot.kind === 'shared' && slot.instances.size > 1 && slot.heartbeatAgeMs(Date.now()) < 10 * HEARTBEAT_INTERVAL_MS) {
    // Neighbours share the thread: take just this instance out while the thread is responsive.
    slot.post({ t: 'unload', instanceId });
    exitInstance(inst, { reason: why, message });
    return;
  }
  slot.end(why, message);
}

function probe(instanceId: string, reqId: number, kind: 'liveness' | 'readiness'): void {
  const inst = hosted.get(instanceId);
  if (!inst) return send({ t: 'probeResult', instanceId, reqId, ok: false });
  if (kind === 'liveness') {
    if (inst.slot.heartbeatAgeMs(Date.now()) > inst.spec.heartbeatTimeoutMs) return send({ t: 'probeResult', instanceId, reqId, ok: false });
    if (!inst.hasLiveness) return send({ t: 'probeResult', instanceId, reqId, ok: true });
  }
  inst.slot.post({ t: 'probe', instanceId, reqId, kind });
}

function describe(reqId: number, file: string, exportName?: string, compiled?: string): void {
  try {
    const slot = new WorkerSlot('describe', needTsx({ file, compiled }), undefined, `describe-${reqId}`);
    describeRequests.set(slot, reqId);
    slot.post({ t: 'describe', reqId, file, ...(exportName ? { exportName } : {}), ...(compiled ? { compiled } : {}) });
  } catch (err) {
    const error: SerializedError = serializeError(err);
    send({ t: 'describeResult', reqId, error });
  }
}

process.on('message', (m: ToHost) => {
  switch (m.t) {
    case 'init':
      options = m.opts;
      send({ t: 'ready', pid: process.pid });
      return;
    case 'start':
      return start(m.spec);
    case 'describe':
      return describe(m.reqId, m.file, m.exportName, m.compiled);
    case 'invoke': {
      if (m.inv.kind !== 'setup') profileThreadFromEnv('host');
      const inst = hosted.get(m.instanceId);
      if (inst) inst.slot.post({ t: 'invoke', instanceId: m.instanceId, inv: m.inv });
      return;
    }
    case 'invokes':
      profileThreadFromEnv('host');
      return invokeMany(m.items);
    case 'probe':
      return probe(m.instanceId, m.reqId, m.kind);
    case 'abort':
      hosted.get(m.instanceId)?.slot.post({ t: 'abort', instanceId: m.instanceId, reason: m.reason, ...(m.runId ? { runId: m.runId } : {}) });
      return;
    case 'stop':
      return stop(m.instanceId, m.reason, m.dispose);
    case 'rpcResult':
      hosted.get(m.instanceId)?.slot.post(m);
      return;
  }
});
