// Daemon side of the runtime: forks agent hosts, routes invocations, probes and RPCs, and turns
// every way an instance can end into exactly one InstanceExit.
//
//   startAgent(spec) → host (by isolation) → worker loads the module → 'described' → InstanceHandle
//   agent code → RpcRequest → host → here → listener.rpc() → back the same way
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentDescription, AgentSpec, InstanceExit, Invocation, InvocationResult, MemorySample, SerializedError } from './protocol.js';
import type { CommandAgentSpec, CommandHandle, InstanceHandle, Runtime, RuntimeListener } from './types.js';
import type { FromHost, HostOptions, InvokeItem, ToHost } from './host-protocol.js';
import { serializeError, TurnBatcher } from './host-protocol.js';
import { hostFiles, tsxUrls, type SdkUrls } from './paths.js';
import { startCommand } from './command.js';
import { AgentCompiler, isCompilable } from './compile.js';
import os from 'node:os';
import path from 'node:path';
import { baseEnv, hostLaunch, needsOwnHost, type SandboxOptions } from './sandbox.js';
import { OpenClawError } from '../util/errors.js';

export interface RuntimeOptions {
  /** Hosts for dedicated and shared instances (process-isolated ones get their own). Default 1. */
  hostsMax?: number;
  /** Workers per host for shared instances. Default 2. */
  sharedWorkers?: number;
  /** Node options for host processes; default: tsx's loader when running from source, else none. */
  execArgv?: string[];
  /** What `import … from 'openclaw-runtime'` resolves to in agent code; default: this package's SDK. */
  sdk?: SdkUrls;
  /** After kill()/dispose(), how long a worker may take to end before its host's process group is killed. */
  killEscalationMs?: number;
  /**
   * Where agent sources are compiled to plain JavaScript (runtime/compile.ts); the daemon passes
   * `<dataDir>/cache/agents`. Default: a directory under the OS temp dir. `false`: load sources as
   * they are, with tsx in the worker.
   */
  compileCacheDir?: string | false;
  /** The agent sandbox (src/runtime/sandbox.ts); absent: base environment, no permission model. */
  sandbox?: SandboxOptions;
}

/** The instance ended while a call was in flight; the run is discarded and its trigger redelivered. */
export class InstanceGoneError extends OpenClawError {
  constructor(instanceId: string, exit: InstanceExit) {
    super('instance_gone', `instance ${instanceId} is gone (${exit.reason}: ${exit.message}); its run is discarded and will be retried`, { status: 503 });
  }
}

function remoteError(e: SerializedError, fallbackCode: string, exitCode = 1): OpenClawError {
  const err = new OpenClawError(e.code ?? fallbackCode, e.message, { status: 400, exitCode });
  if (e.stack) err.stack = e.stack;
  return err;
}

class Host {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly instances = new Map<string, Instance>();
  readonly describes = new Map<number, { resolve: (d: AgentDescription) => void; reject: (e: Error) => void }>();
  alive = true;
  /** The host's spare worker has loaded the SDK and not been handed over since ('spareReady'). */
  spareReady = false;
  private spareWaiters: Array<() => void> = [];
  /** Set when the daemon kills the host on purpose: its instances exit 'killed', not 'host_died'. */
  killedFor: string | null = null;

