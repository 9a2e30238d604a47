// An external bus as the daemon uses it: events go into the store's log first (run commits'
// outbox, API appends) and reach Redis/NATS through the relay; consumers claim from the external
// bus, drop what their inbox says they already handled, and commit an inbox row with their run
// instead of a store ack — the bus ack follows the commit (docs/architecture.md, "External buses").
import type { DeadLetter, Store } from '../store/types.js';
import { inboxEffect, type OutboxStore } from './outbox-store.js';
import type { OutboxRelay } from './relay.js';
import type { AckToken, Bus, BusDelivery, ClaimRequest, CommitAck, ExternalBus, GroupStats, Nack, NewEvent, WakeFn } from './types.js';

export class OutboxBus implements Bus {
  readonly kind: ExternalBus['kind'];

  constructor(
    private readonly store: Store,
    readonly external: ExternalBus,
    readonly relay: OutboxRelay,
    private readonly outbox: OutboxStore,
  ) {
    this.kind = external.kind;
  }

  private readonly subscribedHere = new Set<string>();

  subscribe(group: string, eventNames: string[]): Promise<void> {
    if (eventNames.length > 0) this.subscribedHere.add(group);
    else this.subscribedHere.delete(group);
    return this.external.subscribe(group, eventNames);
  }

  /** Retires the bus's groups that this daemon does not subscribe (same config on every daemon). */
  async retireOthers(): Promise<string[]> {
    const retired = (await this.external.groups()).filter((g) => !this.subscribedHere.has(g));
    for (const g of retired) await this.external.subscribe(g, []);
    return retired;
  }

  /** Into the store's log (the outbox); the relay publishes it. */
  async append(events: NewEvent[]): Promise<number> {
    const n = await this.store.publish(events);
    if (n > 0) this.relay.wake();
    return n;
  }

  /** A commit put events in the outbox: the relay publishes them, which wakes the consumers. */
  published(): void {
    this.relay.wake();
  }

  async claim(group: string, req: ClaimRequest): Promise<BusDelivery[]> {
    const batch = await this.external.claim(group, req);
    const done = await this.outbox.handled(group, batch.map((d) => d.event.id));
    if (done.size === 0) return batch;
    // Handled before (the bus ack after that commit never arrived): settle without running again.
    await this.external.ack(batch.filter((d) => done.has(d.event.id)));
    return batch.filter((d) => !done.has(d.event.id));
  }

  ack(tokens: AckToken[]): Promise<number> {
    return this.external.ack(tokens);
  }

  nack(nacks: Nack[]): Promise<number> {
    return this.external.nack(nacks);
  }

  extend(tokens: AckToken[], leaseMs: number): Promise<number> {
    return this.external.extend(tokens, leaseMs);
  }

  onWake(group: string, wake: WakeFn): () => void {
    return this.external.onWake(group, wake);
  }

  stats(group: string): Promise<GroupStats> {
    return this.external.stats(group);
  }

  /** Dead letters stay on the external bus (its DLQ stream). */
  deadLetters(group: string | null, limit?: number): Promise<DeadLetter[]> {
    return this.external.deadLetters(group, limit);
  }

  commitAck(group: string, d: BusDelivery): CommitAck {
    return { effects: [inboxEffect(group, d.event.id)], ackAfterCommit: true };
  }
}
