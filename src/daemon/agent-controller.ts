// One agent under supervision: its replicas (instances), its schedule admission and its event
// consumer. Lifecycle decisions come from the pure transition function in src/supervisor; this
// file performs their effects (spawn, kill, teardown, timers) and feeds back what happened.
import { randomUUID } from 'node:crypto';
import type { AgentConfig } from '../config/types.js';
import type { Clock, ScheduleSpec } from '../scheduler/types.js';
import type { Store, Delivery, RunRecord } from '../store/types.js';
import type { CommandHandle, InstanceHandle, Runtime } from '../runtime/types.js';
import type { AgentDescription, InstanceExit, LogLine } from '../runtime/protocol.js';
import { transition, type LifecycleEvent, type Effect } from '../supervisor/lifecycle.js';
import { ProbeTracker } from '../supervisor/probes.js';
import { Instance } from './instance.js';
import { EventConsumer } from './event-consumer.js';
import { EmbeddedBus } from '../bus/embedded.js';
import type { Bus } from '../bus/types.js';
import { executeRun, recordRunFenced, type RunContext, type RunOutcome } from './run-transaction.js';
import type { AgentStatus, InstanceView } from './control.js';
import { InvalidStateTransitionError, OpenClawError } from '../util/errors.js';
import { decideOverlap } from '../scheduler/timeline.js';
import type { FireLedger } from '../scheduler/fire-ledger.js';
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
  /** Claimed schedule fires not yet run: closed when their run is recorded (survives a crash). */
  fires?: FireLedger;
  /** Cluster placement: whether this node holds the instance's lease (default: every instance runs here). */
  placed?: (instanceId: string) => boolean;
}

export type { CallOptions, CallResult } from '../contracts/modules.js';
import type { AgentHandle, CallOptions, CallResult } from '../contracts/modules.js';

/** Separate round-robin rotations: scheduled and manual runs, event deliveries, method calls. */
type Rotation = 'run' | 'event' | 'call';

/** Commit conflicts re-run a trigger at once this many times (events, calls, scheduled runs). */
const MAX_CONFLICT_RETRIES = 20;