  constructor(
    readonly kind: 'common' | 'process',
    execArgv: string[],
    opts: HostOptions,
    private readonly rt: RuntimeImpl,
    env: Record<string, string>,
    cwd?: string,
  ) {
    this.child = fork(fileURLToPath(rt.hostMain), [], {
      execArgv,
      env, // never the daemon's own (sandbox.ts)
      ...(cwd ? { cwd } : {}),
      serialization: 'advanced',
      detached: true, // own process group: the daemon can kill the host and anything it spawned
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (this.child.pid === undefined) throw new OpenClawError('host_spawn_failed', 'could not start an agent host process');
    this.pid = this.child.pid;
    this.child.on('message', (m: FromHost) => this.onMessage(m));
    this.child.on('exit', (code, signal) => this.onExit(code, signal));
    this.child.on('error', () => {
      /* 'exit' follows; a send to a dead host lands here */
    });
    this.send({ t: 'init', opts });
  }

  send(m: ToHost): void {
    if (this.alive && this.child.connected) this.child.send(m);
  }

  /** The invocations of one turn go to the host in one message. */
  readonly invokes = new TurnBatcher<InvokeItem>((items) => this.send(items.length === 1 ? { t: 'invoke', ...items[0]! } : { t: 'invokes', items }));

  /** SIGKILL to the whole process group (the host and its workers); the last resort. */
  killGroup(reason: string): void {
    // Also once the host has exited: what agent code spawned is still in its process group.
    if (this.alive) this.killedFor ??= reason;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      try {
        this.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  private onMessage(m: FromHost): void {
    switch (m.t) {
      case 'ready':
        return;
      case 'spareReady':
        this.spareReady = true;
        for (const w of this.spareWaiters.splice(0)) w();
        return;
      case 'described':
        if (m.spare) this.spareReady = false;
      // falls through
      case 'startFailed':
      case 'result':
      case 'probeResult':
      case 'memory':
      case 'exit':
        this.instances.get(m.instanceId)?.onHostMessage(m);
        return;
      case 'results':
        for (const r of m.items) this.instances.get(r.instanceId)?.onHostMessage({ t: 'result', instanceId: r.instanceId, result: r.result });
        return;
      case 'memories': {
        const over = m.overSoft.length > 0 ? new Set(m.overSoft) : null;
        for (const id of m.instanceIds) this.instances.get(id)?.onHostMessage({ t: 'memory', instanceId: id, sample: m.sample, overSoft: over?.has(id) === true });
        return;
      }
      case 'rpc': {
        const inst = this.instances.get(m.instanceId);
        if (!inst) return;
        Promise.resolve()
          .then(() => this.rt.listener.rpc(m.instanceId, inst.agent, m.req))
          .then(
            (value) => this.send({ t: 'rpcResult', instanceId: m.instanceId, reqId: m.reqId, res: { ok: true, value } }),
            (err) => this.send({ t: 'rpcResult', instanceId: m.instanceId, reqId: m.reqId, res: { ok: false, error: serializeError(err) } }),
          );
        return;
      }
      case 'output': {
        const l = this.rt.listener;
        for (const line of m.batch.logs) l.log(line);
        for (const x of m.batch.metrics) l.metrics(x.instanceId, x.agent, x.samples);
        for (const d of m.batch.dropped) l.logsDropped(d.instanceId, d.agent, d.count);
        return;
      }
      case 'describeResult': {
        const p = this.describes.get(m.reqId);
        if (!p) return;
        this.describes.delete(m.reqId);
        if (m.description) p.resolve(m.description);
        else p.reject(remoteError(m.error ?? { name: 'Error', message: 'describe failed' }, 'agent_module_invalid', 78));
        return;
      }
    }
  }

  /** Resolves once the host's spare worker is ready (at once if it is); never if the host dies first. */
  whenSpareReady(): Promise<void> {
    return this.spareReady ? Promise.resolve() : new Promise((r) => this.spareWaiters.push(r));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.alive = false;
    this.spareWaiters = [];
    // Like a command agent's control group: what agent code left behind goes with the host.
    this.killGroup('agent host exited');
    this.rt.forget(this);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const exit: InstanceExit = this.killedFor
      ? { reason: 'killed', message: this.killedFor, exitCode: code, signal }
      : { reason: 'host_died', message: `agent host pid ${this.pid} exited (${how})`, exitCode: code, signal };
    for (const inst of [...this.instances.values()]) inst.settle(exit);
    for (const p of this.describes.values()) p.reject(new OpenClawError('host_died', `agent host pid ${this.pid} exited (${how}) while describing a module`));
    this.describes.clear();
  }
}

class Instance implements InstanceHandle {
  readonly instanceId: string;
  readonly agent: string;
  readonly pid: number;
  description!: AgentDescription;
  memory: MemorySample | null = null;
  coldStartMs = 0;
  spareWorker = false;
  spareBooted = false;
  private answered = false;
  readonly exited: Promise<InstanceExit>;
  readonly described: Promise<this>;
  private resolveExit!: (e: InstanceExit) => void;
  private resolveDescribed!: (i: this) => void;
  private rejectDescribed!: (e: Error) => void;
  private gone: InstanceExit | null = null;
  private isDescribed = false;
  private overSoft = false;
  private readonly pending = new Map<string, { resolve: (r: InvocationResult) => void; reject: (e: Error) => void }>();
  private readonly probes = new Map<number, (ok: boolean) => void>();
  private nextProbe = 1;

  constructor(
    readonly spec: AgentSpec,
    readonly host: Host,
    private readonly rt: RuntimeImpl,
  ) {
    this.instanceId = spec.instanceId;
    this.agent = spec.agent;
    this.pid = host.pid;
    this.exited = new Promise((r) => (this.resolveExit = r));
    this.described = new Promise((resolve, reject) => {
      this.resolveDescribed = resolve;
      this.rejectDescribed = reject;
    });
    this.described.catch(() => {});
  }

  onHostMessage(m: FromHost): void {
    switch (m.t) {
      case 'described':
        this.description = m.description;
        this.coldStartMs = m.coldStartMs;
        this.spareWorker = m.spare === true;
        this.spareBooted = m.spareBooted === true;
        this.isDescribed = true;
        this.resolveDescribed(this);
        return;
      case 'startFailed':
        this.settle({ reason: 'crashed', message: m.error.message }, remoteError(m.error, 'agent_start_failed', 78));
        return;
      case 'result': {
        if (this.host.kind === 'process' && !this.answered) this.rt.replenishProcessHost(this.spec.agent);
        this.answered = true;
        const p = this.pending.get(m.result.runId);
        if (p) {
          this.pending.delete(m.result.runId);
          p.resolve(m.result);
        }
        return;
      }
      case 'probeResult':
        this.probes.get(m.reqId)?.(m.ok);
        return;
      case 'memory':
        this.memory = m.sample;
        this.rt.listener.memory(this.instanceId, this.agent, m.sample);
        if (m.overSoft && !this.overSoft) this.rt.listener.memorySoftLimit?.(this.instanceId, this.agent, m.sample);
        this.overSoft = m.overSoft;
        return;
      case 'exit':
        this.settle(m.exit);
        return;
    }
  }

  /** The one place an instance ends. */
  settle(exit: InstanceExit, startError?: Error): void {
    if (this.gone) return;
    this.gone = exit;
    this.host.instances.delete(this.instanceId);
    if (!this.isDescribed) {
      this.rejectDescribed(startError ?? new OpenClawError('agent_start_failed', `${this.spec.file}: the agent ended while loading (${exit.reason}: ${exit.message})`, { exitCode: 78 }));
    }
    const err = new InstanceGoneError(this.instanceId, exit);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const p of this.probes.values()) p(false);
    this.probes.clear();
    // A process-isolated instance owns its host: the host goes with it.
    if (this.host.kind === 'process') this.host.killGroup(exit.message);
    this.resolveExit(exit);
  }

  invoke(inv: Invocation): Promise<InvocationResult> {
    if (this.gone) return Promise.reject(new InstanceGoneError(this.instanceId, this.gone));
    if (this.pending.has(inv.runId)) return Promise.reject(new OpenClawError('run_in_progress', `run ${inv.runId} is already in progress on ${this.instanceId}`));
    return new Promise((resolve, reject) => {
      this.pending.set(inv.runId, { resolve, reject });
      this.host.invokes.push({ instanceId: this.instanceId, inv });
    });
  }

  probe(kind: 'liveness' | 'readiness', timeoutMs: number): Promise<boolean> {
    if (this.gone) return Promise.resolve(false);
    const reqId = this.nextProbe++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.probes.delete(reqId);
        resolve(ok);
      };
      this.probes.set(reqId, done);
      this.host.send({ t: 'probe', instanceId: this.instanceId, reqId, kind });
    });
  }

