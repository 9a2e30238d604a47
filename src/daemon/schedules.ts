// Schedules of the daemon's agents: one Scheduler timer for all of them, the claim of each fire
// (the store's claim with its fire-ledger row; in a cluster both fenced by the node's lease,
// src/cluster/fires.ts), the missed-run policy, and the recovery of fires claimed but never run
// (after a crash here, or left by a node that no longer runs the agent).
//
// Batched, because the per-fire cost is what limits how many agents a node schedules: every fire
// time that comes due in one scheduler tick (agents on the same phase fire in the same
// millisecond) is claimed in ONE store transaction of multi-row statements, and the boot arms all
// schedules with a handful of queries rather than ~5 per agent. Before, 10,000 agents at 1 Hz
// kept the daemon's thread ~88 % in per-fire SQLite statements and the API starved; a boot of
// 1,000 agents on a loaded PostgreSQL armed 270 schedules in 6.5 minutes. The runs then commit
// in the store's group commit (commitRuns), their fire-ledger rows deleted in the same commit.
import { uuidv7 } from '../util/ids.js';
import type { Clock } from '../scheduler/types.js';
import { Scheduler, planMissed, type DueFire, type FireContext, type MissedRunPlan } from '../scheduler/index.js';
import { planRecovery, type FireLedger, type PendingFire } from '../scheduler/fire-ledger.js';
import type { RunCommit, RunRecord, Store } from '../store/types.js';
import type { LogLine } from '../runtime/protocol.js';
import type { AgentController } from './agent-controller.js';
import type { Placement } from './placement.js';
import { adoptOrphanFires, claimFireFenced, claimFiresFenced } from '../cluster/fires.js';

/** Most fires claimed by one statement (a tick of 10,000 same-phase agents takes a few). */
const MAX_CLAIM_BATCH = 2500;
/**
 * Most fire times in flight at once (ticks claiming, or committing their missed records; a tick
 * that crosses it still goes). Beyond it the scheduler waits and coalesces what comes due meanwhile (missed-run policy), so a stalled
 * thread or store never queues work without limit: 10,000 agents at 1 Hz after a stall of seconds
 * queued 4–9 missed records per agent per tick into the group commit, faster than they committed
 * (2.4 M open fire-ledger rows, a 4 GB daemon).
 */
const MAX_PENDING_FIRES = 8 * MAX_CLAIM_BATCH;

/** The limits above; tests set small ones. */
export interface ScheduleLimits {
  claimBatch: number;
  pendingFires: number;
}

export interface ScheduleDeps {
  store: Store;
  fires: FireLedger;
  clock: Clock;
  controllers: Map<string, AgentController>;
  placement: () => Placement | null;
  log: (level: LogLine['level'], msg: string, fields?: Record<string, unknown>, agent?: string) => void;
  limits?: Partial<ScheduleLimits>;
}

export class Schedules {
  private scheduler: Scheduler | null = null;
  /** Each armed agent's anchor (as stored), for the missed-run plans of coalesced fires. */
  private readonly anchors = new Map<string, number>();
  private readonly limits: ScheduleLimits;
  /**
   * Claims run one tick after the other (ticks may overlap in their missed records' commits): a
   * fire fenced in tick k re-arms its agent before tick k+1 claims a later time of it.
   */
  private claimTurn: Promise<unknown> = Promise.resolve();
  /** Bumped when an agent is re-armed: fires that came due under the former arming are dropped. */
  private readonly armGen = new Map<string, number>();
  private readonly rearmTimers = new Set<() => void>();

  constructor(private readonly d: ScheduleDeps) {
    this.limits = { claimBatch: d.limits?.claimBatch ?? MAX_CLAIM_BATCH, pendingFires: d.limits?.pendingFires ?? MAX_PENDING_FIRES };
  }

  nextFire(agent: string): number | null {
    return this.scheduler?.nextFire(agent) ?? null;
  }

  close(): void {
    for (const cancel of this.rearmTimers) cancel();
    this.rearmTimers.clear();
    this.scheduler?.close();
  }

