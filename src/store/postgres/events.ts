// The PostgreSQL store's events and deliveries (the outbox, consumer groups, leases, dead
// letters), moved out of store.ts; PostgresStore delegates to it and runs publishIn inside its
// group commits.
import type pg from 'pg';
import type { Clock } from '../../scheduler/types.js';
import { DEFAULT_LIMIT, toDeadLetter, toDelivery, toEvent, type DeliveryRow, type EventRow } from '../rows.js';
import type { ClaimOptions, DeadLetter, Delivery, NewEvent, StoredEvent } from '../types.js';
import type { QueryName } from './queries.js';

export type Queryable = pg.Pool | pg.PoolClient;

/** What the events part needs of its store: the pool, named statements, transactions, clock. */
export interface PostgresCore {
  readonly pool: pg.Pool;
  readonly clock: Clock;
  q<R extends pg.QueryResultRow = any>(db: Queryable, name: QueryName, values: unknown[]): Promise<pg.QueryResult<R>>;
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
}

export class PostgresEvents {
  constructor(private readonly core: PostgresCore) {}

  private get pool(): pg.Pool {
    return this.core.pool;
  }

  private get clock(): Clock {
    return this.core.clock;
  }

  private q<R extends pg.QueryResultRow = any>(db: Queryable, name: QueryName, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.core.q<R>(db, name, values);
  }

  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.core.tx(fn);
  }

  async setSubscriptions(consumer: string, eventNames: string[]): Promise<void> {
    await this.tx(async (cl) => {
      await this.q(cl, 'deleteSubscriptions', [consumer]);
      if (eventNames.length > 0) await this.q(cl, 'insertSubscriptions', [consumer, eventNames]);
    });
  }

  async getSubscriptions(): Promise<Record<string, string[]>> {
    const res = await this.q<{ consumer: string; event_name: string }>(this.pool, 'getSubscriptions', []);
    const out: Record<string, string[]> = {};
    for (const r of res.rows) (out[r.consumer] ??= []).push(r.event_name);
    return out;
  }

  async publish(events: NewEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    // A single statement is atomic on its own: no explicit transaction, one round trip.
    return (await this.publishIn(this.pool, events, this.clock.now())).size;
  }

  /** Appends and fans out in one statement; returns the ids actually inserted (duplicates skipped). */
  async publishIn(db: Queryable, events: NewEvent[], now: number): Promise<Set<string>> {
    // Drop repeated ids inside the batch up front; ON CONFLICT handles those already stored.
    const seen = new Set<string>();
    const batch = events.filter((e) => !seen.has(e.id) && seen.add(e.id));
    const res = await this.q<{ id: string }>(db, 'publish', [
      batch.map((e) => e.id),
      batch.map((e) => e.name),
      batch.map((e) => JSON.stringify(e.payload ?? null)),
      batch.map((e) => e.source),
      batch.map((e) => e.createdAt),
      batch.map((e) => e.traceparent ?? e.traceId ?? null),
      now,
      batch.map((e) => e.key ?? null),
      batch.map((e) => e.runId ?? null),
    ]);
    return new Set(res.rows.map((r) => r.id));
  }

  async getEvent(id: string): Promise<StoredEvent | undefined> {
    const res = await this.q<EventRow>(this.pool, 'getEvent', [id]);
    return res.rows[0] && toEvent(res.rows[0]);
  }

  async listEvents(opts: { afterSeq?: number; limit?: number; name?: string } = {}): Promise<StoredEvent[]> {
    const args = [opts.afterSeq ?? 0, opts.limit ?? DEFAULT_LIMIT];
    const res =
      opts.name === undefined
        ? await this.q<EventRow>(this.pool, 'listEvents', args)
        : await this.q<EventRow>(this.pool, 'listEventsByName', [...args, opts.name]);
    return res.rows.map(toEvent);
  }

  async claimDeliveries(consumer: string, opts: ClaimOptions): Promise<Delivery[]> {
    const now = this.clock.now();
    const res = await this.q<DeliveryRow>(this.pool, 'claim', [consumer, now, opts.limit, now + opts.leaseMs, opts.owner ?? null]);
    return res.rows.map(toDelivery);
  }

  async extendDelivery(deliveryId: number, leaseToken: string, leaseMs: number): Promise<boolean> {
    const now = this.clock.now();
    return (await this.q(this.pool, 'extend', [deliveryId, leaseToken, now, now + leaseMs])).rowCount === 1;
  }

  async failDelivery(deliveryId: number, leaseToken: string, outcome: { error: string; retryAt?: number; dead?: boolean }): Promise<boolean> {
    const now = this.clock.now();
    const res = outcome.dead
      ? await this.q(this.pool, 'failDead', [deliveryId, leaseToken, now, outcome.error])
      : await this.q(this.pool, 'failRetry', [deliveryId, leaseToken, now, outcome.error, outcome.retryAt ?? now]);
    return res.rowCount === 1;
  }

  async ackDeliveries(tokens: Array<{ deliveryId: number; leaseToken: string }>): Promise<number> {
    if (tokens.length === 0) return 0;
    return (await this.q(this.pool, 'ackMany', [tokens.map((t) => t.deliveryId), tokens.map((t) => t.leaseToken), this.clock.now()])).rowCount ?? 0;
  }

  async deliveryStats(consumer: string): Promise<{ depth: number; oldestCreatedAt: number | null }> {
    const r = (await this.q<{ n: number; oldest: number | null }>(this.pool, 'deliveryStats', [consumer])).rows[0];
    return { depth: r?.n ?? 0, oldestCreatedAt: r?.oldest ?? null };
  }

  async releaseDeliveries(consumer?: string, owner?: string): Promise<number> {
    return (await this.q(this.pool, 'release', [this.clock.now(), consumer ?? null, owner ?? null])).rowCount ?? 0;
  }

  async pendingCount(consumer: string): Promise<number> {
    return (await this.q<{ n: number }>(this.pool, 'pendingCount', [consumer])).rows[0].n;
  }

  async pendingCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    // Subscribed consumers with nothing pending report 0, so a gauge does not vanish when drained.
    for (const r of (await this.q<{ consumer: string }>(this.pool, 'subscribers', [])).rows) out[r.consumer] = 0;
    for (const r of (await this.q<{ consumer: string; n: number }>(this.pool, 'pendingCounts', [])).rows) out[r.consumer] = r.n;
    return out;
  }

  async listDeadLetters(opts: { consumer?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const res = await this.q<DeliveryRow>(this.pool, 'deadLetters', [opts.consumer ?? null, opts.limit ?? DEFAULT_LIMIT]);
    return res.rows.map(toDeadLetter);
  }

  async redriveDeadLetters(opts: { consumer?: string; ids?: number[] }): Promise<number> {
    return (await this.q(this.pool, 'redrive', [this.clock.now(), opts.consumer ?? null, opts.ids ?? null])).rowCount ?? 0;
  }
}