export class AgentController implements AgentHandle {
  readonly instances: Instance[];
  private readonly consumer: EventConsumer | null;
  private readonly bus: Bus;
  private schedule: ScheduleSpec | null;
  private runningScheduled = 0;
  private queuedScheduled: Array<{ fireAt: number | null; payload?: unknown; runId: string; manual: boolean }> = [];
  private readonly rr = new Map<Rotation, number>();
  private paused = false;
  /** Set once any instance reached running: until then the agent is on its first start. */
  private everRunning = false;
  private lastTransitionReason: string | null = null;
  private transitionWrites: Promise<void> = Promise.resolve();
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
    this.bus = deps.bus ?? new EmbeddedBus(deps.store, deps.clock);
    this.consumer =
      cfg.kind === 'module' && handlers.length > 0
        ? new EventConsumer(cfg.name, this.bus, deps.clock, cfg.events, {
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
    const mine = this.instances.filter((i) => this.mayRun(i));
    await Promise.all(mine.map((i) => this.dispatch(i, { type: 'start' })));
    if (this.paused) for (const i of mine) await this.dispatch(i, { type: 'pause' });
    this.consumer?.start();
  }

  /** Whether this node may run the instance (cluster placement: it holds the instance's lease). */
  private mayRun(i: Instance): boolean {
    return this.deps.placed?.(i.id) ?? true;
  }

  /** Cluster placement: this node took the instance's lease; it starts unless the agent is stopped. */
  async placeInstance(instanceId: string, desired: 'running' | 'paused' | 'stopped'): Promise<void> {
    const inst = this.instances.find((i) => i.id === instanceId);
    if (!inst || desired === 'stopped' || !this.cfg.enabled) return;
    // Lost and taken again while its stop (after the loss) still runs: start it once that ends.
    if (inst.stopping) await inst.stopping;
    if (inst.lc.status !== 'stopped' && inst.lc.status !== 'crash_loop') return;
    if (!this.mayRun(inst)) return;
    this.paused = desired === 'paused';
    await this.dispatch(inst, { type: 'start' });
    if (this.paused) await this.dispatch(inst, { type: 'pause' });
    this.consumer?.start();
  }

  /** Cluster placement: the instance's lease is gone (lost, or handed over on a drain); it stops here. */
  async unplaceInstance(instanceId: string, reason: string): Promise<void> {
    const inst = this.instances.find((i) => i.id === instanceId);
    if (!inst) return;
    await this.stopInstance(inst, reason);
    if (this.instances.every((i) => i.lc.status === 'stopped')) this.consumer?.stop();
  }

  async stop(reason = 'stop requested'): Promise<void> {
    this.consumer?.stop();
    await Promise.all(this.instances.map((i) => this.stopInstance(i, reason)));
    await this.transitionsWritten();
  }

  /** Resolves when every transition recorded so far is in the store. */
  transitionsWritten(): Promise<void> {
    return this.transitionWrites;
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
    await Promise.all(this.instances.filter((i) => this.mayRun(i)).map((i) => this.dispatch(i, { type: 'restart', reason })));
    this.consumer?.start();
  }

  /** Explicit start: from stopped or crash_loop (the breaker), also resets retry counters. */
  async startExplicit(): Promise<void> {
    this.paused = false;
    for (const i of this.instances) {
      if (i.lc.status === 'running' || i.lc.status === 'initializing' || !this.mayRun(i)) continue;
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
        // Off the critical path: a restart does not wait for its bookkeeping. The writes stay in
        // order (one chain per agent); readers of the history wait for it (transitionsWritten).
        const record = { agent: this.name, instance: inst.id, from: e.from, to: e.to, reason: e.reason, at: this.deps.clock.now() };
        this.transitionWrites = this.transitionWrites.then(() => this.deps.store.recordTransition(record)).catch(() => undefined);
        if (e.to === 'running') {
          this.everRunning = true;
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
        // A restart (crash, backoff) of an instance whose lease this node no longer holds: not here.
        if (!this.mayRun(inst)) void this.dispatch(inst, { type: 'stop', reason: 'its lease is held by another node' }).catch(() => undefined);
        else void this.spawn(inst);
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
            agent: this.name,
            replica: inst.replica,
            command: await expand(this.cfg.command!, `agent:${this.name}`),
            env: this.deps.commandEnv(this.name, inst.id),
            stopTimeoutMs: this.cfg.gracefulShutdown.timeoutMs,
          }),
          left(),
          'the command did not start within the startup timeout',
        );
        inst.handle = { kind: 'command', h };
        this.watchExit(inst, gen, h.exited);
        if (gen !== inst.generation) return;
        await this.dispatch(inst, { type: 'setup_ok' });
        this.startProbes(inst, gen);
        return;
      }
      const mem = this.cfg.resources.memoryBytes;
      const h = await this.startWithin(this.deps.runtime.startAgent({
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
      }), left(), 'the agent did not load within the startup timeout');
      inst.handle = { kind: 'module', h };
      this.deps.metrics?.workerStart?.(this.name, h.spareWorker === true);
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

  /**
   * The instance for the next piece of work: the least busy, round-robin among equals. Runs,
   * events and calls each keep their own rotation, and only a real dispatch advances it (a
   * capacity check uses hasCapacity), so neither a manual trigger nor a check shifts the others.
   */
  private pickInstance(needReady: boolean, maxBusy: number, work: Rotation = 'run'): Instance | null {
    const candidates = this.usable().filter((i) => (!needReady || i.ready) && i.busy < maxBusy);
    if (candidates.length === 0) return null;
    candidates.sort((a, b) => a.busy - b.busy || a.replica - b.replica);
    const least = candidates.filter((c) => c.busy === candidates[0].busy);
    const n = this.rr.get(work) ?? 0;
    this.rr.set(work, n + 1);
    return least[n % least.length];
  }

  private hasCapacity(maxBusy: number): boolean {
    return this.usable().some((i) => i.busy < maxBusy);
  }

