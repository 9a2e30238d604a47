// The Bus: how events move from the run that emitted them to every consumer group that wants
// them. One small contract in domain words; every consumer (agent `@on` handlers, workflow event
// triggers, later the outbox relay to Redis Streams / NATS JetStream) goes through it, and ONE
// conformance suite (test/bus/conformance.ts) is what a backend must pass.
//
// Delivery is at-least-once per consumer group: a group claims a batch of deliveries, each with a
// lease and an ack token. A lease that expires (the consumer died) makes the delivery claimable
// again; a stale token (the lease moved on) is refused. After `maxAttempts` failed attempts a
// delivery becomes a dead letter.
//
// How the ack joins the consumer's run (`commitAck`): on the embedded bus the delivery is a store
// row, so the ack commits inside the run transaction (RunCommit.ack) and effect and ack land
// together. An external bus (Redis Streams, NATS JetStream) cannot join a store transaction: its
// consumer's run commit writes an inbox row (group, event id) instead — a redelivered event already
// in the inbox is dropped — and the bus ack follows the commit (src/bus/outbox-bus.ts).
import type { DeadLetter, Delivery, NewEvent, StoredEvent, TxEffect } from '../store/types.js';

export type { NewEvent, StoredEvent } from '../store/types.js';

/**
 * One event leased to one consumer group: deliveryId, consumer (the group; replicas share it),
 * event, attempts (including this claim), leaseToken (the ack token) and leaseExpiresAt.
 */
export type BusDelivery = Delivery;

/** What acknowledges a delivery inside a run commit (RunCommit.ack). */
export interface AckToken {
  deliveryId: number;
  leaseToken: string;
}

export interface ClaimRequest {
  /** At most this many deliveries in one claim (one statement on the embedded bus). */
  limit: number;
  /** Lease length: unacknowledged past this, the delivery is claimable again. */
  leaseMs: number;
  /** The claiming node (cluster): its id prefixes the lease tokens (see Store.releaseDeliveries). */
  owner?: string;
}

/** A failed delivery given back: retried at `retryAt` (default now), or dead-lettered. */
export interface Nack extends AckToken {
  error: string;
  retryAt?: number;
  dead?: boolean;
}

export interface GroupStats {
  /** Deliveries not yet acknowledged (pending, retrying, in flight); dead letters excluded. */
  depth: number;
  /** Age in ms of the oldest unacknowledged event (now − its createdAt); 0 when depth is 0. */
  lagMs: number;
}

export type WakeFn = () => void;

/** What a consumer's run commit carries to acknowledge a delivery (see `Bus.commitAck`). */
export interface CommitAck {
  /** Acknowledged by the store inside the commit (the embedded bus's delivery row). */
  ack?: AckToken;
  /** Written inside the commit instead (an external bus: the inbox row that dedupes redelivery). */
  effects?: TxEffect[];
  /** After the commit landed, `ack` the delivery on the bus (external buses). */
  ackAfterCommit: boolean;
}

export interface Bus {
  readonly kind: 'embedded' | 'redis' | 'nats';

  /** Replaces the event names a consumer group receives ('*' = every event). Persisted. */
  subscribe(group: string, eventNames: string[]): Promise<void>;

  /**
   * Appends events outside a run (API, system). Inside a run, events go into the run's commit
   * (RunCommit.emits, the outbox) and reach the bus when that commit lands — then call
   * `published` with their names. Duplicate ids are dropped. Returns how many were new.
   */
  append(events: NewEvent[]): Promise<number>;

  /** Tells waiting consumer groups that committed events with these names are claimable. */
  published(eventNames: string[]): void;

  /**
   * Leases up to `limit` deliveries for a group in one step: pending ones, retries whose time has
   * come and in-flight ones whose lease expired. Oldest first (log order). Increments attempts.
   */
  claim(group: string, req: ClaimRequest): Promise<BusDelivery[]>;

  /** Acknowledges deliveries outside a run commit (a consumer with no state effect). Returns those still held. */
  ack(tokens: AckToken[]): Promise<number>;

  /** Gives deliveries back (retry or dead letter). Returns how many were still held. */
  nack(nacks: Nack[]): Promise<number>;

  /** Extends leases of deliveries still being handled; returns how many were still held. */
  extend(tokens: AckToken[], leaseMs: number): Promise<number>;

  /** Registers a group's wake-up (its lane); called after events it subscribes to were committed. */
  onWake(group: string, wake: WakeFn): () => void;

  /** Pending depth and lag of one group. */
  stats(group: string): Promise<GroupStats>;

  /** How a run that handled `d` for `group` acknowledges it with its commit. */
  commitAck(group: string, d: BusDelivery): CommitAck;
}

/**
 * A bus outside the store (Redis Streams, NATS JetStream). Events reach it through the outbox
 * relay (`publishStored`, keeping the store's sequence numbers) or `append` (its own numbers).
 */
export interface ExternalBus extends Bus {
  readonly kind: 'redis' | 'nats';
  /**
   * Publishes committed events in the given order; ids already published recently are dropped.
   * The relay also passes where each event sits in the store's log (`relayed`): a bus may then
   * drop what it already has by that position instead (Redis: one high-water mark per origin).
   */
  publishStored(events: StoredEvent[], relayed?: RelayedFrom): Promise<number>;
  /** The consumer groups that exist on the bus (whoever created them). */
  groups(): Promise<string[]>;
  /** Dead letters kept on the bus (a group's, or all), oldest first. */
  deadLetters(group: string | null, limit?: number): Promise<DeadLetter[]>;
  close(): Promise<void>;
}

/** A position in the store's log (the relay's cursor): (transaction, seq) on PostgreSQL, ('0', seq) on SQLite. */
export interface LogPosition {
  tx: string;
  seq: number;
}

/** Where a relayed batch comes from: the store (`origin`, fixed for its lifetime) and each event's position, ascending. */
export interface RelayedFrom {
  origin: string;
  positions: LogPosition[];
}

/** Builds a fresh backend for the conformance suite; `close` releases it. */
export interface BusFixture {
  bus: Bus;
  /** Moves the injected clock (lease expiry, retry times). */
  advance(ms: number): void;
  now(): number;
  close(): Promise<void>;
}
