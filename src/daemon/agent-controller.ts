// One agent under supervision: its replicas (instances), its schedule admission and its event
// consumer. Lifecycle decisions come from the pure transition function in src/supervisor; this
// file performs their effects (spawn, kill, teardown, timers) and feeds back what happened.
import { randomUUID } from 'node:crypto';
import type { AgentConfig } from '../config/types.js';
import type { Clock, ScheduleSpec } from '../scheduler/types.js';
import type { Store, Delivery, RunRecord, RunTrigger, TxEffect } from '../store/types.js';
import type { CommandHandle, InstanceHandle, Runtime } from '../runtime/types.js';
import type { AgentDescription, InstanceExit, LogLine, SerializedError } from '../runtime/protocol.js';
import { transition, initialInstanceState, type InstanceState, type LifecycleEvent, type Effect } from '../supervisor/lifecycle.js';
import { ProbeTracker } from '../supervisor/probes.js';
import { EventConsumer } from './event-consumer.js';
import { EmbeddedBus } from '../bus/embedded.js';
import type { Bus } from '../bus/types.js';
import { executeRun, type RunContext, type RunOutcome } from './run-transaction.js';
import type { AgentStatus, InstanceView } from './control.js';
import { InvalidStateTransitionError, OpenClawError } from '../util/errors.js';
import { decideOverlap } from '../scheduler/timeline.js';
import type { WorkerGuardrails } from '../security/guardrails/worker.js';
import { restartReason, type CoreMetrics } from '../observability/metrics.js';

export interface ControllerDeps {
  store: Store;
  /** The event bus the agent's `@on` lane claims from (default: the embedded bus on `store`). */
  bus?: Bus;
  runtime: Runtime;
  clock: Clock;
  runContext: RunContext;
  log: (level: LogLine['level'], msg: string, fields?: Record<string, unknown>, instance?: string) => void;
  /** Environment for command agents (OPENCLAW_URL, OPENCLAW_TOKEN…). */
  commandEnv: (agent: string, instanceId: string) => Record<string, string>;
  /** Expands `${secret:NAME}` in the agent's config and command (env, args) when an instance starts. */
  expandSecrets?: <T>(value: T, reader: string) => Promise<T>;
  onTransition?: (agent: string, instance: string, from: string, to: string, reason: string) => void;
  /** Network policy and rate limits for the agent's workers (security guardrails). */
  guardrails?: WorkerGuardrails;
  /** Restart and probe-failure counters (the daemon's registry). */
  metrics?: CoreMetrics;
}

/** Options of AgentController.call(). */
export interface CallOptions {
  /** Recorded on the run: 'job', 'workflow', 'call', … */
  trigger: RunTrigger;
  /** Default: a new UUID. Logs of the call carry it. */
  runId?: string;
  /**
   * Committed in the call's transaction with its state writes and emits; a throw aborts it all.
   * As a function it receives the method's return value (to store a job's result, a step's output).
   */
  effects?: TxEffect[] | ((value: unknown) => TxEffect[]);
  /**
   * Budget in ms from now (or an absolute epoch-ms time when > 1e12). At the deadline the call's
   * AbortSignal (this.signal) fires and the call returns `{ ok: false, error.code: 'call_timeout' }`;
   * whatever the method does after that is never committed. Also bounds the wait for an instance.
   */
  deadlineMs?: number;
  /** Cancels the call the same way (error.code 'call_aborted'). */
  signal?: AbortSignal;
  /** The method's second argument (plain data). */
  meta?: unknown;
}

/** What AgentController.call() resolves to; it never rejects. */
export interface CallResult {
  ok: boolean;
  /** The method's return value (structured clone) when ok. */
  value?: unknown;
  /**
   * Why not ok. error.code: 'call_timeout' | 'call_aborted' | 'agent_unavailable' | 'no_method' |
   * 'instance_gone' | 'lease_lost' (a job effect refused the commit) | the agent's own error code.
   */
  error?: SerializedError;
  runId: string;
}