  /** A schedule time came (already claimed in the store) or a manual trigger. */
  async admit(req: { fireAt: number | null; payload?: unknown; manual: boolean; runId?: string }): Promise<{ runId: string; admitted: 'started' | 'queued' | 'skipped' | 'missed'; reason?: string }> {
    const runId = req.runId ?? randomUUID();
    const now = this.deps.clock.now();
    const missed = async (status: 'missed' | 'skipped', reason: string, level: 'warning' | 'info' = 'warning') => {
      const run: RunRecord = { id: runId, agent: this.name, instance: null, trigger: req.manual ? 'manual' : 'schedule', status, scheduledAt: req.fireAt, startedAt: now, finishedAt: now, error: null, reason, eventId: null };
      // Fenced like a run (cluster): a node that lost the agent's lease meanwhile records nothing;
      // the node that took it over runs this fire.
      // Its fire stays open for that node unless the record was written.
      if (await recordRunFenced(this.deps.runContext, run, (this.instances.find((i) => this.mayRun(i)) ?? this.instances[0]!).id)) await this.closeFire(req);
      this.deps.log(level, `run ${status} at ${new Date(req.fireAt ?? now).toISOString()}: ${reason}`, { reason });
      return { runId, admitted: status, reason } as const;
    };
    if (this.cfg.kind === 'command') return missed('skipped', 'command agents have no run(); they are triggered over their own API');
    if (this.paused) return missed('missed', 'paused');
    // Runs that come due while the agent is still on its first start are expected, not missed: the
    // first waits for it (drainQueue runs it on `running`), later ones fold into that one.
    // A manual trigger in that window is queued too: the user asked for a run, and one is coming.
    if (req.manual && this.firstStart) {
      this.queuedScheduled.push({ fireAt: req.fireAt, payload: req.payload, runId, manual: true });
      return { runId, admitted: 'queued' };
    }
    if (!req.manual && this.firstStart) {
      if (this.queuedScheduled.length === 0) {
        this.queuedScheduled.push({ fireAt: req.fireAt, payload: req.payload, runId, manual: false });
        return { runId, admitted: 'queued' };
      }
      return missed('skipped', 'the agent is still starting; one run is already queued for when it is ready', 'info');
    }
    if (this.usable().length === 0) return missed('missed', `agent not running (${this.status()})`);
    const decision = req.manual ? 'start' : decideOverlap({ policy: this.cfg.overlap, running: this.runningScheduled, queued: this.queuedScheduled.length });
    if (decision === 'skip') return missed('skipped', 'overlap: the previous run is still in progress');
    if (decision === 'queue' || !this.hasCapacity(this.cfg.overlap === 'allow' || req.manual ? Infinity : 1)) {
      this.queuedScheduled.push({ fireAt: req.fireAt, payload: req.payload, runId, manual: req.manual });
      return { runId, admitted: 'queued' };
    }
    void this.runScheduled({ fireAt: req.fireAt, payload: req.payload, runId, manual: req.manual });
    return { runId, admitted: 'started' };
  }

  /**
   * A scheduled run recovered after a restart (claimed, never run): queued like an overlap-queued
   * run and started as soon as an instance is running.
   */
  requeue(req: { fireAt: number; runId: string }): void {
    this.queuedScheduled.push({ fireAt: req.fireAt, runId: req.runId, manual: false });
    this.queuedScheduled.sort((a, b) => (a.fireAt ?? 0) - (b.fireAt ?? 0));
    this.drainQueue();
  }

  private async closeFire(req: { fireAt: number | null; manual: boolean }): Promise<void> {
    if (req.manual || req.fireAt === null || !this.deps.fires) return;
    await this.deps.fires.close(this.name, req.fireAt).catch((err: Error) => this.deps.log('warning', `could not close schedule fire ${req.fireAt}: ${err.message}`));
  }

  private drainQueue(): void {
    while (this.queuedScheduled.length > 0 && !this.paused) {
      if (this.cfg.overlap !== 'allow' && this.runningScheduled > 0) return;
      if (!this.hasCapacity(this.cfg.overlap === 'allow' ? Infinity : 1)) return;
      void this.runScheduled(this.queuedScheduled.shift()!);
    }
  }

