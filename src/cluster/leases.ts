// Fenced agent leases on PostgreSQL: each daemon (node) holds the leases of the agent instances it
// runs, renews them every lease/3, takes free or expired ones up to its share (placement.ts),
// hands one over per renewal when a node joined, and gives all up on drain.
//
// Fencing: an acquisition bumps the lease's epoch; every run commit of the instance carries
// (owner, epoch) and the store checks it, with the lease unexpired on the database clock, in the
// commit's transaction (RunCommit.fence). A node paused past its lease (SIGSTOP, a long GC, a
// partition) commits nothing when it wakes: its epoch is stale or its lease expired, and renewal
// only extends an unexpired lease. Independently the node stops its instances once its local
// deadline (last successful renewal + lease − margin) passes without a renewal.
//
// Renewal runs from join() on (not only once the boot has started every agent), on its own
// connection (conn.ts) with a timeout, apart from placement (loads, acquisitions, hand-overs on
// the pool). A renewal that comes late — the event loop was blocked past the deadline — is tried
// before anything is stopped: it keeps every lease that has not expired in the database. A lease
// that lapsed is NOT revived, even when nobody took it (its epoch unchanged): other nodes act on
// expiry without moving the epoch (adopting the open schedule fires of an owner whose lease
// lapsed, workflow runs of a node whose heartbeat lapsed), so reviving it could run their work
// twice. It is stopped here and taken again with a new epoch at the next placement step.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PostgresHandle } from '../store/extension.js';
import type { LeaseFence } from '../store/types.js';
import type { NodeView } from '../contracts/control.js';
import type { ClusterConfig } from './config.js';
import { DB_NOW } from './schema.js';
import { step, type NodeLoad } from './placement.js';
import { DedicatedConnection } from './conn.js';
import { LifecycleChannel } from './lifecycle.js';
import { leaseOwners, listNodes } from './views.js';
import * as SQL from './lease-sql.js';
import type { FenceCounts, HeldLease, LeaseSlot, PlacementListener } from './lease-types.js';

export type { FenceCounts, HeldLease, LeaseSlot, PlacementListener } from './lease-types.js';

export class LeaseManager {
  readonly nodeId: string;
  private readonly bootId = randomUUID();
  private readonly held = new Map<string, HeldLease>();
  /** Leases being handed over: renewed while their instance stops (its last runs commit), then freed. */
  private readonly handing = new Map<string, { lease: HeldLease; done: Promise<void> }>();
  /** Leases this node held once: a late commit is fenced with its old epoch (and refused). */
  private readonly former = new Map<string, HeldLease>();
  private deadline = 0;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private ticking: Promise<void> | null = null;
  /** Placement (taking and handing over) runs once the boot started the agents; renewal from join(). */
  private placing = false;
  /** The last renewal failed (database error or timeout): past the deadline the node stops, no second try. */
  private failing = false;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly conn: DedicatedConnection;
  /** Lifecycle actions across nodes, on the lease connection (lifecycle.ts). */
  readonly lifecycle: LifecycleChannel;
  /** Renewals that came after the deadline, and how many of those the database accepted. */
  readonly late = { attempts: 0, kept: 0 };
  readonly counts: FenceCounts = { attempts: 0, accepted: 0, fenced: 0, failed: 0 };
  private readonly s: string;

  constructor(
    private readonly h: PostgresHandle,
    private readonly cfg: ClusterConfig,
    private readonly slots: LeaseSlot[],
    private readonly listener: PlacementListener,
  ) {
    this.nodeId = cfg.nodeId;
    this.s = h.schema;
    this.conn = new DedicatedConnection(h.url, cfg.leaseMs, (err) => listener.log('warning', `cluster: lease connection error: ${err.message}`), `openclaw lease ${cfg.nodeId} ${h.schemaName}`);
    this.lifecycle = new LifecycleChannel(this.conn, h.pool, h.schemaName, cfg.nodeId);
  }

  get leaseMs(): number {
    return this.cfg.leaseMs;
  }

  holds(instance: string): boolean {
    return this.held.has(instance);
  }

  heldOf(agent: string): HeldLease[] {
    return [...this.held.values()].filter((l) => l.agent === agent);
  }