type Handle = { kind: 'module'; h: InstanceHandle } | { kind: 'command'; h: CommandHandle };

class Instance {
  lc: InstanceState;
  handle: Handle | null = null;
  generation = 0;
  busy = 0;
  ready = true;
  restarts = 0;
  startedAt: number | null = null;
  lastError: string | null = null;
  cancelRetry: (() => void) | null = null;
  probeTimers: NodeJS.Timeout[] = [];
  liveness: ProbeTracker | null = null;
  readiness: ProbeTracker | null = null;
  healthyTimer: (() => void) | null = null;
  /** Resolves when the current stop sequence finishes. */
  stopping: Promise<void> | null = null;
  /** Taken out of admission while it drains before a memory soft-limit restart. */
  draining = false;
  /** Why it last went down (a fixed vocabulary), for openclaw_restarts_total{reason}. */
  downReason = 'other';

  constructor(
    readonly id: string,
    readonly replica: number,
    now: number,
  ) {
    this.lc = initialInstanceState(now);
  }
}

export class AgentController {
  readonly instances: Instance[];
  private readonly consumer: EventConsumer | null;
  private schedule: ScheduleSpec | null;
  private runningScheduled = 0;
  private queuedScheduled: Array<{ fireAt: number | null; payload?: unknown; runId: string; manual: boolean }> = [];
  private rr = 0;
  private paused = false;
  private lastTransitionReason: string | null = null;
  /** call()s waiting for a usable instance; woken when one becomes running. */
  private readonly capacityWaiters = new Set<() => void>();

  constructor(
    readonly cfg: AgentConfig,
    readonly description: AgentDescription | null,
    private readonly deps: ControllerDeps,
  ) {
    this.schedule = cfg.schedule ?? description?.schedule ?? null;
    this.instances = Array.from({ length: cfg.replicas }, (_, i) => new Instance(`${cfg.name}#${i}`, i, deps.clock.now()));
    const handlers = description?.handlers ?? [];
    this.consumer =
      cfg.kind === 'module' && handlers.length > 0
        ? new EventConsumer(cfg.name, deps.bus ?? new EmbeddedBus(deps.store, deps.clock), deps.clock, cfg.events, {
            capacity: () => this.eventCapacity(),
            handle: (d) => this.handleDelivery(d),
            onSettled: (d, o, fate) => this.onDeliverySettled(d, o, fate),
          })
        : null;
  }

  get name(): string {
    return this.cfg.name;
  }

  get scheduleSpec(): ScheduleSpec | null {
    return this.schedule;
  }

  get subscriptions(): string[] {
    return [...new Set((this.description?.handlers ?? []).map((h) => h.event))];
  }