  /**
   * The agent's schedule moves to this node: fires claimed by a node that is gone are run (or
   * recorded missed) and the times nobody fired during the handover are caught up by the policy.
   */
  async takeOver(agent: string): Promise<void> {
    const c = this.d.controllers.get(agent);
    if (!c || !this.scheduler) return;
    this.scheduler.remove(agent);
    this.bumpGen(agent);
    await this.addSchedules([c], this.d.clock.now());
  }

  /** Arms every scheduled agent (missed times since the last stop are planned by policy). */
  async start(): Promise<void> {
    this.scheduler = new Scheduler({
      clock: this.d.clock,
      onFires: (due) => this.onFires(due),
      maxPendingFires: this.limits.pendingFires,
      onError: (err, agent) => this.d.log('error', `scheduler: ${(err as Error).message}`, undefined, agent === '*' ? undefined : agent),
    });
    await this.addSchedules([...this.d.controllers.values()], this.d.clock.now());
  }

  /**
   * Arms agents' schedules from their stored last fires (missed times fire at once, coalesced).
   * A few queries for all of them: their schedule rows, anchors and open fires are read at once,
   * new anchors and next fire times written at once.
   */
  private async addSchedules(all: AgentController[], now: number): Promise<void> {
    const cs = all.filter((c) => c.scheduleSpec && c.cfg.enabled && c.cfg.kind === 'module');
    if (cs.length === 0 || !this.scheduler) return;
    const names = cs.map((c) => c.name);
    const [stored, anchors, open] = await Promise.all([
      this.d.store.getSchedules(names),
      this.d.store.getMetas(names.map((n) => `anchor:${n}`)),
      this.d.fires.pendingOf(names),
    ]);
    // In a cluster, the fires left open are recovered by the node that runs the agent.
    const placement = this.d.placement();
    for (const c of cs) {
      if ((open.get(c.name)?.length ?? 0) > 0 && placement?.runsAgent(c.name) !== false) await this.recoverFires(c, stored.get(c.name)?.lastFireAt ?? null, open.get(c.name)!);
    }
    const newAnchors: Array<[string, string]> = [];
    const nexts: Array<{ agent: string; nextFireAt: number }> = [];
    for (const c of cs) {
      const spec = c.scheduleSpec!;
      // `every` schedules keep their phase across restarts: fire times are anchor + k·every.
      const kept = Number(anchors.get(`anchor:${c.name}`) ?? NaN);
      // A new `every` schedule gets a phase from its name, so agents with the same period do not
      // all fire in the same millisecond.
      const anchor = Number.isFinite(kept) ? kept : spec.kind === 'every' ? now + phaseOffset(c.name, spec.everyMs) : now;
      if (!Number.isFinite(kept)) newAnchors.push([`anchor:${c.name}`, String(anchor)]);
      this.anchors.set(c.name, anchor);
      const lastFireAt = stored.get(c.name)?.lastFireAt ?? null;
      nexts.push({ agent: c.name, nextFireAt: this.scheduler.add(c.name, spec, { anchor, lastFireAt: lastFireAt ?? now }) });
    }
    await this.d.store.setMetas(newAnchors);
    await this.d.store.setNextFires(nexts);
  }

  /**
   * Fires claimed before a crash or a restart whose run never committed (running, or waiting in
   * the overlap queue): run them now, or record them as missed when the policy is `skip`.
   * `seen`: the agent's open fires as read at boot (some exist; in a cluster they are adopted
   * first — a lease is taken FOR UPDATE, after any fire claim of the previous owner committed, so
   * a row that was not there when read will not appear under another owner).
   */
  private async recoverFires(c: AgentController, lastFireAt: number | null, seen: PendingFire[]): Promise<void> {
    const cluster = this.d.placement()?.leases;
    const h = this.d.store.handle();
    const lease = cluster?.heldOf(c.name)[0];
    // Cluster: the fires of owners that no longer run the agent (and this node's own, from before
    // it took the agent back) are adopted in one UPDATE; another live owner's are its to finish.
    const open = cluster && h.dialect === 'postgres' ? (lease ? await adoptOrphanFires(h, c.name, cluster.nodeId, lease.epoch, true) : []) : seen;
    if (open.length === 0) return;
    const withRan = await Promise.all(open.map(async (f) => ({ ...f, ran: await this.d.fires.ran(f.runId) })));
    const now = this.d.clock.now();
    const plan = planRecovery(withRan, lastFireAt, c.cfg.missed);
    for (const f of plan) {
      if (f.action === 'run') c.requeue({ fireAt: f.fireAt, runId: f.runId });
      else {
        if (f.action === 'missed') await this.d.store.recordRun({ ...missedRun(c.name, f.fireAt, now, 'daemon down (claimed, not run)'), id: f.runId });
        await this.d.fires.close(c.name, f.fireAt);
      }
    }
    const ran = plan.filter((f) => f.action === 'run').length;
    const missed = plan.filter((f) => f.action === 'missed').length;
    if (ran + missed > 0) this.d.log(missed > 0 ? 'warning' : 'info', `${ran + missed} scheduled run(s) claimed before the last stop had not run: ${ran} queued again, ${missed} recorded as missed (policy ${c.cfg.missed})`, undefined, c.name);
  }