  abort(reason: string, runId?: string): void {
    if (!this.gone) this.host.send({ t: 'abort', instanceId: this.instanceId, reason, ...(runId ? { runId } : {}) });
  }

  dispose(): Promise<void> {
    return this.end('stopped', true);
  }

  kill(reason: string): Promise<void> {
    if (this.host.kind === 'process' && !this.gone) {
      this.host.killGroup(`killed: ${reason}`);
      return this.exited.then(() => {});
    }
    return this.end(reason, false);
  }

  private async end(reason: string, dispose: boolean): Promise<void> {
    if (this.gone) return;
    this.host.send({ t: 'stop', instanceId: this.instanceId, reason, dispose });
    // terminate() cannot interrupt a blocking system call; if the worker does not go, its host does.
    const timer = setTimeout(() => {
      if (!this.gone) this.host.killGroup(`killed: ${reason} (worker did not end within ${this.rt.killEscalationMs} ms)`);
    }, this.rt.killEscalationMs);
    await this.exited;
    clearTimeout(timer);
  }
}

class RuntimeImpl implements Runtime {
  readonly hosts = new Set<Host>();
  readonly commands = new Set<CommandHandle>();
  readonly killEscalationMs: number;
  private readonly hostOpts: HostOptions;
  /** The host entry (file: URL) every host process runs. */
  readonly hostMain: string;
  private readonly execArgv: string[];
  private readonly hostsMax: number;
  private readonly sandbox: SandboxOptions | undefined;
  private nextDescribe = 1;
  private closed = false;
  readonly compiler: AgentCompiler | null;
  private spareProcessHost: { agent: string | null; host: Host } | null = null;