  /** Every lease held here. */
  heldAll(): IterableIterator<HeldLease> {
    return this.held.values();
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** The fence of an instance's commits: its lease, or the last one it had here (refused by the store). */
  fence(instance: string): LeaseFence {
    const l = this.held.get(instance) ?? this.former.get(instance);
    const agent = l?.agent ?? instance.replace(/#\d+$/, '');
    return { agent, instance, owner: this.nodeId, epoch: l?.epoch ?? -1 };
  }

  settled(result: 'accepted' | 'fenced' | 'failed'): void {
    this.counts.attempts++;
    this.counts[result]++;
  }

  private registered = false;

  /**
   * Registers the node (a live heartbeat, renewed from now on) before the daemon's modules start:
   * a booting node's workflow runs must not look orphaned to the others (they adopt the runs of
   * nodes without a live heartbeat), or a step could run on both. `join()` then takes leases.
   */
  async register(address: string | null): Promise<void> {
    await this.h.pool.query(
      SQL.register(this.s),
      [this.nodeId, this.cfg.address ?? address, this.cfg.weight, this.cfg.capacity, this.bootId, process.pid, this.cfg.leaseMs],
    );
    this.registered = true;
    this.deadline = performance.now() + this.safeMs();
    this.arm();
  }

  /**
   * Registers the node (taking its id over from a previous boot) and the lease rows, and adopts
   * the leases its previous boot still holds: a restart on the same node id resumes at once, with
   * new epochs (the old boot's late writes are fenced).
   */
  async join(address: string | null): Promise<Array<{ lease: HeldLease; prev: { owner: string | null; alive: boolean } }>> {
    const { s } = this;
    if (!this.registered) await this.register(address);
    else await this.h.pool.query(`UPDATE ${s}.cluster_nodes SET address = $3 WHERE node_id = $1 AND boot_id = $2`, [this.nodeId, this.bootId, this.cfg.address ?? address]);
    if (this.slots.length > 0) {
      await this.h.pool.query(`INSERT INTO ${s}.agent_leases (agent, instance) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`, [
        this.slots.map((x) => x.agent),
        this.slots.map((x) => x.instance),
      ]);
    }
    const sent = performance.now();
    const res = await this.h.pool.query<{ agent: string; instance: string; epoch: string }>(
      SQL.adopt(s),
      [this.nodeId, this.cfg.leaseMs, this.slots.map((x) => x.instance)],
    );
    this.deadline = sent + this.safeMs();
    // Renew from now on: starting the agents and arming their schedules may take far longer than a
    // lease (a thousand agents: tens of seconds), and the leases just taken must not lapse meanwhile.
    this.arm();
    const adopted = res.rows.map((r) => ({ lease: this.take({ agent: r.agent, instance: r.instance, epoch: Number(r.epoch) }), prev: { owner: this.nodeId, alive: false } }));
    // Its share of what is free now, before the agents start: a lone daemon starts every agent at
    // boot, as a single daemon does (not one renewal later). The caller starts these instances.
    const plan = step(this.nodeId, await this.loads(), this.slots.length);
    return [...adopted, ...(plan.acquire > 0 ? await this.acquire(plan.acquire, false) : [])];
  }

  /** Starts placing (taking free leases, handing over on a rebalance); renewal runs since join(). */
  start(): void {
    this.placing = true;
    this.arm();
    this.onTimer();
  }

  private arm(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.onTimer(), this.periodMs());
    this.timer.unref();
  }

  private periodMs(): number {
    return Math.max(100, Math.floor(this.cfg.leaseMs / 3));
  }

  private marginMs(): number {
    return Math.max(100, Math.floor(this.cfg.leaseMs / 6));
  }

  /** A renewal must succeed before this much of the lease is gone, or the node stops its instances. */
  private safeMs(): number {
    return this.cfg.leaseMs - this.marginMs();
  }

  private onTimer(): void {
    if (this.stopped) return;
    // Renewal and placement run apart: a slow placement query never holds a renewal up.
    this.renewing ??= this.renew()
      .catch((err: Error) => this.listener.log('warning', `cluster: renewal failed: ${err.message}`))
      .finally(() => (this.renewing = null));
    if (!this.placing || this.ticking) return;
    this.ticking = this.renewing
      .then(() => (this.stopped ? undefined : this.place()))
      .catch((err: Error) => this.listener.log('warning', `cluster: placement failed: ${err.message}`))
      .finally(() => (this.ticking = null));
  }

  /** One renewal and placement step, in order (tests drive it directly). */
  async tick(): Promise<void> {
    await this.renew();
    await this.place();
  }

  /**
   * Heartbeat and renewal in one statement on the lease connection. On time, it must answer before
   * the deadline; late (the event loop was blocked past it), it is tried before anything stops,
   * within one renewal period, and keeps every lease the database still gives this node.
   */
  private async renew(): Promise<void> {
    const { s } = this;
    const sent = performance.now();
    const list = [...this.held.values(), ...[...this.handing.values()].map((x) => x.lease)];
    // Late: the deadline passed while the last renewal had succeeded — nothing ran in time (a
    // blocked event loop). After a failed renewal the node stops at the deadline (timer below).
    const late = list.length > 0 && sent > this.deadline;
    if (late && this.failing) {
      this.loseAll(`lease not renewed within ${this.safeMs()} ms`);
      list.length = 0;
    }
    if (late) this.late.attempts++;
    let res: { beat: number; renewed: string[] | null };
    try {
      const q = await this.conn.query<{ beat: number; renewed: string[] | null }>(
        SQL.renew(s),
        [this.nodeId, this.cfg.leaseMs, list.map((l) => l.instance), list.map((l) => l.epoch), this.bootId],
        late ? this.periodMs() : Math.max(100, this.deadline - sent),
      );
      res = q.rows[0]!;
    } catch (err) {
      this.failing = true;
      const reason = `lease not renewed within ${this.safeMs()} ms (${(err as Error).message})`;
      const left = this.deadline - performance.now();
      if (list.length > 0 && (late || left <= 0)) this.loseAll(reason);
      else if (list.length > 0 && !this.deadlineTimer) {
        // Stop at the deadline unless a renewal succeeds before it (timers, not the next period).
        this.deadlineTimer = setTimeout(() => {
          this.deadlineTimer = null;
          if (this.failing && performance.now() > this.deadline) this.loseAll(reason);
        }, left + 1);
        this.deadlineTimer.unref();
      }
      throw err;
    }
    this.failing = false;
    // Answered only after the deadline (the loop was blocked while the renewal was in flight): try
    // a late renewal now rather than a period from now.
    if (list.length > 0 && performance.now() > sent + this.safeMs()) setImmediate(() => this.onTimer());
    if (res.beat === 0) {
      this.listener.log('error', `cluster: node id '${this.nodeId}' was taken by another daemon (same cluster.node_id?); stopping every agent here — give each daemon its own cluster.node_id`);
      this.stopped = true;
      this.loseAll('node id taken by another daemon');
      return;
    }
    const renewed = new Set(res.renewed ?? []);
    this.deadline = sent + this.safeMs();
    for (const l of list) if (!renewed.has(l.instance) && this.held.get(l.instance) === l) this.lose(l, late ? `lease not renewed within ${this.safeMs()} ms: it lapsed or was taken over meanwhile` : 'lease expired or taken over');
    if (late) {
      this.late.kept += renewed.size;
      this.listener.log('warning', `cluster: renewal came ${Math.round(sent - this.deadline + this.safeMs())} ms after the last one (event loop blocked?): ${renewed.size} lease(s) kept, ${list.length - renewed.size} lost (lapsed or taken over)`);
    }
  }

  /** Takes free leases up to this node's share, or hands one over when another node is short. */
  private async place(): Promise<void> {
    const loads = await this.loads();
    const total = this.slots.length;
    const plan = step(this.nodeId, loads, total);
    if (plan.acquire > 0) await this.acquire(plan.acquire);
    else if (plan.release > 0 && this.handing.size === 0) this.handOver(1, 'rebalance: a node joined');
  }

  private async loads(): Promise<NodeLoad[]> {
    const res = await this.h.pool.query<{ node_id: string; weight: number; capacity: number | null; held: string }>(
      `SELECT n.node_id, n.weight, n.capacity,
         (SELECT count(*) FROM ${this.s}.agent_leases l WHERE l.owner = n.node_id AND l.expires_at > ${DB_NOW}) AS held
       FROM ${this.s}.cluster_nodes n WHERE n.expires_at > ${DB_NOW} AND NOT n.draining`,
    );
    return res.rows.map((r) => ({ nodeId: r.node_id, weight: r.weight, capacity: r.capacity, held: Number(r.held) }));
  }

  private async acquire(n: number, notify = true): Promise<Array<{ lease: HeldLease; prev: { owner: string | null; alive: boolean } }>> {
    const { s } = this;
    const mine = [...new Set([...this.held.values()].map((l) => l.agent))];
    const res = await this.h.pool.query<{ agent: string; instance: string; epoch: string; prev: string | null; alive: boolean }>(
      SQL.acquire(s),
      [this.nodeId, this.slots.map((x) => x.instance), mine, n, this.cfg.leaseMs],
    );
    const out = res.rows.map((r) => ({ lease: this.take({ agent: r.agent, instance: r.instance, epoch: Number(r.epoch) }), prev: { owner: r.prev, alive: r.alive } }));
    if (notify) {
      // Starting instances takes a while (a thousand of them: many seconds): never hold the renewal
      // tick up for it, or the node misses its own deadline and drops every lease it holds.
      for (const { lease, prev } of out) void this.listener.acquired(lease, prev).catch((err: Error) => this.listener.log('error', `cluster: starting ${lease.instance} failed: ${err.message}`));
    }
    return out;
  }

  private take(l: HeldLease): HeldLease {
    this.held.set(l.instance, l);
    this.former.delete(l.instance);
    return l;
  }

  /** The lease is gone: its instance stops here, in the background (renewals never wait for a stop). */
  private lose(l: HeldLease, reason: string): void {
    if (this.held.get(l.instance) !== l) return;
    this.held.delete(l.instance);
    this.former.set(l.instance, l);
    this.listener.log('warning', `cluster: lease of ${l.instance} (epoch ${l.epoch}) lost: ${reason}; stopping it here`);
    void this.listener.lost(l, reason).catch(() => undefined);
  }

  private loseAll(reason: string): void {
    for (const l of [...this.held.values()]) this.lose(l, reason);
    // Being handed over, but no longer renewed either: their stops go on, their commits are fenced.
    for (const [instance, x] of [...this.handing]) {
      this.handing.delete(instance);
      this.former.set(instance, x.lease);
    }
  }

  /**
   * Stops `n` instances here (gracefully, in the background: the tick keeps renewing their leases
   * so their last runs commit), then frees each lease for the others.
   */
  private handOver(n: number, reason: string): Promise<void>[] {
    return [...this.held.values()].slice(0, n).map((l) => {
      this.held.delete(l.instance);
      this.former.set(l.instance, l);
      this.listener.log('info', `cluster: handing ${l.instance} over (${reason})`);
      const done = (async () => {
        await this.listener.lost(l, reason).catch(() => undefined);
        if (this.handing.has(l.instance)) {
          await this.h.pool
            .query(
              SQL.release(this.s),
              [l.instance, this.nodeId, l.epoch],
            )
            .catch(() => undefined);
        }
        this.handing.delete(l.instance);
      })();
      this.handing.set(l.instance, { lease: l, done });
      return done;
    });
  }

  /**
   * Drain (SIGTERM): the node leaves placement at once (the others stop counting it), stops its
   * instances gracefully while it still holds their leases, and frees them; the others take them
   * at their next renewal (≤ lease/3).
   */
  async drain(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking?.catch(() => undefined);
    await this.renewing?.catch(() => undefined);
    this.stopped = true;
    await this.h.pool.query(`UPDATE ${this.s}.cluster_nodes SET draining = true WHERE node_id = $1 AND boot_id = $2`, [this.nodeId, this.bootId]).catch(() => undefined);
    // Keep renewing while the instances stop, so their last runs still commit.
    const keep = setInterval(() => void this.renewOnly().catch(() => undefined), Math.max(100, Math.floor(this.cfg.leaseMs / 3)));
    try {
      await Promise.all([...this.handOver(this.held.size, 'the daemon is draining'), ...[...this.handing.values()].map((x) => x.done)]);
    } finally {
      clearInterval(keep);
    }
    await this.h.pool.query(`DELETE FROM ${this.s}.cluster_nodes WHERE node_id = $1 AND boot_id = $2`, [this.nodeId, this.bootId]).catch(() => undefined);
    await this.conn.close();
  }

  private async renewOnly(): Promise<void> {
    const list = [...this.held.values(), ...[...this.handing.values()].map((x) => x.lease)];
    if (list.length === 0) return;
    await this.conn.query(
      `UPDATE ${this.s}.agent_leases l SET expires_at = ${DB_NOW} + $2 FROM unnest($3::text[], $4::bigint[]) AS h(instance, epoch)
       WHERE l.instance = h.instance AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > ${DB_NOW}`,
      [this.nodeId, this.cfg.leaseMs, list.map((l) => l.instance), list.map((l) => l.epoch)],
      this.periodMs(),
    );
  }

  /** Stops renewing without handing anything over (the daemon is going away without a drain). */
  close(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.timer = this.deadlineTimer = null;
    void this.conn.close();
  }

  /** Every node known (live and recently dead) with its leases. */
  nodes(): Promise<NodeView[]> {
    return listNodes(this.h);
  }

  /** instance → owner node, for instances with an unexpired lease. */
  owners(): Promise<Map<string, string>> {
    return leaseOwners(this.h);
  }
}
