// Daemon side of the runtime: forks agent hosts, routes invocations, probes and RPCs, and turns
// every way an instance can end into exactly one InstanceExit (a host and an instance: host-handle.ts).
//
//   startAgent(spec) → host (by isolation) → worker loads the module → 'described' → InstanceHandle
//   agent code → RpcRequest → host → here → listener.rpc() → back the same way
import type { AgentDescription, AgentSpec } from './protocol.js';
import type { CommandAgentSpec, CommandHandle, InstanceHandle, Runtime, RuntimeListener } from './types.js';
import type { HostOptions } from './host-protocol.js';
import { hostFiles, tsxUrls, type SdkUrls } from './paths.js';
import { startCommand } from './command.js';
import { AgentCompiler, isCompilable } from './compile.js';
import os from 'node:os';
import path from 'node:path';
import { baseEnv, hostLaunch, needsOwnHost, type SandboxOptions } from './sandbox.js';
import { OpenClawError } from '../util/errors.js';
import { Host, Instance, type HostOwner } from './host-handle.js';

export { InstanceGoneError } from './host-handle.js';

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

class RuntimeImpl implements Runtime, HostOwner {
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
    // --expose-gc: each worker's gc() is taken by its bootstrap (worker-slot.ts) for one collection
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
