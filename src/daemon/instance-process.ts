// Starting, probing and ending one agent's instances: the host worker or command process behind
// each replica, its startup deadline, its exit, its probes and its graceful end. The controller
// (agent-controller.ts) decides when (the lifecycle's effects); this file does it and reports back
// through `dispatch`.
import type { AgentConfig } from '../config/types.js';
import type { InstanceExit } from '../runtime/protocol.js';
import type { LifecycleEvent } from '../supervisor/lifecycle.js';
import { ProbeTracker } from '../supervisor/probes.js';
import type { Instance } from './instance.js';
import type { ControllerDeps } from './controller-deps.js';
import { executeRun } from './run-transaction.js';
import { OpenClawError } from '../util/errors.js';

/** What the instance processes need from their controller. */
export interface ProcessHost {
  dispatch(inst: Instance, event: LifecycleEvent): Promise<void>;
  wakeConsumer(): void;
}

export class InstanceProcesses {
  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: ControllerDeps,
    private readonly host: ProcessHost,
  ) {}

  async spawn(inst: Instance): Promise<void> {
    const gen = ++inst.generation;
    inst.ready = true;
    inst.busy = 0;
    // One startup deadline for the whole start path: host/worker start and module load (or the
    // command's spawn), then setup(). A start that hangs before setup() is a startup failure too.
    const startupMs = this.cfg.healthCheck.startupTimeoutMs;
    const deadline = this.deps.clock.now() + startupMs;
    const left = () => Math.max(0, deadline - this.deps.clock.now());
    try {
      const expand = this.deps.expandSecrets ?? (async <T>(v: T) => v);
      if (this.cfg.kind === 'command') {
        const h = await this.startWithin(
          this.deps.runtime.startCommand({
            instanceId: inst.id,
            agent: this.cfg.name,
            replica: inst.replica,
            command: await expand(this.cfg.command!, `agent:${this.cfg.name}`),
            env: this.deps.commandEnv(this.cfg.name, inst.id),
            stopTimeoutMs: this.cfg.gracefulShutdown.timeoutMs,
          }),
          left(),
          'the command did not start within the startup timeout',
        );
        inst.handle = { kind: 'command', h };
        this.watchExit(inst, gen, h.exited);
        if (gen !== inst.generation) return;
        await this.host.dispatch(inst, { type: 'setup_ok' });
        this.startProbes(inst, gen);
        return;
      }
      const mem = this.cfg.resources.memoryBytes;
      const h = await this.startWithin(this.deps.runtime.startAgent({
        instanceId: inst.id,
        agent: this.cfg.name,
        replica: inst.replica,
        file: this.cfg.source!,
        exportName: this.cfg.exportName,
        config: await expand(this.cfg.config, `agent:${this.cfg.name}`),
        isolation: this.cfg.isolation,
        memory: mem ? { heapMb: Math.max(16, Math.floor(mem / 1024 / 1024)), softBytes: Math.floor(mem * 0.9), hardBytes: mem } : {},
        heartbeatTimeoutMs: Math.max(1000, this.cfg.healthCheck.liveness.timeoutMs),
        logLevel: this.cfg.logging.level,
        guardrails: this.deps.guardrails,
      }), left(), 'the agent did not load within the startup timeout');
      inst.handle = { kind: 'module', h };
      this.deps.metrics?.workerStart?.(this.cfg.name, h.spareWorker === true);
      this.watchExit(inst, gen, h.exited);
      if (gen !== inst.generation) return;
      const outcome = await this.withTimeout(
        executeRun(this.deps.runContext, h, { trigger: 'setup', kind: 'setup', record: false, deadlineMs: left() }),
        left(),
        'setup() did not finish within the startup timeout',
      );
      if (gen !== inst.generation) return;
      if (!outcome.ok) {
        const msg = outcome.error ? `setup() failed: ${outcome.error.message}` : 'setup() failed';
        inst.lastError = msg;
        await this.killInstance(inst, msg);
        await this.host.dispatch(inst, { type: 'setup_failed', error: msg });
        return;
      }
      await this.host.dispatch(inst, { type: 'setup_ok' });
      this.startProbes(inst, gen);
    } catch (err) {
      if (gen !== inst.generation) return;
      const msg = (err as Error).message;
      inst.lastError = msg;
      await this.killInstance(inst, msg);
      await this.host.dispatch(inst, { type: 'setup_failed', error: msg });
    }
  }

  /** withTimeout for a start: an instance that comes up after its deadline is killed, not leaked. */
  private async startWithin<T extends { kill(reason: string): Promise<void> }>(start: Promise<T>, ms: number, message: string): Promise<T> {
    try {
      return await this.withTimeout(start, ms, message);
    } catch (err) {
      void start.then((late) => late.kill('started after its startup timeout')).catch(() => undefined);
      throw err;
    }
  }

  private async withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
    let cancel: (() => void) | null = null;
    const timeout = new Promise<never>((_, reject) => {
      cancel = this.deps.clock.setTimer(() => reject(new OpenClawError('startup_timeout', message)), ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      (cancel as (() => void) | null)?.();
    }
  }

  private watchExit(inst: Instance, gen: number, exited: Promise<InstanceExit>): void {
    void exited.then(async (exit) => {
      if (inst.generation !== gen) return;
      inst.handle = null;
      this.stopProbes(inst);
      if (inst.stopping) return; // an exit we asked for
      const msg = `${exit.reason}: ${exit.message}`;
      inst.lastError = msg;
      await this.host.dispatch(inst, { type: 'crashed', reason: exit.reason, message: exit.message, exitCode: exit.exitCode ?? null });
    });
  }

  async killInstance(inst: Instance, reason: string): Promise<void> {
    const h = inst.handle;
    inst.generation++; // its exit is now expected
    inst.handle = null;
    this.stopProbes(inst);
    if (!h) return;
    await h.h.kill(reason).catch(() => undefined);
  }

  async stopInstance(inst: Instance, reason: string): Promise<void> {
    inst.cancelRetry?.();
    inst.cancelRetry = null;
    await this.host.dispatch(inst, { type: 'stop', reason });
    if (inst.stopping) await inst.stopping;
  }

  /**
   * The `teardown` effect: stop admitting (the instance is no longer 'running'), fire its
   * AbortSignal, wait for in-flight runs up to the drain budget, run teardown() with its own
   * timeout, end the worker — and kill whatever did not finish. Then report `stopped`.
   */
  gracefulEnd(inst: Instance): Promise<void> {
    if (inst.stopping) return inst.stopping;
    inst.stopping = (async () => {
      const h = inst.handle;
      const gs = this.cfg.gracefulShutdown;
      this.stopProbes(inst);
      if (h?.kind === 'module') {
        h.h.abort('stopping');
        let expired = false;
        const cancel = this.deps.clock.setTimer(() => (expired = true), gs.timeoutMs);
        while (inst.busy > 0 && !expired) await new Promise((r) => setTimeout(r, 10));
        cancel();
        if (inst.busy === 0) {
          await this.withTimeout(
            executeRun(this.deps.runContext, h.h, { trigger: 'teardown', kind: 'teardown', record: false, deadlineMs: gs.teardownTimeoutMs }),
            gs.teardownTimeoutMs,
            'teardown() timed out',
          ).catch((err: Error) => this.deps.log('warning', `teardown did not finish: ${err.message}`, undefined, inst.id));
          inst.generation++;
          // Clear the fallback timer once dispose() wins: a pending timer kept a stopping daemon
          // process alive for two more seconds after it had drained.
          let disposeTimer: NodeJS.Timeout | undefined;
          await Promise.race([h.h.dispose(), new Promise((r) => (disposeTimer = setTimeout(r, 2000)))]);
          clearTimeout(disposeTimer);
          await h.h.kill('stopped').catch(() => undefined);
        } else {
          this.deps.log('warning', `drain timed out with ${inst.busy} run(s) in flight; killing`, undefined, inst.id);
          inst.generation++;
          await h.h.kill('drain timeout').catch(() => undefined);
        }
      } else if (h?.kind === 'command') {
        inst.generation++;
        const exit = await h.h.stop().catch(() => null);
        // systemd says so too ("State 'stop-sigterm' timed out. Killing."): the user should see
        // that the command ignored SIGTERM, or took longer than graceful_shutdown.timeout.
        if (exit?.signal === 'SIGKILL' && exit.message.startsWith('killed with SIGKILL')) this.deps.log('warning', exit.message, undefined, inst.id);
      }
      inst.handle = null;
      inst.busy = 0;
    })();
    const done = inst.stopping.finally(() => {
      inst.stopping = null;
    });
    // `stopped` may spawn again (a restart): report it once the old instance is fully gone.
    return done.then(() => this.host.dispatch(inst, { type: 'stopped' }));
  }

  private startProbes(inst: Instance, gen: number): void {
    this.stopProbes(inst);
    const hc = this.cfg.healthCheck;
    inst.liveness = new ProbeTracker('liveness', hc.liveness);
    inst.readiness = new ProbeTracker('readiness', hc.readiness);
    const every = (ms: number, fn: () => Promise<void>) => {
      let running = false;
      const t = setInterval(() => {
        if (running || inst.generation !== gen) return;
        running = true;
        void fn().finally(() => (running = false));
      }, ms);
      t.unref();
      inst.probeTimers.push(t);
    };
    const probe = async (kind: 'liveness' | 'readiness'): Promise<boolean> => {
      const h = inst.handle;
      if (!h) return false;
      const p = kind === 'liveness' ? hc.liveness : hc.readiness;
      if (h.kind === 'module') return h.h.probe(kind, p.timeoutMs).catch(() => false);
      if (!p.http && !p.exec) return true; // a command agent without a probe is alive while it runs
      return h.h.probe({ http: p.http, exec: p.exec }, p.timeoutMs).catch(() => false);
    };
    every(hc.liveness.intervalMs, async () => {
      if (inst.lc.status !== 'running' && inst.lc.status !== 'paused') return;
      const ok = await probe('liveness');
      if (inst.generation !== gen || !inst.liveness) return;
      const verdict = inst.liveness.record(ok);
      if (!ok) this.deps.metrics?.probeFailure(this.cfg.name, 'liveness');
      if (!ok) this.deps.log('warning', `liveness probe failed (${inst.liveness.consecutiveFailures}/${hc.liveness.unhealthyThreshold})`, undefined, inst.id);
      if (verdict === 'unhealthy') {
        const msg = `liveness probe failed ${hc.liveness.unhealthyThreshold} times in a row`;
        inst.lastError = msg;
        await this.killInstance(inst, msg);
        await this.host.dispatch(inst, { type: 'probe_failed', kind: 'liveness', message: msg });
      }
    });
    every(hc.readiness.intervalMs, async () => {
      if (inst.lc.status !== 'running') return;
      const ok = await probe('readiness');
      if (inst.generation !== gen || !inst.readiness) return;
      const verdict = inst.readiness.record(ok);
      if (!ok) this.deps.metrics?.probeFailure(this.cfg.name, 'readiness');
      if (verdict === 'unhealthy' && inst.ready) {
        inst.ready = false;
        this.deps.log('warning', 'readiness probe failing: taken out of event delivery', undefined, inst.id);
      } else if (verdict === 'healthy' && !inst.ready) {
        inst.ready = true;
        this.deps.log('info', 'readiness probe passing again: back in event delivery', undefined, inst.id);
        this.host.wakeConsumer();
      }
    });
  }

  private stopProbes(inst: Instance): void {
    for (const t of inst.probeTimers) clearInterval(t);
    inst.probeTimers = [];
  }

  /**
   * Takes the instance out of admission and waits (up to graceful_shutdown.timeout, on the
   * injected clock) for its runs in flight to finish.
   */
  async drainInstance(inst: Instance, gen: number): Promise<void> {
    if (inst.busy === 0) return;
    inst.draining = true;
    let expired = false;
    const cancel = this.deps.clock.setTimer(() => (expired = true), this.cfg.gracefulShutdown.timeoutMs);
    try {
      while (inst.busy > 0 && !expired && inst.generation === gen) await new Promise((r) => setTimeout(r, 5));
    } finally {
      cancel();
      inst.draining = false;
    }
  }
}
