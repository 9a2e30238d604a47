// The embedded bus (the default): the store's event log and its per-group delivery rows are the
// durable part; wake-ups are in-process, pushed from the producer's commit, so no consumer polls.
//
// Why delivery rows and not a per-group read cursor over the log: a PostgreSQL sequence is taken
// when a row is inserted, not when its transaction commits, so a producer holding seq 41 can commit
// after another has committed seq 42. A cursor that moved past 42 would never see 41. Here the
// commit that appends an event also inserts one delivery row per subscribed group (the fan-out is
// in the same statement), so an event becomes claimable exactly when it becomes visible, whatever
// its sequence number; a claim takes the oldest claimable rows with FOR UPDATE SKIP LOCKED. The
// cost is one row per (group, event), deleted by the ack — which the ack needs anyway to be
// atomic with the consumer's run.
import type { Clock } from '../scheduler/types.js';
import type { Store } from '../store/types.js';
import type { AckToken, Bus, BusDelivery, ClaimRequest, CommitAck, GroupStats, Nack, NewEvent, WakeFn } from './types.js';
import { WakeHub } from './wire.js';

export class EmbeddedBus implements Bus {
  readonly kind = 'embedded' as const;
  private readonly wakes = new WakeHub();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** This daemon's cluster node id: stamped on its claims' lease tokens. */
    private readonly owner?: string,
  ) {}

  async subscribe(group: string, eventNames: string[]): Promise<void> {
    await this.store.setSubscriptions(group, eventNames);
    this.wakes.subscribe(group, eventNames);
  }

  async append(events: NewEvent[]): Promise<number> {
    const n = await this.store.publish(events);
    if (n > 0) this.published(events.map((e) => e.name));
    return n;
  }

  published(eventNames: string[]): void {
    this.wakes.publish(eventNames);
  }

  claim(group: string, req: ClaimRequest): Promise<BusDelivery[]> {
    return this.store.claimDeliveries(group, this.owner && !req.owner ? { ...req, owner: this.owner } : req);
  }

  ack(tokens: AckToken[]): Promise<number> {
    return this.store.ackDeliveries(tokens);
  }

  async nack(nacks: Nack[]): Promise<number> {
    let held = 0;
    for (const n of nacks) {
      if (await this.store.failDelivery(n.deliveryId, n.leaseToken, { error: n.error, retryAt: n.retryAt, dead: n.dead })) held++;
    }
    return held;
  }

  async extend(tokens: AckToken[], leaseMs: number): Promise<number> {
    let held = 0;
    for (const t of tokens) if (await this.store.extendDelivery(t.deliveryId, t.leaseToken, leaseMs)) held++;
    return held;
  }

  onWake(group: string, wake: WakeFn): () => void {
    return this.wakes.onWake(group, wake);
  }

  /** The delivery is a store row: the run's commit deletes it (RunCommit.ack). */
  commitAck(_group: string, d: BusDelivery): CommitAck {
    return { ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken }, ackAfterCommit: false };
  }

  async stats(group: string): Promise<GroupStats> {
    const s = await this.store.deliveryStats(group);
    return { depth: s.depth, lagMs: s.oldestCreatedAt === null ? 0 : Math.max(0, this.clock.now() - s.oldestCreatedAt) };
  }
}