  /**
   * Claims the fire times of one tick: one statement or transaction per claimBatch fires. Returns
   * each one's run id, or null where it was not claimed. In a cluster, a fire whose lease is gone
   * ('fenced', or no longer held here) writes nothing: its agent is re-armed from the stored last
   * fire (rearm), so the time is caught up by policy here or by the node that takes the agent over
   * — never passed over by the claim of a later time.
   */
  private async claimTick(batch: TickFire[]): Promise<Array<string | null>> {
    const out: Array<string | null> = batch.map(() => null);
    const cluster = this.d.placement()?.leases;
    if (!cluster) {
      for (let i = 0; i < batch.length; i += this.limits.claimBatch) {
        const chunk = batch.slice(i, i + this.limits.claimBatch).map((f) => ({ agent: f.c.name, fireAt: f.fireAt, runId: uuidv7() }));
        try {
          const claimed = await this.d.fires.claimBatch(chunk);
          chunk.forEach((f, k) => (out[i + k] = claimed[k] ? f.runId : null));
        } catch (err) {
          this.d.log('error', `schedule fire failed for ${chunk.length} fire time(s): ${(err as Error).message}`);
        }
      }
      return out;
    }
    const h = this.d.store.handle();
    if (h.dialect !== 'postgres') return out;
    const fenced = new Set<string>();
    // One time per agent (the usual tick): claimed together. Several (coalesced): one by one, in
    // order, stopping at the first fenced one (a statement upserts an agent's row once).
    const count = new Map<string, number>();
    for (const f of batch) count.set(f.c.name, (count.get(f.c.name) ?? 0) + 1);
    const single: Array<{ i: number; agent: string; instance: string; epoch: number; fireAt: number; runId: string }> = [];
    for (let i = 0; i < batch.length; i++) {
      const f = batch[i]!;
      const lease = cluster.heldOf(f.c.name)[0];
      if (!lease) fenced.add(f.c.name);
      else if (count.get(f.c.name) === 1) single.push({ i, agent: f.c.name, instance: lease.instance, epoch: lease.epoch, fireAt: f.fireAt, runId: uuidv7() });
    }
    for (let j = 0; j < single.length; j += this.limits.claimBatch) {
      const chunk = single.slice(j, j + this.limits.claimBatch);
      try {
        const claimed = await claimFiresFenced(h, cluster.nodeId, chunk, this.d.clock.now());
        chunk.forEach((f, k) => {
          if (claimed[k] === 'fenced') fenced.add(f.agent);
          else if (claimed[k] === true) out[f.i] = f.runId;
        });
      } catch (err) {
        this.d.log('error', `schedule fire failed for ${chunk.length} fire time(s): ${(err as Error).message}`);
      }
    }
    for (let i = 0; i < batch.length; i++) {
      const f = batch[i]!;
      const lease = cluster.heldOf(f.c.name)[0];
      if (count.get(f.c.name) === 1 || fenced.has(f.c.name) || !lease) continue;
      const runId = uuidv7();
      try {
        const r = await claimFireFenced(h, { ...lease, owner: cluster.nodeId }, f.fireAt, runId, this.d.clock.now());
        if (r === 'fenced') fenced.add(f.c.name);
        else if (r) out[i] = runId;
      } catch (err) {
        this.d.log('error', `schedule fire failed: ${(err as Error).message}`, undefined, f.c.name);
        fenced.add(f.c.name);
      }
    }
    if (fenced.size > 0) this.rearm([...fenced]);
    return out;
  }

