// One agent under supervision: its replicas (instances), its schedule admission and its event
// consumer. Lifecycle decisions come from the pure transition function in src/supervisor; this
// file performs their effects and feeds back what happened. Its parts: starting, probing and
// ending instances (instance-process.ts), scheduled and manual runs (scheduled-runs.ts) and
// method calls (agent-call.ts); event deliveries are here.
import type { AgentConfig } from '../config/types.js';
import type { ScheduleSpec } from '../scheduler/types.js';
import type { Delivery } from '../store/types.js';
import type { AgentDescription, LogLine } from '../runtime/protocol.js';
import { transition, type LifecycleEvent, type Effect } from '../supervisor/lifecycle.js';
import { Instance } from './instance.js';
import { EventConsumer } from './event-consumer.js';
import { EmbeddedBus } from '../bus/embedded.js';
import type { Bus } from '../bus/types.js';
import { executeRun, type RunOutcome } from './run-transaction.js';
import type { AgentStatus, InstanceView } from './control.js';
import { InvalidStateTransitionError } from '../util/errors.js';
import { restartReason } from '../observability/metrics.js';
import type { ControllerDeps } from './controller-deps.js';
import { InstanceProcesses } from './instance-process.js';
import { ScheduledRuns } from './scheduled-runs.js';
import { AgentCalls } from './agent-call.js';

export type { ControllerDeps } from './controller-deps.js';
export type { CallOptions, CallResult } from '../contracts/modules.js';
import type { AgentHandle, CallOptions, CallResult } from '../contracts/modules.js';

/** Separate round-robin rotations: scheduled and manual runs, event deliveries, method calls. */
type Rotation = 'run' | 'event' | 'call';

export class AgentController implements AgentHandle {
  readonly instances: Instance[];
  private readonly consumer: EventConsumer | null;
  private readonly bus: Bus;
  private schedule: ScheduleSpec | null;
  private readonly rr = new Map<Rotation, number>();
  private paused = false;
  /** Set once any instance reached running: until then the agent is on its first start. */
  private everRunning = false;
  private lastTransitionReason: string | null = null;
  private transitionWrites: Promise<void> = Promise.resolve();
  private readonly processes: InstanceProcesses;
  private readonly runs: ScheduledRuns;
  private readonly calls: AgentCalls;

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
    const dispatch = (inst: Instance, event: LifecycleEvent) => this.dispatch(inst, event);
    const wakeConsumer = () => this.consumer?.wake();
    this.processes = new InstanceProcesses(cfg, deps, { dispatch, wakeConsumer });
    this.runs = new ScheduledRuns(cfg, deps, {
      instances: this.instances,
      paused: () => this.paused,
      firstStart: () => this.firstStart,
      status: () => this.status(),
      mayRun: (i) => this.mayRun(i),
      usable: () => this.usable(),
      hasCapacity: (maxBusy) => this.hasCapacity(maxBusy),
      pickInstance: (needReady, maxBusy) => this.pickInstance(needReady, maxBusy),
      drainInstance: (inst, gen) => this.processes.drainInstance(inst, gen),
      killInstance: (inst, reason) => this.processes.killInstance(inst, reason),
      dispatch,
    });
    this.calls = new AgentCalls(cfg, deps, {
      paused: () => this.paused,
      status: () => this.status(),
      pickInstance: (needReady, maxBusy, work) => this.pickInstance(needReady, maxBusy, work),
      wakeConsumer,
    });
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
    await this.processes.stopInstance(inst, reason);
    if (this.instances.every((i) => i.lc.status === 'stopped')) this.consumer?.stop();
  }

  async stop(reason = 'stop requested'): Promise<void> {
    this.consumer?.stop();
    await Promise.all(this.instances.map((i) => this.processes.stopInstance(i, reason)));
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
    this.runs.drainQueue();
    this.calls.wakeCallers();
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
          this.runs.drainQueue();
          this.calls.wakeCallers();
        } else if (e.from === 'running') {
          inst.healthyTimer?.();
          inst.healthyTimer = null;
        }
        break;
      }
      case 'spawn':
        // A restart (crash, backoff) of an instance whose lease this node no longer holds: not here.
        if (!this.mayRun(inst)) void this.dispatch(inst, { type: 'stop', reason: 'its lease is held by another node' }).catch(() => undefined);
        else void this.processes.spawn(inst);
        break;
      case 'kill':
        await this.processes.killInstance(inst, e.reason);
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
        await this.processes.gracefulEnd(inst);
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


  // ---- runs and calls (scheduled-runs.ts, agent-call.ts) -----------------------------------------

  /** A schedule time came (already claimed in the store) or a manual trigger. */
  admit(req: { fireAt: number | null; payload?: unknown; manual: boolean; runId?: string }): Promise<{ runId: string; admitted: 'started' | 'queued' | 'skipped' | 'missed'; reason?: string }> {
    return this.runs.admit(req);
  }

  /**
   * A scheduled run recovered after a restart (claimed, never run): queued like an overlap-queued
   * run and started as soon as an instance is running.
   */
  requeue(req: { fireAt: number; runId: string }): void {
    this.runs.requeue(req);
  }

  /** See AgentCalls.call: the method as a run transaction, re-run on a commit conflict. Never rejects. */
  call(method: string, payload: unknown, opts: CallOptions): Promise<CallResult> {
    return this.calls.call(method, payload, opts);
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
    this.runs.drainQueue();
  }

  /** Over the soft memory limit: stop admitting, drain in-flight work, then restart per policy. */
  async onMemorySoftLimit(instanceId: string, usedBytes: number): Promise<void> {
    const inst = this.instances.find((i) => i.id === instanceId);
    if (!inst || inst.draining || inst.lc.status !== 'running') return;
    const gen = inst.generation;
    await this.processes.drainInstance(inst, gen);
    if (inst.generation !== gen) return;
    const msg = `memory_soft_limit: ${Math.round(usedBytes / 1048576)} MiB is over the soft limit (90% of resources.memory); drained and restarted`;
    inst.lastError = msg;
    await this.processes.killInstance(inst, msg);
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