  private async runScheduled(req: { fireAt: number | null; payload?: unknown; runId: string; manual: boolean }): Promise<void> {
    const inst = this.pickInstance(false, Infinity);
    if (!inst || inst.handle?.kind !== 'module') {
      // No instance after all: back to the head of the queue, never dropped.
      this.queuedScheduled.unshift(req);
      return;
    }
    this.runningScheduled++;
    inst.busy++;
    const gen = inst.generation;
    // A schedule fire is closed in the run's own commit: it is done exactly when the run is.
    const fireDone = !req.manual && req.fireAt !== null && this.deps.fires ? [this.deps.fires.closeEffect(this.name, req.fireAt)] : null;
    let outcome: RunOutcome;
    try {
      outcome = await executeRun(this.deps.runContext, inst.handle.h, {
        trigger: req.manual ? 'manual' : 'schedule',
        kind: 'run',
        payload: req.payload,
        scheduledAt: req.fireAt,
        record: true,
        runId: req.runId,
        ...(fireDone ? { effects: fireDone } : {}),
      });
      // A conflict means another replica or an API write changed a key this run read: run again
      // (as for events and calls). It is not the agent's fault, so it never fails the instance.
      for (let i = 0; outcome.conflict && i < MAX_CONFLICT_RETRIES && inst.handle?.kind === 'module' && inst.generation === gen; i++) {
        outcome = await executeRun(this.deps.runContext, inst.handle.h, { trigger: req.manual ? 'manual' : 'schedule', kind: 'run', payload: req.payload, scheduledAt: req.fireAt, record: true, runId: req.runId, ...(fireDone ? { effects: fireDone } : {}) });
      }
    } finally {
      inst.busy--;
      this.runningScheduled--;
    }
    // A fenced run (its lease moved on) leaves its fire open: the node that took the agent over runs it.
    let closeFire = !outcome.ok && !outcome.fenced;
    if (!outcome.ok && outcome.instanceGone) {
      // The instance ended under the run: nothing committed. Recorded, so the fire is not lost silently.
      const now = this.deps.clock.now();
      closeFire &&= await recordRunFenced(
        this.deps.runContext,
        { id: req.runId, agent: this.name, instance: inst.id, trigger: req.manual ? 'manual' : 'schedule', status: 'failed', scheduledAt: req.fireAt, startedAt: outcome.startedAt, finishedAt: now, error: `the instance ended during the run: ${outcome.error?.message ?? 'gone'}`, reason: null, eventId: null },
        inst.id,
      );
    }
    if (outcome.conflict) {
      // Still conflicting after every retry (a hot key written elsewhere all the time): the run is
      // recorded as failed and the instance keeps serving; nothing of the run was committed.
      const now = this.deps.clock.now();
      const error = `state conflict: ${outcome.error?.message ?? 'a key this run read changed'} (retried ${MAX_CONFLICT_RETRIES} times)`;
      closeFire &&= await recordRunFenced(
        this.deps.runContext,
        { id: req.runId, agent: this.name, instance: inst.id, trigger: req.manual ? 'manual' : 'schedule', status: 'failed', scheduledAt: req.fireAt, startedAt: outcome.startedAt, finishedAt: now, error, reason: null, eventId: null },
        inst.id,
      );
      this.deps.log('warning', `run() not committed: ${error}`, { runId: req.runId }, inst.id);
    } else if (!outcome.ok && !outcome.instanceGone && !outcome.fenced && inst.generation === gen) {
      const msg = `run() failed: ${outcome.error?.message ?? 'unknown error'}`;
      inst.lastError = msg;
      // seed 003: RUNNING --error--> ERROR --retry (backoff)--> RUNNING. The instance is
      // replaced, so a run that corrupted in-memory state does not poison the next one — but
      // only once its other runs in flight (events, calls, jobs) have finished: they commit
      // instead of being killed with it.
      await this.drainInstance(inst, gen);
      if (inst.generation === gen) {
        await this.killInstance(inst, msg);
        await this.dispatch(inst, { type: 'crashed', reason: 'run_failed', message: msg });
      }
    }
    this.drainQueue();
  }