  /**
   * Fires of `agents` were fenced (their lease lapsed, if only for a moment: a renewal in flight
   * at the expiry is not seen by a claim that began before it committed, and the lease then lives
   * on at the same epoch). Their times were not claimed, and the claim of a later time would pass
   * over them for good: the agents are armed again from their stored last fires, at their next
   * fire time (a lease that stays lapsed costs one claim a period, not a loop, until the node
   * notices and stops firing the agent; the node that takes it over catches the times up).
   * Fires that came due under the former arming are dropped by their generation.
   */
  private rearm(agents: string[]): void {
    const scheduler = this.scheduler;
    if (!scheduler) return;
    const now = this.d.clock.now();
    let at = Infinity;
    const removed: string[] = [];
    for (const agent of agents) {
      at = Math.min(at, scheduler.nextFire(agent) ?? Infinity);
      if (!scheduler.remove(agent)) continue;
      this.bumpGen(agent);
      removed.push(agent);
    }
    if (removed.length === 0) return;
    const cancel = this.d.clock.setTimer(
      () => {
        this.rearmTimers.delete(cancel);
        this.claimTurn = this.claimTurn
          .then(async () => {
            const stored = await this.d.store.getSchedules(removed);
            for (const agent of removed) {
              const c = this.d.controllers.get(agent);
              // Armed again meanwhile (a take-over): that arming read the store itself.
              if (!c?.scheduleSpec || !this.scheduler || this.scheduler.has(agent)) continue;
              const t = this.d.clock.now();
              this.scheduler.add(agent, c.scheduleSpec, { anchor: this.anchors.get(agent) ?? t, lastFireAt: stored.get(agent)?.lastFireAt ?? t });
            }
          })
          .catch((err: Error) => this.d.log('error', `could not re-arm ${removed.length} schedule(s) after fenced fires: ${err.message}`));
      },
      Math.max(0, Math.min(at, now + 60_000) - now),
    );
    this.rearmTimers.add(cancel);
  }

  private bumpGen(agent: string): void {
    this.armGen.set(agent, (this.armGen.get(agent) ?? 0) + 1);
  }