  get reason(): string | null {
    return this.lastTransitionReason;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Starts every instance (desired: running) or holds them paused. */
  async start(opts: { paused?: boolean } = {}): Promise<void> {
    this.paused = opts.paused ?? false;
    await Promise.all(this.instances.map((i) => this.dispatch(i, { type: 'start' })));
    if (this.paused) for (const i of this.instances) await this.dispatch(i, { type: 'pause' });
    this.consumer?.start();
  }

  async stop(reason = 'stop requested'): Promise<void> {
    this.consumer?.stop();
    await Promise.all(this.instances.map((i) => this.stopInstance(i, reason)));
  }

  async pause(): Promise<void> {
    if (this.instances.every((i) => i.lc.status === 'paused')) return;
    if (!this.instances.some((i) => i.lc.status === 'running' || i.lc.status === 'initializing' || i.lc.status === 'error')) {
      throw new InvalidStateTransitionError(this.name, 'pause', this.status());
    }
    this.paused = true;
    for (const i of this.instances) await this.dispatch(i, { type: 'pause' });
  }

  async resume(): Promise<void> {
    if (!this.paused && !this.instances.some((i) => i.lc.status === 'paused')) {
      throw new InvalidStateTransitionError(this.name, 'resume', this.status());
    }
    this.paused = false;
    for (const i of this.instances) await this.dispatch(i, { type: 'resume' });
    this.consumer?.wake();
    this.drainQueue();
    this.wakeCallers();
  }

  async restart(reason = 'restart requested'): Promise<void> {
    this.paused = false;
    // The lifecycle runs it as stopping → teardown → stopped → spawn (afterStop: start).
    await Promise.all(this.instances.map((i) => this.dispatch(i, { type: 'restart', reason })));
    this.consumer?.start();
  }

  /** Explicit start: from stopped or crash_loop (the breaker), also resets retry counters. */
  async startExplicit(): Promise<void> {
    this.paused = false;
    for (const i of this.instances) {
      if (i.lc.status === 'running' || i.lc.status === 'initializing') continue;
      await this.dispatch(i, { type: 'start' });
    }
    this.consumer?.start();
  }

  private async dispatch(inst: Instance, event: LifecycleEvent): Promise<void> {
    if (event.type === 'crashed') inst.downReason = event.reason;
    else if (event.type === 'setup_failed') inst.downReason = 'setup_failed';
    else if (event.type === 'probe_failed') inst.downReason = 'liveness';
    else if (event.type === 'restart') this.deps.metrics?.restart(this.name, 'requested');
    const { state, effects } = transition(inst.lc, event, this.cfg.restartPolicy, this.deps.clock.now());
    inst.lc = state;
    for (const e of effects) await this.perform(inst, e);
  }

  private async perform(inst: Instance, e: Effect): Promise<void> {
    switch (e.type) {
      case 'record': {
        this.lastTransitionReason = e.reason;
        // A stop that ends as asked ('teardown completed') is routine; a stop for any other
        // reason (crashed while stopping, retries exhausted, invalid config) is worth a warning.
        const routine = e.reason === 'stop requested' || e.reason === 'teardown completed';
        const level: LogLine['level'] = e.to === 'error' || e.to === 'crash_loop' ? 'error' : e.to === 'stopped' && !routine ? 'warning' : 'info';
        this.deps.log(level, `lifecycle: ${e.from} → ${e.to} (${e.reason})`, { from: e.from, to: e.to, reason: e.reason }, inst.id);
        this.deps.onTransition?.(this.name, inst.id, e.from, e.to, e.reason);
        await this.deps.store
          .recordTransition({ agent: this.name, instance: inst.id, from: e.from, to: e.to, reason: e.reason, at: this.deps.clock.now() })
          .catch(() => undefined);
        if (e.to === 'running') {
          inst.startedAt = this.deps.clock.now();
          this.armHealthyTimer(inst);
          this.consumer?.wake();
          this.drainQueue();
          this.wakeCallers();
        } else if (e.from === 'running') {
          inst.healthyTimer?.();
          inst.healthyTimer = null;
        }
        break;
      }
      case 'spawn':
        void this.spawn(inst);
        break;
      case 'kill':
        await this.killInstance(inst, e.reason);
        break;
      case 'schedule_retry':
        inst.cancelRetry?.();
        inst.restarts++;
        this.deps.metrics?.restart(this.name, restartReason(inst.downReason));
        this.deps.log('info', `restarting in ${Math.round(e.delayMs)} ms (attempt ${e.attempt ?? inst.restarts})`, { delayMs: e.delayMs }, inst.id);
        inst.cancelRetry = this.deps.clock.setTimer(() => {
          inst.cancelRetry = null;
          void this.dispatch(inst, { type: 'retry_due' });
        }, e.delayMs);
        break;
      case 'cancel_retry':
        inst.cancelRetry?.();
        inst.cancelRetry = null;
        break;
      case 'teardown':
        await this.gracefulEnd(inst);
        break;
      default:
        break;
    }
  }

  private armHealthyTimer(inst: Instance): void {
    inst.healthyTimer?.();
    const gen = inst.generation;
    inst.healthyTimer = this.deps.clock.setTimer(() => {
      inst.healthyTimer = null;
      if (inst.generation === gen && inst.lc.status === 'running') void this.dispatch(inst, { type: 'healthy_tick' });
    }, this.cfg.restartPolicy.resetAfterMs);
  }

  private async spawn(inst: Instance): Promise<void> {
    const gen = ++inst.generation;
    inst.ready = true;
    inst.busy = 0;
    try {
      const expand = this.deps.expandSecrets ?? (async <T>(v: T) => v);
      if (this.cfg.kind === 'command') {
        const h = await this.deps.runtime.startCommand({
          instanceId: inst.id,
          agent: this.name,
          replica: inst.replica,
          command: await expand(this.cfg.command!, `agent:${this.name}`),
          env: this.deps.commandEnv(this.name, inst.id),
          stopTimeoutMs: this.cfg.gracefulShutdown.timeoutMs,
        });
        inst.handle = { kind: 'command', h };
        this.watchExit(inst, gen, h.exited);
        if (gen !== inst.generation) return;
        await this.dispatch(inst, { type: 'setup_ok' });
        this.startProbes(inst, gen);
        return;
      }
      const mem = this.cfg.resources.memoryBytes;
      const h = await this.deps.runtime.startAgent({
        instanceId: inst.id,
        agent: this.name,
        replica: inst.replica,
        file: this.cfg.source!,
        exportName: this.cfg.exportName,
        config: await expand(this.cfg.config, `agent:${this.name}`),
        isolation: this.cfg.isolation,
        memory: mem ? { heapMb: Math.max(16, Math.floor(mem / 1024 / 1024)), softBytes: Math.floor(mem * 0.9), hardBytes: mem } : {},
        heartbeatTimeoutMs: Math.max(1000, this.cfg.healthCheck.liveness.timeoutMs),
        logLevel: this.cfg.logging.level,
        guardrails: this.deps.guardrails,
      });
      inst.handle = { kind: 'module', h };
      this.watchExit(inst, gen, h.exited);
      if (gen !== inst.generation) return;
      const outcome = await this.withTimeout(
        executeRun(this.deps.runContext, h, { trigger: 'setup', kind: 'setup', record: false, deadlineMs: this.cfg.healthCheck.startupTimeoutMs }),
        this.cfg.healthCheck.startupTimeoutMs,
        'setup() did not finish within the startup timeout',
      );
      if (gen !== inst.generation) return;
      if (!outcome.ok) {
        const msg = outcome.error ? `setup() failed: ${outcome.error.message}` : 'setup() failed';
        inst.lastError = msg;
        await this.killInstance(inst, msg);
        await this.dispatch(inst, { type: 'setup_failed', error: msg });
        return;
      }
      await this.dispatch(inst, { type: 'setup_ok' });
      this.startProbes(inst, gen);
    } catch (err) {
      if (gen !== inst.generation) return;
      const msg = (err as Error).message;
      inst.lastError = msg;
      await this.killInstance(inst, msg);
      await this.dispatch(inst, { type: 'setup_failed', error: msg });
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
      await this.dispatch(inst, { type: 'crashed', reason: exit.reason, message: exit.message, exitCode: exit.exitCode ?? null });
    });
  }

