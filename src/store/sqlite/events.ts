// The SQLite store's events and deliveries (the outbox, consumer groups, leases, dead letters),
// moved out of store.ts; SqliteStore delegates to it and runs publishInTx inside its run commits.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Clock } from '../../scheduler/types.js';
import { DEFAULT_LIMIT, toDeadLetter, toDelivery, toEvent, type DeliveryRow, type EventRow } from '../rows.js';
import type { ClaimOptions, DeadLetter, Delivery, NewEvent, StoredEvent } from '../types.js';

const DELIVERY_COLUMNS = `d.id AS d_id, d.consumer AS d_consumer, d.attempts AS d_attempts, d.lease_token AS d_lease_token,
  d.lease_expires_at AS d_lease_expires_at, d.last_error AS d_last_error, d.dead_at AS d_dead_at,
  e.seq, e.id, e.name, e.payload, e.source, e.created_at, e.trace_id, e.order_key`;
const EVENT_COLUMNS = 'seq, id, name, payload, source, created_at, trace_id, order_key';
const EVENT_CHUNKS = [64, 16, 4, 1];
const EVENT_VALUES = (n: number) => Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
// A delivery's lease is held while its token matches and it has not expired.
export const LEASE_HELD = `id = @id AND lease_token = @token AND status = 'inflight' AND lease_expires_at > @now`;

/** What the events part needs of its store: its statement cache, write transaction and clock. */
export interface SqliteCore {
  st(sql: string): Database.Statement;
  write<T>(fn: () => T): T;
  readonly clock: Clock;
}

export class SqliteEvents {
  constructor(private readonly core: SqliteCore) {}

  private st(sql: string): Database.Statement {
    return this.core.st(sql);
  }

  private write<T>(fn: () => T): T {
    return this.core.write(fn);
  }

  private get clock(): Clock {
    return this.core.clock;
  }

  async setSubscriptions(consumer: string, eventNames: string[]): Promise<void> {
    this.write(() => {
      this.st('DELETE FROM subscriptions WHERE consumer = ?').run(consumer);
      const add = this.st('INSERT INTO subscriptions (consumer, event_name) VALUES (?, ?) ON CONFLICT DO NOTHING');
      for (const name of eventNames) add.run(consumer, name);
    });
  }

  async getSubscriptions(): Promise<Record<string, string[]>> {
    const rows = this.st('SELECT consumer, event_name FROM subscriptions ORDER BY consumer, event_name').all() as { consumer: string; event_name: string }[];
    const out: Record<string, string[]> = {};
    for (const r of rows) (out[r.consumer] ??= []).push(r.event_name);
    return out;
  }

  async publish(events: NewEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    return this.write(() => this.publishInTx(events, this.clock.now()));
  }

  /**
   * Appends events (duplicate ids skipped) and fans each out to every subscribed consumer group.
   * Multi-row: per chunk, one INSERT of the events and one INSERT … SELECT of their deliveries (two
   * statements per event before: bench/store-events-micro.ts). Inside the write transaction this
   * connection is the only writer, so the chunk's new events are exactly the seqs between the
   * lowest and highest it returned.
   */
  publishInTx(events: NewEvent[], now: number): number {
    let inserted = 0;
    for (let at = 0; at < events.length; ) {
      const n = EVENT_CHUNKS.find((k) => k <= events.length - at)!;
      const args: unknown[] = [];
      for (let i = at; i < at + n; i++) {
        const e = events[i]!;
        args.push(e.id, e.name, JSON.stringify(e.payload ?? null), e.source, e.createdAt, e.traceparent ?? e.traceId ?? null, e.key ?? null, e.runId ?? null);
      }
      at += n;
      const rows = this.st(`INSERT INTO events (id, name, payload, source, created_at, trace_id, order_key, run_id) VALUES ${EVENT_VALUES(n)}
        ON CONFLICT (id) DO NOTHING RETURNING seq`).all(...args) as { seq: number }[];
      if (rows.length === 0) continue;
      inserted += rows.length;
      let lo = rows[0]!.seq;
      let hi = lo;
      for (const r of rows) {
        if (r.seq < lo) lo = r.seq;
        if (r.seq > hi) hi = r.seq;
      }
      this.st(`INSERT INTO deliveries (consumer, event_seq, status, attempts, available_at)
        SELECT DISTINCT s.consumer, e.seq, 'pending', 0, @now FROM events e JOIN subscriptions s ON s.event_name IN (e.name, '*')
        WHERE e.seq BETWEEN @lo AND @hi ORDER BY e.seq`).run({ now, lo, hi });
    }
    return inserted;
  }