  /**
   * One scheduler tick: its fire times claimed (after the previous tick's claims), the runs
   * admitted, the missed records committed — awaited, so the scheduler's back-pressure
   * (MAX_PENDING_FIRES) bounds what is queued in the group commit.
   */
  private async onFires(due: DueFire[]): Promise<void> {
    // Taken as the tick came due: a re-arm from now on makes these fires stale.
    const gens = new Map(due.map((f) => [f.agent, this.armGen.get(f.agent) ?? 0]));
    const placement = this.d.placement();
    const batch: TickFire[] = [];
    const plans: Array<{ c: AgentController; missed: number; ran: number; reason: string | null }> = [];
    for (const f of due) {
      const c = this.d.controllers.get(f.agent);
      if (!c || !c.scheduleSpec) continue;
      // In a cluster the node running the agent fires it; the store's claim keeps a time to one fire.
      if (placement?.runsAgent(f.agent) === false) continue;
      // The store decides: a time fires at most once, also across restarts and daemons.
      if (f.context.coalesced.length === 0) batch.push({ c, fireAt: f.fireAt, run: true, reason: null });
      else {
        // Several fire times came due at once (a stalled event loop, a clock jump, a take-over):
        // the missed-run policy decides which run; the others are recorded with their reason.
        // Their claims join the tick's (a stall of a node with thousands of agents makes every
        // fire of the next tick coalesced: fire by fire, they would stall it further).
        const plan = this.plan(c, f.fireAt, f.context);
        const runs = new Set(plan.toRun);
        for (const t of [...plan.missed, ...plan.toRun].sort((x, y) => x - y)) batch.push({ c, fireAt: t, run: runs.has(t), reason: plan.missedReason ?? 'daemon down' });
        if (plan.missed.length > 0) plans.push({ c, missed: plan.missed.length, ran: plan.toRun.length, reason: plan.missedReason });
      }
    }
    // Chained before any await: ticks claim in the order they came due.
    const turn = this.claimTurn.then(() => {
      const live = batch.filter((f) => (this.armGen.get(f.c.name) ?? 0) === gens.get(f.c.name));
      return this.claimTick(live).then((ids) => ({ live, ids }));
    });
    this.claimTurn = turn.catch(() => undefined);
    const nexts = this.d.store
      .setNextFires(due.map((f) => ({ agent: f.agent, nextFireAt: this.scheduler?.nextFire(f.agent) ?? null })))
      .catch((err: Error) => this.d.log('warning', `could not record the next fire times: ${err.message}`));
    const { live, ids } = await turn;
    await nexts;
    const now = this.d.clock.now();
    const missed: RunCommit[] = [];
    const toRun = new Map<AgentController, Array<{ fireAt: number; runId: string }>>();
    live.forEach(({ c, fireAt, run, reason }, k) => {
      const runId = ids[k];
      if (!runId) return;
      if (run) toRun.set(c, [...(toRun.get(c) ?? []), { fireAt, runId }]);
      // Recorded through the group commit, the fire's ledger row closed in the same commit.
      else missed.push({ writes: [], reads: [], emits: [], run: { ...missedRun(c.name, fireAt, now, reason ?? 'daemon down'), id: runId }, effects: [this.d.fires.closeEffect(c.name, fireAt)] });
    });
    // Awaited too: an admission that does not start its run records it (skipped by overlap, still
    // starting, paused) through the group commit — at 10,000 agents whose runs are still going,
    // one skipped record per agent per tick, queued without limit unless the tick waits for them.
    // A run that starts is not waited for (admit resolves as it starts).
    const admitted = Promise.all([...toRun].map(([c, runs]) => this.admitInOrder(c, runs)));
    for (const p of plans) this.d.log('warning', `${p.missed} scheduled run(s) missed (${p.reason}); policy ${p.c.cfg.missed} ran ${p.ran}`, undefined, p.c.name);
    // A chunk at a time: at most claimBatch records of this tick wait in the group commit.
    for (let i = 0; i < missed.length; i += this.limits.claimBatch) {
      const chunk = missed.slice(i, i + this.limits.claimBatch);
      try {
        await this.d.store.commitRuns(chunk);
      } catch (err) {
        // Their ledger rows stay open: recovered (run or recorded by policy) at the next start.
        this.d.log('error', `could not record ${chunk.length} missed run(s): ${(err as Error).message}`);
      }
    }
    await admitted;
  }

  /** Admits an agent's claimed fire times oldest first, one after the other (as they came due). */
  private async admitInOrder(c: AgentController, runs: Array<{ fireAt: number; runId: string }>): Promise<void> {
    for (const r of runs) {
      try {
        await c.admit({ fireAt: r.fireAt, manual: false, runId: r.runId });
      } catch (err) {
        this.d.log('error', `schedule fire failed: ${(err as Error).message}`, undefined, c.name);
      }
    }
  }

  /** The missed-run plan of a coalesced fire (the anchor is the one armed, kept in memory). */
  private plan(c: AgentController, fireAt: number, ctx: FireContext): MissedRunPlan {
    return planMissed({
      spec: c.scheduleSpec!,
      anchor: this.anchors.get(c.name) ?? fireAt,
      lastFireAt: ctx.previousFireAt,
      now: fireAt,
      policy: c.cfg.missed,
      reason: ctx.missedReason ?? 'daemon down',
    });
  }
}

/** One fire time of a tick's batch: to run, or to record missed with `reason`. */
interface TickFire {
  c: AgentController;
  fireAt: number;
  run: boolean;
  reason: string | null;
}

/** A stable offset in [0, period) derived from the agent's name (FNV-1a). */
function phaseOffset(name: string, periodMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % Math.max(1, periodMs);
}

function missedRun(agent: string, fireAt: number, now: number, reason: string): RunRecord {
  return { id: uuidv7(), agent, instance: null, trigger: 'schedule', status: 'missed', scheduledAt: fireAt, startedAt: now, finishedAt: now, error: null, reason, eventId: null };
}
