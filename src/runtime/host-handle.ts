// The daemon side of one agent host process (Host: forks host-main, routes its messages) and of
// one agent instance in it (Instance: the InstanceHandle, its calls, probes and its one exit).
// Moved out of runtime.ts by composition: they reach the runtime through HostOwner.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentDescription, AgentSpec, InstanceExit, Invocation, InvocationResult, MemorySample, SerializedError } from './protocol.js';
import type { InstanceHandle, RuntimeListener } from './types.js';
import type { FromHost, HostOptions, InvokeItem, ToHost } from './host-protocol.js';
import { serializeError, TurnBatcher } from './host-protocol.js';
import { OpenClawError } from '../util/errors.js';

/** What a Host and its Instances use of the runtime that made them (runtime.ts RuntimeImpl). */
export interface HostOwner {
  /** The host entry (file: URL) every host process runs. */
  readonly hostMain: string;
  readonly listener: RuntimeListener;
  /** After kill()/dispose(), how long a worker may take to end before its host's process group is killed. */
  readonly killEscalationMs: number;
  /** The host exited: no longer one of the runtime's. */
  forget(host: Host): void;
  /** A process-isolated instance answered its first call: fork the next host for this agent ahead. */
  replenishProcessHost(agent: string): void;
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

export class Host {
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
    private readonly rt: HostOwner,
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

export class Instance implements InstanceHandle {
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
    private readonly rt: HostOwner,
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
