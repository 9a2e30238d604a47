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
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PostgresHandle } from '../store/extension.js';
import type { LeaseFence } from '../store/types.js';
import type { NodeView } from '../contracts/control.js';
import type { ClusterConfig } from './config.js';
import { DB_NOW } from './schema.js';
import { step, type NodeLoad } from './placement.js';

export interface LeaseSlot {
  agent: string;
  instance: string;
}

export interface HeldLease extends LeaseSlot {
  epoch: number;
}

export interface PlacementListener {
  /** This node now holds the instance (prevOwner: who held it before, and whether that node is still alive). */
  acquired(lease: HeldLease, prev: { owner: string | null; alive: boolean }): Promise<void>;
  /** The instance's lease is gone or being handed over: stop it here. */
  lost(lease: HeldLease, reason: string): Promise<void>;
  log(level: 'info' | 'warning' | 'error', msg: string): void;
}

export interface FenceCounts {
  attempts: number;
  accepted: number;
  fenced: number;
  failed: number;
}

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
  private ticking: Promise<void> | null = null;
  private stopped = false;
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

  /**
   * Registers the node (taking its id over from a previous boot) and the lease rows, and adopts
   * the leases its previous boot still holds: a restart on the same node id resumes at once, with
   * new epochs (the old boot's late writes are fenced).
   */
  async join(address: string | null): Promise<Array<{ lease: HeldLease; prev: { owner: string | null; alive: boolean } }>> {
    const { s } = this;
    await this.h.pool.query(
      `INSERT INTO ${s}.cluster_nodes (node_id, address, weight, capacity, boot_id, pid, started_at, heartbeat_at, expires_at, draining)
       VALUES ($1, $2, $3, $4, $5, $6, ${DB_NOW}, ${DB_NOW}, ${DB_NOW} + $7, false)
       ON CONFLICT (node_id) DO UPDATE SET address = $2, weight = $3, capacity = $4, boot_id = $5, pid = $6, started_at = ${DB_NOW},
         heartbeat_at = ${DB_NOW}, expires_at = ${DB_NOW} + $7, draining = false`,
      [this.nodeId, this.cfg.address ?? address, this.cfg.weight, this.cfg.capacity, this.bootId, process.pid, this.cfg.leaseMs],
    );
    if (this.slots.length > 0) {
      await this.h.pool.query(`INSERT INTO ${s}.agent_leases (agent, instance) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`, [
        this.slots.map((x) => x.agent),
        this.slots.map((x) => x.instance),
      ]);
    }
    const sent = performance.now();
    const res = await this.h.pool.query<{ agent: string; instance: string; epoch: string }>(
      `UPDATE ${s}.agent_leases SET epoch = epoch + 1, expires_at = ${DB_NOW} + $2, acquired_at = ${DB_NOW}
       WHERE owner = $1 AND instance = ANY($3::text[]) RETURNING agent, instance, epoch`,
      [this.nodeId, this.cfg.leaseMs, this.slots.map((x) => x.instance)],
    );
    this.deadline = sent + this.safeMs();
    const adopted = res.rows.map((r) => ({ lease: this.take({ agent: r.agent, instance: r.instance, epoch: Number(r.epoch) }), prev: { owner: this.nodeId, alive: false } }));
    // Its share of what is free now, before the agents start: a lone daemon starts every agent at
    // boot, as a single daemon does (not one renewal later). The caller starts these instances.
    const plan = step(this.nodeId, await this.loads(), this.slots.length);
    return [...adopted, ...(plan.acquire > 0 ? await this.acquire(plan.acquire, false) : [])];
  }

  /** Starts renewing (every lease/3) and placing. */
  start(): void {
    this.timer = setInterval(() => this.onTimer(), Math.max(100, Math.floor(this.cfg.leaseMs / 3)));
    this.timer.unref();
    this.onTimer();
  }

  /** A renewal must succeed before this much of the lease is gone, or the node stops its instances. */
  private safeMs(): number {
    return this.cfg.leaseMs - Math.max(100, Math.floor(this.cfg.leaseMs / 6));
  }

  private onTimer(): void {
    if (this.stopped) return;
    // Checked first, whatever the database does: a node that cannot renew stops before it expires.
    if (this.held.size + this.handing.size > 0 && performance.now() > this.deadline) void this.loseAll(`lease not renewed within ${this.safeMs()} ms`);
    if (this.ticking) return;
    this.ticking = this.tick()
      .catch((err: Error) => this.listener.log('warning', `cluster: renewal failed: ${err.message}`))
      .finally(() => (this.ticking = null));
  }

  /** One renewal: heartbeat, renew, then take or hand over per placement. */
  async tick(): Promise<void> {
    const { s } = this;
    const sent = performance.now();
    const beat = await this.h.pool.query(`UPDATE ${s}.cluster_nodes SET heartbeat_at = ${DB_NOW}, expires_at = ${DB_NOW} + $3 WHERE node_id = $1 AND boot_id = $2`, [
      this.nodeId,
      this.bootId,
      this.cfg.leaseMs,
    ]);
    if (beat.rowCount === 0) {
      this.listener.log('error', `cluster: node id '${this.nodeId}' was taken by another daemon (same cluster.node_id?); stopping every agent here — give each daemon its own cluster.node_id`);
      this.stopped = true;
      await this.loseAll('node id taken by another daemon');
      return;
    }
    if (this.held.size + this.handing.size > 0) {
      const list = [...this.held.values(), ...[...this.handing.values()].map((x) => x.lease)];
      const res = await this.h.pool.query<{ instance: string }>(
        `UPDATE ${s}.agent_leases l SET expires_at = ${DB_NOW} + $2
         FROM unnest($3::text[], $4::bigint[]) AS h(instance, epoch)
         WHERE l.instance = h.instance AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > ${DB_NOW} RETURNING l.instance`,
        [this.nodeId, this.cfg.leaseMs, list.map((l) => l.instance), list.map((l) => l.epoch)],
      );
      const renewed = new Set(res.rows.map((r) => r.instance));
      this.deadline = sent + this.safeMs();
      for (const l of list) if (!renewed.has(l.instance) && this.held.get(l.instance) === l) this.lose(l, 'lease expired or taken over');
    } else {
      this.deadline = sent + this.safeMs();
    }
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
      `WITH pick AS (
         SELECT agent, instance, owner AS prev FROM ${s}.agent_leases
         WHERE (owner IS NULL OR expires_at <= ${DB_NOW}) AND instance = ANY($2::text[])
         ORDER BY (agent = ANY($3::text[])), random() LIMIT $4 FOR UPDATE SKIP LOCKED
       )
       UPDATE ${s}.agent_leases l SET owner = $1, epoch = l.epoch + 1, expires_at = ${DB_NOW} + $5, acquired_at = ${DB_NOW}
       FROM pick WHERE l.agent = pick.agent AND l.instance = pick.instance
       RETURNING l.agent, l.instance, l.epoch, pick.prev,
         EXISTS (SELECT 1 FROM ${s}.cluster_nodes c WHERE c.node_id = pick.prev AND c.expires_at > ${DB_NOW}) AS alive`,
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
            .query(`UPDATE ${this.s}.agent_leases SET owner = NULL, expires_at = 0 WHERE instance = $1 AND owner = $2 AND epoch = $3`, [l.instance, this.nodeId, l.epoch])
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
  }

  private async renewOnly(): Promise<void> {
    const list = [...this.held.values(), ...[...this.handing.values()].map((x) => x.lease)];
    if (list.length === 0) return;
    await this.h.pool.query(
      `UPDATE ${this.s}.agent_leases l SET expires_at = ${DB_NOW} + $2 FROM unnest($3::text[], $4::bigint[]) AS h(instance, epoch)
       WHERE l.instance = h.instance AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > ${DB_NOW}`,
      [this.nodeId, this.cfg.leaseMs, list.map((l) => l.instance), list.map((l) => l.epoch)],
    );
  }

  /** Stops renewing without handing anything over (the daemon is going away without a drain). */
  close(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Every node known (live and recently dead) with its leases. */
  async nodes(): Promise<NodeView[]> {
    const { s } = this;
    const res = await this.h.pool.query<{
      node_id: string; address: string | null; weight: number; capacity: number | null; pid: number | null; started_at: string;
      heartbeat_at: string; alive: boolean; draining: boolean; instances: string[] | null;
    }>(
      `SELECT n.*, n.expires_at > ${DB_NOW} AS alive,
         (SELECT array_agg(l.instance ORDER BY l.instance) FROM ${s}.agent_leases l WHERE l.owner = n.node_id AND l.expires_at > ${DB_NOW}) AS instances
       FROM ${s}.cluster_nodes n ORDER BY n.node_id`,
    );
    return res.rows.map((r) => ({
      nodeId: r.node_id,
      address: r.address,
      weight: r.weight,
      capacity: r.capacity,
      pid: r.pid,
      startedAt: Number(r.started_at),
      heartbeatAt: Number(r.heartbeat_at),
      alive: r.alive,
      draining: r.draining,
      leases: r.instances?.length ?? 0,
      instances: r.instances ?? [],
    }));
  }

  /** instance → owner node, for instances with an unexpired lease. */
  async owners(): Promise<Map<string, string>> {
    const res = await this.h.pool.query<{ instance: string; owner: string }>(`SELECT instance, owner FROM ${this.s}.agent_leases WHERE owner IS NOT NULL AND expires_at > ${DB_NOW}`);
    return new Map(res.rows.map((r) => [r.instance, r.owner]));
  }
}
