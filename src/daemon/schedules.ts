// Schedules of the daemon's agents: one Scheduler timer for all of them, the claim of each fire
// (the store's claim with its fire-ledger row; in a cluster both in one transaction fenced by the
// node's lease, src/cluster/fires.ts), the missed-run policy, and the recovery of fires claimed
// but never run (after a crash here, or left by a node that no longer runs the agent).
import { uuidv7 } from '../util/ids.js';
import type { Clock } from '../scheduler/types.js';
import { Scheduler, planMissed, type FireContext } from '../scheduler/index.js';
import { planRecovery, type FireLedger } from '../scheduler/fire-ledger.js';
import type { RunRecord, Store } from '../store/types.js';
import type { LogLine } from '../runtime/protocol.js';
import type { AgentController } from './agent-controller.js';
import type { Placement } from './placement.js';
import { adoptOrphanFires, claimFireFenced } from '../cluster/fires.js';

export interface ScheduleDeps {
  store: Store;
  fires: FireLedger;
  clock: Clock;
  controllers: Map<string, AgentController>;
  placement: () => Placement | null;
  log: (level: LogLine['level'], msg: string, fields?: Record<string, unknown>, agent?: string) => void;
}

export class Schedules {
  private scheduler: Scheduler | null = null;

  constructor(private readonly d: ScheduleDeps) {}

  nextFire(agent: string): number | null {
    return this.scheduler?.nextFire(agent) ?? null;
  }

  close(): void {
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
    await this.addSchedule(c, this.d.clock.now());
  }

  /** Arms every scheduled agent (missed times since the last stop are planned by policy). */
  async start(): Promise<void> {
    this.scheduler = new Scheduler({
      clock: this.d.clock,
      onFire: (agent, fireAt, ctx) => void this.onFire(agent, fireAt, ctx),
      onError: (err, agent) => this.d.log('error', `scheduler: ${(err as Error).message}`, undefined, agent),
    });
    const now = this.d.clock.now();
    for (const c of this.d.controllers.values()) await this.addSchedule(c, now);
  }

  /** Arms an agent's schedule from its stored last fire (missed times fire at once, coalesced). */
  private async addSchedule(c: AgentController, now: number): Promise<void> {
    const spec = c.scheduleSpec;
    if (!spec || !c.cfg.enabled || c.cfg.kind !== 'module' || !this.scheduler) return;
    const { lastFireAt } = await this.d.store.getSchedule(c.name);
    // In a cluster, the fires left open are recovered by the node that runs the agent.
    if (this.d.placement()?.runsAgent(c.name) !== false) await this.recoverFires(c, lastFireAt);
    // `every` schedules keep their phase across restarts: fire times are anchor + k·every.
    const stored = Number((await this.d.store.getMeta(`anchor:${c.name}`)) ?? NaN);
    // A new `every` schedule gets a phase from its name, so agents with the same period do not
    // all fire in the same millisecond.
    const anchor = Number.isFinite(stored) ? stored : spec.kind === 'every' ? now + phaseOffset(c.name, spec.everyMs) : now;
    if (!Number.isFinite(stored)) await this.d.store.setMeta(`anchor:${c.name}`, String(anchor));
    const next = this.scheduler.add(c.name, spec, { anchor, lastFireAt: lastFireAt ?? now });
    await this.d.store.setNextFire(c.name, next);
  }

  /**
   * Fires claimed before a crash or a restart whose run never committed (running, or waiting in
   * the overlap queue): run them now, or record them as missed when the policy is `skip`.
   */
  private async recoverFires(c: AgentController, lastFireAt: number | null): Promise<void> {
    const cluster = this.d.placement()?.leases;
    const h = this.d.store.handle();
    const lease = cluster?.heldOf(c.name)[0];
    // Cluster: the fires of owners that no longer run the agent (and this node's own, from before
    // it took the agent back) are adopted in one UPDATE; another live owner's are its to finish.
    const open = cluster && h.dialect === 'postgres' ? (lease ? await adoptOrphanFires(h, c.name, cluster.nodeId, lease.epoch, true) : []) : await this.d.fires.pending(c.name);
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

  /** Claims one fire time: the ledger row first, then the store's claim (see fire-ledger.ts). */
  private async claimFire(agent: string, fireAt: number): Promise<string | null> {
    const runId = uuidv7();
    const cluster = this.d.placement()?.leases;
    if (cluster) {
      const lease = cluster.heldOf(agent)[0];
      const h = this.d.store.handle();
      if (!lease || h.dialect !== 'postgres') return null;
      return (await claimFireFenced(h, { ...lease, owner: cluster.nodeId }, fireAt, runId, this.d.clock.now())) === true ? runId : null;
    }
    if (!(await this.d.fires.open(agent, fireAt, runId))) return null;
    if (await this.d.store.claimFire(agent, fireAt)) return runId;
    await this.d.fires.close(agent, fireAt);
    return null;
  }

  private async onFire(agent: string, fireAt: number, ctx: FireContext): Promise<void> {
    const c = this.d.controllers.get(agent);
    if (!c || !c.scheduleSpec) return;
    try {
      await this.d.store.setNextFire(agent, this.scheduler?.nextFire(agent) ?? null);
      // In a cluster the node running the agent fires it; the store's claim keeps a time to one fire.
      if (this.d.placement()?.runsAgent(agent) === false) return;
      if (ctx.coalesced.length === 0) {
        // The store decides: a time fires at most once, also across restarts and daemons.
        const runId = await this.claimFire(agent, fireAt);
        if (runId) await c.admit({ fireAt, manual: false, runId });
        return;
      }
      // Several fire times came due at once (the daemon was down, or the clock jumped): the
      // missed-run policy decides which run; every other one is recorded with its reason.
      const plan = planMissed({
        spec: c.scheduleSpec,
        anchor: Number((await this.d.store.getMeta(`anchor:${agent}`)) ?? fireAt),
        lastFireAt: ctx.previousFireAt,
        now: fireAt,
        policy: c.cfg.missed,
        reason: ctx.missedReason ?? 'daemon down',
      });
      const now = this.d.clock.now();
      const runs = new Set(plan.toRun);
      for (const t of [...plan.missed, ...plan.toRun].sort((x, y) => x - y)) {
        const runId = await this.claimFire(agent, t);
        if (!runId) continue;
        if (runs.has(t)) await c.admit({ fireAt: t, manual: false, runId });
        else {
          await this.d.store.recordRun({ ...missedRun(agent, t, now, plan.missedReason ?? 'daemon down'), id: runId });
          await this.d.fires.close(agent, t);
        }
      }
      if (plan.missed.length > 0) {
        this.d.log('warning', `${plan.missed.length} scheduled run(s) missed (${plan.missedReason}); policy ${c.cfg.missed} ran ${plan.toRun.length}`, undefined, agent);
      }
    } catch (err) {
      this.d.log('error', `schedule fire failed: ${(err as Error).message}`, undefined, agent);
    }
  }
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