  constructor(
    readonly listener: RuntimeListener,
    opts: RuntimeOptions,
  ) {
    this.hostsMax = Math.max(1, opts.hostsMax ?? 1);
    const host = hostFiles();
    this.hostMain = host.hostMain;
    this.hostOpts = { sdk: opts.sdk ?? host.sdk, sharedWorkers: Math.max(1, opts.sharedWorkers ?? 2) };
    // From source the host itself is a .ts module: load tsx into it. From dist, plain node.
    this.execArgv = opts.execArgv ?? (host.fromSource ? ['--import', tsxUrls().loader] : []);
    this.killEscalationMs = opts.killEscalationMs ?? 5000;
    const cacheDir = opts.compileCacheDir ?? path.join(os.tmpdir(), `openclaw-agents-${process.getuid?.() ?? 0}`);
    this.compiler = cacheDir === false ? null : new AgentCompiler({ cacheDir, sdk: this.hostOpts.sdk });
    this.sandbox = opts.sandbox;
  }

  /** The compiled JavaScript for an agent source; null when it loads as is. */
  private async compiled(file: string, keepLastGood: boolean): Promise<string | null> {
    if (!this.compiler || !isCompilable(file)) return null;
    return this.compiler.compile(file, { keepLastGood });
  }

  forget(host: Host): void {
    this.hosts.delete(host);
    if (this.spareProcessHost?.host === host) this.spareProcessHost = null;
  }

  private spawnHost(kind: 'common' | 'process', agent: string | null = null): Host {
    if (kind === 'process') {
      // A process-isolated start (or restart after a crash) takes the host forked ahead for this
      // agent (its sandbox launch: environment, permissions, working directory); the next one is
      // forked once this instance's first invocation (setup) answers (replenishProcessHost), so
      // forking and loading host-main is neither on nor competing with the start path. Kept only
      // once a process-isolated agent exists (an idle host costs a Node process).
      const spare = this.spareProcessHost;
      if (spare && spare.agent === agent) {
        this.spareProcessHost = null;
        if (spare.host.alive) return spare.host;
      }
    }
    return this.newHost(kind, agent);
  }

  replenishProcessHost(agent: string): void {
    if (this.closed || this.spareProcessHost?.agent === agent) return;
    this.spareProcessHost?.host.killGroup('spare host replaced by one for another agent');
    this.spareProcessHost = { agent, host: this.newHost('process', agent) };
  }

  private newHost(kind: 'common' | 'process', agent: string | null = null): Host {
    const launch = this.sandbox ? hostLaunch(this.sandbox, agent) : { execArgv: [], env: baseEnv() };
    // --expose-gc: each worker's gc() is taken by its bootstrap (host-main.ts) for one collection
    // once it is quiet after loading; an idle isolate never runs a full GC on its own, and kept
    // its boot garbage: ≈ 2.7 MB per idle dedicated agent (issue 10).
    const h = new Host(kind, [...this.execArgv, ...launch.execArgv, '--expose-gc'], this.hostOpts, this, launch.env, 'cwd' in launch ? launch.cwd : undefined);
    this.hosts.add(h);
    return h;
  }

