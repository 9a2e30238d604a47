// One worker thread of an agent host (host-main.ts): boots it (module hooks only when needed), holds
// its heartbeat slot, instances, how it is ending, and relays output that bypassed console. Moved
// out of host-main.ts by composition: the host's state and message handling stay there, reached
// through SlotOwner.
import { Worker } from 'node:worker_threads';
import type { ExitReason, LogLine } from './protocol.js';
import type { FromWorker, ToWorker, WorkerBoot } from './host-protocol.js';
import { runtimeFiles, tsxUrls, type SdkUrls } from './paths.js';
import { DEFAULT_MAX_LOG_LINES_PER_SECOND, LineSplitter, LogRateLimiter } from './log-flood.js';
import { permissionExecArgv } from './sandbox-worker.js';

export const HEARTBEAT_INTERVAL_MS = 100;
const MEMORY_INTERVAL_MS = 1000;

/** What a WorkerSlot uses of its host (host-main.ts). */
export interface SlotOwner {
  /** The SDK workers load (the host's init options). */
  sdk(): SdkUrls;
  onMessage(slot: WorkerSlot, m: FromWorker): void;
  onExit(slot: WorkerSlot, code: number): void;
  /** A hosted instance by id (raw output goes to the slot's first one). */
  hosted(instanceId: string): { spec: { instanceId: string; agent: string } } | undefined;
  /** Host-originated output, batched per tick. */
  output: { log(line: LogLine): void; dropped(instanceId: string, agent: string, count: number): void };
}

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

export type SlotKind = 'dedicated' | 'shared' | 'describe';

export class WorkerSlot {
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
    private readonly owner: SlotOwner,
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
      sdk: owner.sdk(),
      __boot: {
        tsx: needTsx ? tsxUrls().api : null,
        hook: needTsx ? runtimeFiles.resolveHook : null,
        sdk: owner.sdk(),
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
      owner.onMessage(this, m);
    });
    this.worker.on('error', (err: Error & { code?: string }) => {
      if (this.failure) return;
      this.failure =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { reason: 'oom', message: `heap limit reached (${heapMb ?? 'default'} MB): ${err.message}` }
          : { reason: 'crashed', message: err.message || String(err) };
    });
    this.worker.on('exit', (code) => owner.onExit(this, code));
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
    const first = [...this.instances].map((id) => this.owner.hosted(id)).find(Boolean);
    if (!first) return;
    if (!this.outLimiter.admit(Date.now())) {
      this.owner.output.dropped(first.spec.instanceId, first.spec.agent, 1);
      return;
    }
    this.owner.output.log({ time: Date.now(), level: stream === 'stderr' ? 'warning' : 'info', agent: first.spec.agent, instance: first.spec.instanceId, msg, stream });
  }
}