  private async killInstance(inst: Instance, reason: string): Promise<void> {
    const h = inst.handle;
    inst.generation++; // its exit is now expected
    inst.handle = null;
    this.stopProbes(inst);
    if (!h) return;
    await h.h.kill(reason).catch(() => undefined);
  }

  private async stopInstance(inst: Instance, reason: string): Promise<void> {
    inst.cancelRetry?.();
    inst.cancelRetry = null;
    await this.dispatch(inst, { type: 'stop', reason });
    if (inst.stopping) await inst.stopping;
  }

  /**
   * The `teardown` effect: stop admitting (the instance is no longer 'running'), fire its
   * AbortSignal, wait for in-flight runs up to the drain budget, run teardown() with its own
   * timeout, end the worker — and kill whatever did not finish. Then report `stopped`.
   */
  private gracefulEnd(inst: Instance): Promise<void> {
    if (inst.stopping) return inst.stopping;
    inst.stopping = (async () => {
      const h = inst.handle;
      const gs = this.cfg.gracefulShutdown;
      this.stopProbes(inst);
      if (h?.kind === 'module') {
        h.h.abort('stopping');
        const deadline = Date.now() + gs.timeoutMs;
        while (inst.busy > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
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
    return done.then(() => this.dispatch(inst, { type: 'stopped' }));
  }

  // ---- probes --------------------------------------------------------------------------------

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
      if (!ok) this.deps.metrics?.probeFailure(this.name, 'liveness');
      if (!ok) this.deps.log('warning', `liveness probe failed (${inst.liveness.consecutiveFailures}/${hc.liveness.unhealthyThreshold})`, undefined, inst.id);
      if (verdict === 'unhealthy') {
        const msg = `liveness probe failed ${hc.liveness.unhealthyThreshold} times in a row`;
        inst.lastError = msg;
        await this.killInstance(inst, msg);
        await this.dispatch(inst, { type: 'probe_failed', kind: 'liveness', message: msg });
      }
    });
    every(hc.readiness.intervalMs, async () => {
      if (inst.lc.status !== 'running') return;
      const ok = await probe('readiness');
      if (inst.generation !== gen || !inst.readiness) return;
      const verdict = inst.readiness.record(ok);
      if (!ok) this.deps.metrics?.probeFailure(this.name, 'readiness');
      if (verdict === 'unhealthy' && inst.ready) {
        inst.ready = false;
        this.deps.log('warning', 'readiness probe failing: taken out of event delivery', undefined, inst.id);
      } else if (verdict === 'healthy' && !inst.ready) {
        inst.ready = true;
        this.deps.log('info', 'readiness probe passing again: back in event delivery', undefined, inst.id);
        this.consumer?.wake();
      }
    });
  }

  private stopProbes(inst: Instance): void {
    for (const t of inst.probeTimers) clearInterval(t);
    inst.probeTimers = [];
  }

  // ---- runs ----------------------------------------------------------------------------------

  private usable(): Instance[] {
    return this.instances.filter((i) => i.lc.status === 'running' && i.handle?.kind === 'module' && !i.stopping && !i.draining);
  }

  private pickInstance(needReady: boolean, maxBusy: number): Instance | null {
    const candidates = this.usable().filter((i) => (!needReady || i.ready) && i.busy < maxBusy);
    if (candidates.length === 0) return null;
    candidates.sort((a, b) => a.busy - b.busy);
    const least = candidates.filter((c) => c.busy === candidates[0].busy);
    return least[this.rr++ % least.length];
  }

  /** A schedule time came (already claimed in the store) or a manual trigger. */
  async admit(req: { fireAt: number | null; payload?: unknown; manual: boolean; runId?: string }): Promise<{ runId: string; admitted: 'started' | 'queued' | 'skipped' | 'missed'; reason?: string }> {
    const runId = req.runId ?? randomUUID();
    const now = this.deps.clock.now();
    const missed = async (status: 'missed' | 'skipped', reason: string) => {
      const run: RunRecord = { id: runId, agent: this.name, instance: null, trigger: req.manual ? 'manual' : 'schedule', status, scheduledAt: req.fireAt, startedAt: now, finishedAt: now, error: null, reason, eventId: null };
      await this.deps.store.recordRun(run).catch(() => undefined);
      this.deps.log('warning', `run ${status} at ${new Date(req.fireAt ?? now).toISOString()}: ${reason}`, { reason });
      return { runId, admitted: status, reason } as const;
    };
    if (this.cfg.kind === 'command') return missed('skipped', 'command agents have no run(); they are triggered over their own API');
    if (this.paused) return missed('missed', 'paused');
    if (this.usable().length === 0) return missed('missed', `agent not running (${this.status()})`);
    const decision = req.manual ? 'start' : decideOverlap({ policy: this.cfg.overlap, running: this.runningScheduled, queued: this.queuedScheduled.length });
    if (decision === 'skip') return missed('skipped', 'overlap: the previous run is still in progress');
    if (decision === 'queue' || (this.pickInstance(false, this.cfg.overlap === 'allow' || req.manual ? Infinity : 1) === null)) {
      this.queuedScheduled.push({ fireAt: req.fireAt, payload: req.payload, runId, manual: req.manual });
      return { runId, admitted: 'queued' };
    }
    void this.runScheduled({ fireAt: req.fireAt, payload: req.payload, runId, manual: req.manual });
    return { runId, admitted: 'started' };
  }

  private drainQueue(): void {
    while (this.queuedScheduled.length > 0 && !this.paused) {
      if (this.cfg.overlap !== 'allow' && this.runningScheduled > 0) return;
      if (!this.pickInstance(false, this.cfg.overlap === 'allow' ? Infinity : 1)) return;
      void this.runScheduled(this.queuedScheduled.shift()!);
    }
  }

  private async runScheduled(req: { fireAt: number | null; payload?: unknown; runId: string; manual: boolean }): Promise<void> {
    const inst = this.pickInstance(false, Infinity);
    if (!inst || inst.handle?.kind !== 'module') return;
    this.runningScheduled++;
    inst.busy++;
    const gen = inst.generation;
    let outcome: RunOutcome;
    try {
      outcome = await executeRun(this.deps.runContext, inst.handle.h, {
        trigger: req.manual ? 'manual' : 'schedule',
        kind: 'run',
        payload: req.payload,
        scheduledAt: req.fireAt,
        record: true,
        runId: req.runId,
      });
      // A conflict means another replica or an API write changed a key this run read: run again.
      for (let i = 0; outcome.conflict && i < 3 && inst.handle?.kind === 'module' && inst.generation === gen; i++) {
        outcome = await executeRun(this.deps.runContext, inst.handle.h, { trigger: req.manual ? 'manual' : 'schedule', kind: 'run', payload: req.payload, scheduledAt: req.fireAt, record: true, runId: req.runId });
      }
    } finally {
      inst.busy--;
      this.runningScheduled--;
    }
    if (!outcome.ok && !outcome.instanceGone && inst.generation === gen) {
      const msg = `run() failed: ${outcome.error?.message ?? 'unknown error'}`;
      inst.lastError = msg;
      // seed 003: RUNNING --error--> ERROR --retry (backoff)--> RUNNING. The instance is
      // replaced, so a run that corrupted in-memory state does not poison the next one.
      await this.killInstance(inst, msg);
      await this.dispatch(inst, { type: 'crashed', reason: 'run_failed', message: msg });
    }
    this.drainQueue();
  }

  // ---- calls ---------------------------------------------------------------------------------

  private wakeCallers(): void {
    for (const w of [...this.capacityWaiters]) w();
  }

  /** Waits for a running instance; null if the deadline passes, the signal fires or the agent is stopped for good. */
  private async awaitInstance(deadlineAt: number | null, signal?: AbortSignal): Promise<Instance | null> {
    for (;;) {
      if (signal?.aborted) return null;
      if (!this.paused) {
        const inst = this.pickInstance(false, Infinity);
        if (inst) return inst;
      }
      const st = this.status();
      if (this.cfg.kind !== 'module' || st === 'stopped' || st === 'crash_loop') return null;
      const left = deadlineAt === null ? 1000 : Math.min(1000, deadlineAt - Date.now());
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.capacityWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.capacityWaiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Invokes `method(payload, opts.meta)` on an instance as a run transaction: its state writes,
   * emits and job enqueues commit in ONE transaction together with `opts.effects`, and the return
   * value comes back. Never rejects. A commit conflict (a replica changed a key the call read) runs
   * the method again, as for events. Waits for a running instance (while the agent starts,
   * restarts or is paused) up to the deadline; a stopped agent fails at once.
   */
  async call(method: string, payload: unknown, opts: CallOptions): Promise<CallResult> {
    const runId = opts.runId ?? randomUUID();
    const fail = (code: string, message: string): CallResult => ({ ok: false, runId, error: { name: 'CallError', message, code } });
    if (typeof method !== 'string' || method === '') return fail('no_method', `call(): a method name is required (agent '${this.name}')`);
    const deadlineAt = opts.deadlineMs === undefined ? null : opts.deadlineMs > 1e12 ? opts.deadlineMs : Date.now() + opts.deadlineMs;
    const inst = await this.awaitInstance(deadlineAt, opts.signal);
    if (opts.signal?.aborted) return fail('call_aborted', `call ${this.name}.${method}() was cancelled before it started`);
    if (!inst || inst.handle?.kind !== 'module') {
      if (deadlineAt !== null && Date.now() >= deadlineAt) return fail('call_timeout', `call ${this.name}.${method}() timed out waiting for a running instance (agent is ${this.status()})`);
      return fail('agent_unavailable', `agent '${this.name}' is ${this.status()}${this.cfg.kind !== 'module' ? ' (a command agent has no methods to call)' : ''}; start it with \`openclaw start ${this.name}\``);
    }
    const h = inst.handle.h;
    const gen = inst.generation;
    // 'running' until the agent returns; then the first of commit / timeout / abort wins.
    let phase: 'running' | 'committing' | 'ended' = 'running';
    let settle!: (r: CallResult) => void;
    const early = new Promise<CallResult>((r) => (settle = r));
    const stop = (code: 'call_timeout' | 'call_aborted', message: string) => {
      if (phase !== 'running') return;
      phase = 'ended';
      h.abort(message, runId);
      settle(fail(code, message));
    };
    const timer = deadlineAt === null ? null : setTimeout(() => stop('call_timeout', `call ${this.name}.${method}() passed its deadline`), Math.max(0, deadlineAt - Date.now()));
    const onAbort = () => stop('call_aborted', `call ${this.name}.${method}() was cancelled${opts.signal?.reason instanceof Error ? `: ${opts.signal.reason.message}` : ''}`);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    inst.busy++;
    const work = (async (): Promise<CallResult> => {
      try {
        const invoke = () =>
          executeRun(this.deps.runContext, h, {
            trigger: opts.trigger,
            kind: 'call',
            method,
            payload,
            meta: opts.meta,
            record: true,
            runId,
            effects: opts.effects,
            ...(deadlineAt !== null ? { deadlineMs: deadlineAt } : {}),
            admitCommit: () => {
              if (phase !== 'running') return false;
              phase = 'committing';
              return true;
            },
          });
        const current = () => phase;
        let outcome = await invoke();
        for (let i = 0; outcome.conflict && i < 20 && inst.generation === gen && current() === 'committing'; i++) {
          phase = 'running';
          if (deadlineAt !== null && Date.now() >= deadlineAt) stop('call_timeout', `call ${this.name}.${method}() passed its deadline`);
          if (current() !== 'running') break;
          outcome = await invoke();
        }
        if (outcome.ok) return { ok: true, runId, value: outcome.result?.value };
        if (outcome.instanceGone) return { ok: false, runId, error: { ...(outcome.error ?? { name: 'InstanceGoneError', message: 'the instance ended during the call' }), code: 'instance_gone' } };
        return { ok: false, runId, error: outcome.error ?? { name: 'CallError', message: 'the call failed', code: 'call_failed' } };
      } finally {
        inst.busy--;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.consumer?.wake();
        this.wakeCallers();
      }
    })();
    void work.then((r) => {
      if (phase !== 'ended') {
        phase = 'ended';
        settle(r);
      }
    });
    return early;
  }

  // ---- events --------------------------------------------------------------------------------

  private eventCapacity(): number {
    if (this.paused) return 0;
    let free = 0;
    for (const i of this.usable()) if (i.ready) free += Math.max(0, this.cfg.events.concurrency - i.busy);
    return free;
  }

  private async handleDelivery(d: Delivery): Promise<RunOutcome | null> {
    const inst = this.pickInstance(true, this.cfg.events.concurrency);
    if (!inst || inst.handle?.kind !== 'module') return null;
    const methods = (this.description?.handlers ?? []).filter((h) => h.event === d.event.name || h.event === '*').map((h) => h.method);
    const h = inst.handle.h;
    inst.busy++;
    try {
      // A conflict comes back to the lane (EventConsumer), which runs it again under the same lease
      // as its congestion window allows.
      return await executeRun(this.deps.runContext, h, {
        trigger: 'event',
        kind: 'event',
        method: methods.join(','),
        event: { id: d.event.id, name: d.event.name, data: d.event.payload, source: d.event.source, createdAt: d.event.createdAt, attempt: d.attempts },
        ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken },
        record: true,
      });
    } finally {
      inst.busy--;
    }
  }

  private onDeliverySettled(d: Delivery, o: RunOutcome | null, fate: 'done' | 'retry' | 'dead' | 'lost'): void {
    if (fate === 'dead') {
      this.deps.log('error', `event '${d.event.name}' (${d.event.id}) dead-lettered after ${d.attempts} attempts: ${o?.error?.message ?? 'failed'}`, { eventId: d.event.id });
    } else if (fate === 'retry' && o && !o.conflict && o.error) {
      this.deps.log('warning', `handler for '${d.event.name}' failed (attempt ${d.attempts}/${this.cfg.events.maxAttempts}): ${o.error.message}`, { eventId: d.event.id });
    }
    this.drainQueue();
  }

  /** Over the soft memory limit: stop admitting, drain in-flight work, then restart per policy. */
  async onMemorySoftLimit(instanceId: string, usedBytes: number): Promise<void> {
    const inst = this.instances.find((i) => i.id === instanceId);
    if (!inst || inst.draining || inst.lc.status !== 'running') return;
    inst.draining = true;
    const gen = inst.generation;
    const deadline = Date.now() + this.cfg.gracefulShutdown.timeoutMs;
    while (inst.busy > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    inst.draining = false;
    if (inst.generation !== gen) return;
    const msg = `memory_soft_limit: ${Math.round(usedBytes / 1048576)} MiB is over the soft limit (90% of resources.memory); drained and restarted`;
    inst.lastError = msg;
    await this.killInstance(inst, msg);
    await this.dispatch(inst, { type: 'crashed', reason: 'memory_soft_limit', message: msg });
  }

  wakeConsumer(): void {
    this.consumer?.wake();
  }

  // ---- views ---------------------------------------------------------------------------------

  status(): AgentStatus {
    const states = this.instances.map((i) => i.lc.status as string);
    const order: AgentStatus[] = ['running', 'paused', 'initializing', 'error', 'crash_loop', 'stopped'];
    if (states.includes('stopping')) return 'stopped';
    for (const s of order) if (states.includes(s)) return s;
    return 'stopped';
  }

  instanceViews(): InstanceView[] {
    return this.instances.map((i) => ({
      instanceId: i.id,
      status: (i.lc.status === 'stopping' ? 'stopped' : i.lc.status) as AgentStatus,
      pid: i.handle?.h.pid ?? null,
      ready: i.ready,
      startedAt: i.lc.status === 'running' || i.lc.status === 'paused' ? i.startedAt : null,
      restarts: i.restarts,
      lastError: i.lastError,
      memory: i.handle?.kind === 'module' ? i.handle.h.memory : null,
    }));
  }

  get restartCount(): number {
    return this.instances.reduce((n, i) => n + i.restarts, 0);
  }
}