  /** The common host with the fewest instances; a new one while fewer than hostsMax exist. */
  private commonHost(): Host {
    const common = [...this.hosts].filter((h) => h.kind === 'common' && h.alive);
    if (common.length < this.hostsMax && (common.length === 0 || common.every((h) => h.instances.size > 0))) return this.spawnHost('common');
    return common.reduce((a, b) => (b.instances.size < a.instances.size ? b : a));
  }

  private assertOpen(): void {
    if (this.closed) throw new OpenClawError('runtime_closed', 'the runtime has been shut down');
  }

  async startAgent(spec: AgentSpec): Promise<InstanceHandle> {
    this.assertOpen();
    // Recompiled only when an input changed; a source that no longer compiles keeps its last good build.
    const compiled = spec.compiled ?? (await this.compiled(spec.file, true));
    if (compiled) spec = { ...spec, compiled };
    this.assertOpen();
    for (const h of this.hosts) {
      if (h.instances.has(spec.instanceId)) throw new OpenClawError('instance_exists', `instance ${spec.instanceId} is already running`, { status: 409 });
    }
    const own = spec.isolation === 'process' || needsOwnHost(this.sandbox, spec.agent);
    const host = own ? this.spawnHost('process', spec.agent) : this.commonHost();
    const inst = new Instance(spec, host, this);
    host.instances.set(spec.instanceId, inst);
    const env = this.sandbox?.agents.get(spec.agent)?.env;
    host.send({ t: 'start', spec: env && Object.keys(env).length > 0 ? { ...spec, env } : spec });
    return inst.described;
  }

  async startCommand(spec: CommandAgentSpec): Promise<CommandHandle> {
    this.assertOpen();
    const handle = await startCommand(spec, this.listener);
    this.commands.add(handle);
    void handle.exited.then(() => this.commands.delete(handle));
    return handle;
  }

  async describe(file: string, exportName?: string): Promise<AgentDescription> {
    this.assertOpen();
    // A syntax error throws here (AgentSyntaxError: file:line:column, exit code 78).
    const compiled = await this.compiled(file, false);
    this.assertOpen();
    const host = this.commonHost();
    const reqId = this.nextDescribe++;
    return new Promise((resolve, reject) => {
      host.describes.set(reqId, { resolve, reject });
      host.send({ t: 'describe', reqId, file, ...(exportName ? { exportName } : {}), ...(compiled ? { compiled } : {}) });
    });
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    const hostsGone = [...this.hosts].map(
      (h) =>
        new Promise<void>((resolve) => {
          if (!h.alive) return resolve();
          h.child.once('exit', () => resolve());
          h.killGroup('runtime shut down');
        }),
    );
    const commandsGone = [...this.commands].map((c) => c.stop().then(() => {}));
    await Promise.all([...hostsGone, ...commandsGone, this.compiler?.close().catch(() => undefined)]);
  }
}

export function createRuntime(listener: RuntimeListener, opts: RuntimeOptions = {}): Runtime {
  return new RuntimeImpl(listener, opts);
}

/** Cold start of an instance as measured by its host (worker spawn → described), for benches. */
export function coldStartMs(handle: InstanceHandle): number | null {
  return handle instanceof Instance ? handle.coldStartMs : null;
}

/** How an instance's worker was had, for benches: a spawn, a spare still booting, or a ready spare. */
export function workerSource(handle: InstanceHandle): 'spawned' | 'spare-booting' | 'spare-ready' | null {
  if (!(handle instanceof Instance)) return null;
  return handle.spareWorker ? (handle.spareBooted ? 'spare-ready' : 'spare-booting') : 'spawned';
}

/** Resolves once every live common host has a ready spare worker, for benches and tests. */
export function sparesReady(runtime: Runtime): Promise<void> {
  if (!(runtime instanceof RuntimeImpl)) return Promise.resolve();
  return Promise.all([...runtime.hosts].filter((h) => h.kind === 'common' && h.alive).map((h) => h.whenSpareReady())).then(() => {});
}
