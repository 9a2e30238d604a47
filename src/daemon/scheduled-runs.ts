// One agent's scheduled and manual runs: admission (overlap policy, first start, paused), the
// queue of runs waiting for capacity, and the run itself with its conflict retries and its
// schedule fire closed in the run's own commit.
import { uuidv7 } from '../util/ids.js';
import type { AgentConfig } from '../config/types.js';
import type { RunRecord } from '../store/types.js';
import type { LifecycleEvent } from '../supervisor/lifecycle.js';
import type { AgentStatus } from './control.js';
import type { Instance } from './instance.js';
import type { ControllerDeps } from './controller-deps.js';
import { executeRun, recordRunFenced, MAX_CONFLICT_RETRIES, type RunOutcome } from './run-transaction.js';
import { decideOverlap } from '../scheduler/timeline.js';

/** What scheduled runs need from their controller. */
export interface RunHost {
  readonly instances: Instance[];
  paused(): boolean;
  firstStart(): boolean;
  status(): AgentStatus;
  mayRun(i: Instance): boolean;
  usable(): Instance[];
  hasCapacity(maxBusy: number): boolean;
  pickInstance(needReady: boolean, maxBusy: number): Instance | null;
  drainInstance(inst: Instance, gen: number): Promise<void>;
  killInstance(inst: Instance, reason: string): Promise<void>;
  dispatch(inst: Instance, event: LifecycleEvent): Promise<void>;
}

export class ScheduledRuns {
  private runningScheduled = 0;
  private queuedScheduled: Array<{ fireAt: number | null; payload?: unknown; runId: string; manual: boolean }> = [];

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: ControllerDeps,
    private readonly host: RunHost,
  ) {}

  /** A schedule time came (already claimed in the store) or a manual trigger. */
  async admit(req: { fireAt: number | null; payload?: unknown; manual: boolean; runId?: string }): Promise<{ runId: string; admitted: 'started' | 'queued' | 'skipped' | 'missed'; reason?: string }> {
    const runId = req.runId ?? uuidv7();
    const now = this.deps.clock.now();
    const missed = async (status: 'missed' | 'skipped', reason: string, level: 'warning' | 'info' = 'warning') => {
      const run: RunRecord = { id: runId, agent: this.cfg.name, instance: null, trigger: req.manual ? 'manual' : 'schedule', status, scheduledAt: req.fireAt, startedAt: now, finishedAt: now, error: null, reason, eventId: null };
      // Fenced like a run (cluster): a node that lost the agent's lease meanwhile records nothing;
      // the node that took it over runs this fire: its fire stays open unless the record committed.
      // The fire's ledger row is closed in the record's own commit (group-committed with the other
      // records of the tick), as a run's is.
      const close = !req.manual && req.fireAt !== null && this.deps.fires ? [this.deps.fires.closeEffect(this.cfg.name, req.fireAt)] : undefined;
      await recordRunFenced(this.deps.runContext, run, (this.host.instances.find((i) => this.host.mayRun(i)) ?? this.host.instances[0]!).id, undefined, close);
      this.deps.log(level, `run ${status} at ${new Date(req.fireAt ?? now).toISOString()}: ${reason}`, { reason });
      return { runId, admitted: status, reason } as const;
    };
    if (this.cfg.kind === 'command') return missed('skipped', 'command agents have no run(); they are triggered over their own API');
    if (this.host.paused()) return missed('missed', 'paused');
    // Runs that come due while the agent is still on its first start are expected, not missed: the
    // first waits for it (drainQueue runs it on `running`), later ones fold into that one.
    // A manual trigger in that window is queued too: the user asked for a run, and one is coming.
    if (req.manual && this.host.firstStart()) {
      this.queuedScheduled.push({ fireAt: req.fireAt, payload: req.payload, runId, manual: true });
      return { runId, admitted: 'queued' };
    }
    if (!req.manual && this.host.firstStart()) {
      if (this.queuedScheduled.length === 0) {
        this.queuedScheduled.push({ fireAt: req.fireAt, payload: req.payload, runId, manual: false });
        return { runId, admitted: 'queued' };
      }
      return missed('skipped', 'the agent is still starting; one run is already queued for when it is ready', 'info');
    }
    if (this.host.usable().length === 0) return missed('missed', `agent not running (${this.host.status()})`);
    const decision = req.manual ? 'start' : decideOverlap({ policy: this.cfg.overlap, running: this.runningScheduled, queued: this.queuedScheduled.length });
    if (decision === 'skip') return missed('skipped', 'overlap: the previous run is still in progress');
    if (decision === 'queue' || !this.host.hasCapacity(this.cfg.overlap === 'allow' || req.manual ? Infinity : 1)) {
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

  drainQueue(): void {
    while (this.queuedScheduled.length > 0 && !this.host.paused()) {
      if (this.cfg.overlap !== 'allow' && this.runningScheduled > 0) return;
      if (!this.host.hasCapacity(this.cfg.overlap === 'allow' ? Infinity : 1)) return;
      void this.runScheduled(this.queuedScheduled.shift()!);
    }
  }

  private async runScheduled(req: { fireAt: number | null; payload?: unknown; runId: string; manual: boolean }): Promise<void> {
    const inst = this.host.pickInstance(false, Infinity);
    if (!inst || inst.handle?.kind !== 'module') {
      // No instance after all: back to the head of the queue, never dropped.
      this.queuedScheduled.unshift(req);
      return;
    }
    this.runningScheduled++;
    inst.busy++;
    const gen = inst.generation;
    // A schedule fire is closed in the run's own commit: it is done exactly when the run is.
    const fireDone = !req.manual && req.fireAt !== null && this.deps.fires ? [this.deps.fires.closeEffect(this.cfg.name, req.fireAt)] : null;
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
        { id: req.runId, agent: this.cfg.name, instance: inst.id, trigger: req.manual ? 'manual' : 'schedule', status: 'failed', scheduledAt: req.fireAt, startedAt: outcome.startedAt, finishedAt: now, error: `the instance ended during the run: ${outcome.error?.message ?? 'gone'}`, reason: null, eventId: null },
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
        { id: req.runId, agent: this.cfg.name, instance: inst.id, trigger: req.manual ? 'manual' : 'schedule', status: 'failed', scheduledAt: req.fireAt, startedAt: outcome.startedAt, finishedAt: now, error, reason: null, eventId: null },
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
      await this.host.drainInstance(inst, gen);
      if (inst.generation === gen) {
        await this.host.killInstance(inst, msg);
        await this.host.dispatch(inst, { type: 'crashed', reason: 'run_failed', message: msg });
      }
    }
    this.drainQueue();
  }
}