  async getEvent(id: string): Promise<StoredEvent | undefined> {
    const r = this.st(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`).get(id) as EventRow | undefined;
    return r && toEvent(r);
  }

  async listEvents(opts: { afterSeq?: number; limit?: number; name?: string } = {}): Promise<StoredEvent[]> {
    const args = { after: opts.afterSeq ?? 0, limit: opts.limit ?? DEFAULT_LIMIT, name: opts.name };
    const rows = (
      opts.name === undefined
        ? this.st(`SELECT ${EVENT_COLUMNS} FROM events WHERE seq > @after ORDER BY seq LIMIT @limit`).all(args)
        : this.st(`SELECT ${EVENT_COLUMNS} FROM events WHERE name = @name AND seq > @after ORDER BY seq LIMIT @limit`).all(args)
    ) as EventRow[];
    return rows.map(toEvent);
  }

  async claimDeliveries(consumer: string, opts: ClaimOptions): Promise<Delivery[]> {
    return this.write(() => {
      const now = this.clock.now();
      const leaseExpiresAt = now + opts.leaseMs;
      // Ready rows in seq order plus waiting rows (expired lease, due retry), each from the head of
      // its own index, merged oldest first.
      const rows = this.st(`SELECT ${DELIVERY_COLUMNS} FROM (
          SELECT * FROM (SELECT id, event_seq FROM deliveries WHERE consumer = @consumer AND status = 'pending' ORDER BY event_seq LIMIT @limit)
          UNION ALL
          SELECT * FROM (SELECT id, event_seq FROM deliveries WHERE consumer = @consumer AND status IN ('inflight', 'retry') AND available_at <= @now
            ORDER BY event_seq LIMIT @limit)
          ORDER BY event_seq LIMIT @limit
        ) picked JOIN deliveries d ON d.id = picked.id JOIN events e ON e.seq = d.event_seq ORDER BY d.event_seq`).all({
        consumer,
        now,
        limit: opts.limit,
      }) as DeliveryRow[];
      if (rows.length === 0) return [];
      // One UPDATE for the whole claim. Each lease token is the claim's random prefix plus the
      // delivery id: distinct per delivery and per claim, and a stale one (an earlier claim's) is
      // refused since the prefix differs.
      const prefix = `${opts.owner ? `${opts.owner}:` : ''}${randomUUID()}:`;
      this.st(`UPDATE deliveries SET status = 'inflight', attempts = attempts + 1, lease_token = @prefix || id, lease_expires_at = @until, available_at = @until
        WHERE id IN (SELECT value FROM json_each(@ids))`).run({ prefix, until: leaseExpiresAt, ids: JSON.stringify(rows.map((r) => r.d_id)) });
      for (const r of rows) {
        r.d_lease_token = `${prefix}${r.d_id}`;
        r.d_lease_expires_at = leaseExpiresAt;
        r.d_attempts += 1;
      }
      return rows.map(toDelivery);
    });
  }

  async extendDelivery(deliveryId: number, leaseToken: string, leaseMs: number): Promise<boolean> {
    const now = this.clock.now();
    const res = this.st(`UPDATE deliveries SET lease_expires_at = @until, available_at = @until WHERE ${LEASE_HELD}`).run({
      id: deliveryId,
      token: leaseToken,
      now,
      until: now + leaseMs,
    });
    return res.changes === 1;
  }

  async failDelivery(deliveryId: number, leaseToken: string, outcome: { error: string; retryAt?: number; dead?: boolean }): Promise<boolean> {
    const now = this.clock.now();
    const held = { id: deliveryId, token: leaseToken, now, error: outcome.error };
    const res = outcome.dead
      ? this.st(`UPDATE deliveries SET status = 'dead', lease_token = NULL, lease_expires_at = NULL, last_error = @error, dead_at = @now
          WHERE ${LEASE_HELD}`).run(held)
      : this.st(`UPDATE deliveries SET status = CASE WHEN @retryAt > @now THEN 'retry' ELSE 'pending' END, available_at = @retryAt, lease_token = NULL, lease_expires_at = NULL, last_error = @error
          WHERE ${LEASE_HELD}`).run({ ...held, retryAt: outcome.retryAt ?? now });
    return res.changes === 1;
  }

  async ackDeliveries(tokens: Array<{ deliveryId: number; leaseToken: string }>): Promise<number> {
    if (tokens.length === 0) return 0;
    const now = this.clock.now();
    const del = this.st(`DELETE FROM deliveries WHERE ${LEASE_HELD}`);
    return this.write(() => tokens.reduce((n, t) => n + del.run({ id: t.deliveryId, token: t.leaseToken, now }).changes, 0));
  }

  async deliveryStats(consumer: string): Promise<{ depth: number; oldestCreatedAt: number | null }> {
    const r = this.st(`SELECT count(*) AS n, min(e.created_at) AS oldest FROM deliveries d JOIN events e ON e.seq = d.event_seq
      WHERE d.consumer = ? AND d.status <> 'dead'`).get(consumer) as { n: number; oldest: number | null };
    return { depth: r.n, oldestCreatedAt: r.oldest };
  }

  async releaseDeliveries(consumer?: string, owner?: string): Promise<number> {
    const res = this.st(
      `UPDATE deliveries SET status = 'pending', available_at = @now, lease_token = NULL, lease_expires_at = NULL
       WHERE status = 'inflight' AND (@consumer IS NULL OR consumer = @consumer) AND (@owner IS NULL OR substr(lease_token, 1, length(@owner) + 1) = @owner || ':')`,
    ).run({ now: this.clock.now(), consumer: consumer ?? null, owner: owner ?? null });
    return res.changes;
  }

  async pendingCount(consumer: string): Promise<number> {
    return (this.st(`SELECT count(*) AS n FROM deliveries WHERE consumer = ? AND status <> 'dead'`).get(consumer) as { n: number }).n;
  }

  async pendingCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    // Subscribed consumers with nothing pending report 0, so a gauge does not vanish when drained.
    for (const r of this.st('SELECT DISTINCT consumer FROM subscriptions').all() as { consumer: string }[]) out[r.consumer] = 0;
    const rows = this.st(`SELECT consumer, count(*) AS n FROM deliveries WHERE status <> 'dead' GROUP BY consumer`).all() as { consumer: string; n: number }[];
    for (const r of rows) out[r.consumer] = r.n;
    return out;
  }

  async listDeadLetters(opts: { consumer?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const from = `SELECT ${DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.status = 'dead'`;
    const args = { consumer: opts.consumer, limit: opts.limit ?? DEFAULT_LIMIT };
    const rows = (
      opts.consumer === undefined
        ? this.st(`${from} ORDER BY d.id LIMIT @limit`).all(args)
        : this.st(`${from} AND d.consumer = @consumer ORDER BY d.id LIMIT @limit`).all(args)
    ) as DeliveryRow[];
    return rows.map(toDeadLetter);
  }

  async redriveDeadLetters(opts: { consumer?: string; ids?: number[] }): Promise<number> {
    // One statement whatever the filters: absent filters are NULL and match everything.
    const res = this.st(`UPDATE deliveries SET status = 'pending', attempts = 0, available_at = @now, dead_at = NULL
      WHERE status = 'dead' AND (@consumer IS NULL OR consumer = @consumer)
        AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))`).run({
      now: this.clock.now(),
      consumer: opts.consumer ?? null,
      ids: opts.ids ? JSON.stringify(opts.ids) : null,
    });
    return res.changes;
  }
}