  /**
   * Takes the instance out of admission and waits (up to graceful_shutdown.timeout, on the
   * injected clock) for its runs in flight to finish.
   */
  private async drainInstance(inst: Instance, gen: number): Promise<void> {
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

  // ---- calls ---------------------------------------------------------------------------------

  private wakeCallers(): void {
    for (const w of [...this.capacityWaiters]) w();
  }

  /** Waits for a running instance; null if the deadline passes, the signal fires or the agent is stopped for good. */
  private async awaitInstance(deadlineAt: number | null, signal?: AbortSignal): Promise<Instance | null> {
    for (;;) {
      if (signal?.aborted) return null;
      if (!this.paused) {
        const inst = this.pickInstance(false, Infinity, 'call');
        if (inst) return inst;
      }
      const st = this.status();
      if (this.cfg.kind !== 'module' || st === 'stopped' || st === 'crash_loop') return null;
      const left = deadlineAt === null ? 1000 : Math.min(1000, deadlineAt - this.deps.clock.now());
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const done = () => {
          cancel();
          this.capacityWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const cancel = this.deps.clock.setTimer(done, left);
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
    const now = () => this.deps.clock.now();
    const deadlineAt = opts.deadlineMs === undefined ? null : opts.deadlineMs > 1e12 ? opts.deadlineMs : now() + opts.deadlineMs;
    const inst = await this.awaitInstance(deadlineAt, opts.signal);
    if (opts.signal?.aborted) return fail('call_aborted', `call ${this.name}.${method}() was cancelled before it started`);
    if (!inst || inst.handle?.kind !== 'module') {
      if (deadlineAt !== null && now() >= deadlineAt) return fail('call_timeout', `call ${this.name}.${method}() timed out waiting for a running instance (agent is ${this.status()})`);
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
    const cancelTimer = deadlineAt === null ? null : this.deps.clock.setTimer(() => stop('call_timeout', `call ${this.name}.${method}() passed its deadline`), Math.max(0, deadlineAt - now()));
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
            parentTrace: opts.parentTrace ?? null,
            // The worker has no injected clock: it gets the budget left, not a time.
            ...(deadlineAt !== null ? { deadlineMs: Math.max(1, deadlineAt - now()) } : {}),
            admitCommit: () => {
              // Past the deadline, whichever of our timer and the result came first: no commit.
              if (phase === 'running' && deadlineAt !== null && now() >= deadlineAt) stop('call_timeout', `call ${this.name}.${method}() passed its deadline`);
              if (phase !== 'running') return false;
              phase = 'committing';
              return true;
            },
          });
        const current = () => phase;
        let outcome = await invoke();
        for (let i = 0; outcome.conflict && i < MAX_CONFLICT_RETRIES && inst.generation === gen && current() === 'committing'; i++) {
          phase = 'running';
          if (deadlineAt !== null && now() >= deadlineAt) stop('call_timeout', `call ${this.name}.${method}() passed its deadline`);
          if (current() !== 'running') break;
          outcome = await invoke();
        }
        if (outcome.ok) return { ok: true, runId, value: outcome.result?.value };
        if (outcome.instanceGone) return { ok: false, runId, error: { ...(outcome.error ?? { name: 'InstanceGoneError', message: 'the instance ended during the call' }), code: 'instance_gone' } };
        // The worker aborts the run at the same deadline; its error can arrive before our timer fires.
        if (deadlineAt !== null && (now() >= deadlineAt || outcome.error?.code === 'run_deadline')) return fail('call_timeout', `call ${this.name}.${method}() passed its deadline`);
        return { ok: false, runId, error: outcome.error ?? { name: 'CallError', message: 'the call failed', code: 'call_failed' } };
      } finally {
        inst.busy--;
        cancelTimer?.();
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
    const inst = this.pickInstance(true, this.cfg.events.concurrency, 'event');
    if (!inst || inst.handle?.kind !== 'module') return null;
    const methods = (this.description?.handlers ?? []).filter((h) => h.event === d.event.name || h.event === '*').map((h) => h.method);
    const h = inst.handle.h;
    inst.busy++;
    try {
      // A conflict comes back to the lane (EventConsumer), which runs it again under the same lease
      // as its congestion window allows.
      // Embedded bus: the store acks in the commit. External bus: the commit writes the inbox row,
      // and the bus ack follows (lost → redelivered → dropped by the inbox).
      const ca = this.bus.commitAck(this.cfg.name, d);
      const outcome = await executeRun(this.deps.runContext, h, {
        trigger: 'event',
        kind: 'event',
        method: methods.join(','),
        event: { id: d.event.id, name: d.event.name, data: d.event.payload, source: d.event.source, createdAt: d.event.createdAt, attempt: d.attempts },
        parentTrace: d.event.traceparent ?? null,
        ack: ca.ack,
        effects: ca.effects,
        record: true,
      });
      if (!ca.ackAfterCommit) return outcome;
      // A duplicate (its first delivery committed meanwhile) changed nothing: settle it as done.
      const duplicate = !outcome.ok && outcome.error?.code === 'duplicate_delivery';
      if (outcome.ok || duplicate) await this.bus.ack([d]).catch(() => 0);
      return duplicate ? { ...outcome, ok: true } : outcome;
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
    const gen = inst.generation;
    await this.drainInstance(inst, gen);
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

  /** True while no instance has reached running yet and one is starting (setup in progress). */
  get firstStart(): boolean {
    return !this.everRunning && this.instances.some((i) => i.lc.status === 'initializing');
  }

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
