// The store side of an external bus: the relay's lease and cursor (one row per relayed stream), the
// read of committed outbox events in commit order, and the consumers' inbox (one row per handled
// event and group, written in the handler's run commit, so a redelivery has no second effect).
//
// Commit order on PostgreSQL: `events.seq` is taken at insert, not at commit, so a relay reading
// `seq > cursor` skips a row whose lower seq commits late (the bug of kamu-cli#1398 and
// eventuous#222). Each event row therefore records its writing transaction (`tx xid8 DEFAULT
// pg_current_xact_id()`, added by this module's migration; the store's inserts need not change),
// and the relay reads only rows whose transaction is below the oldest transaction still open
// (`pg_snapshot_xmin(pg_current_snapshot())`), ordered by (tx, seq). Every transaction below that
// horizon has ended, so no row can appear later below the cursor. The order is the order in which
// transactions took their id: for a key whose writer commits one event before writing the next
// (a producer's own sequence) that is the producer's order. The cost: an open transaction holds
// the relay back until it ends (any transaction in the cluster — keep them short).
// On SQLite there is one writer at a time, so sequence order is commit order.
import { randomUUID } from 'node:crypto';
import type { SqliteHandle, StoreHandle, StoreModule, TxEffect } from '../store/extension.js';
import { toEvent, type EventRow } from '../store/rows.js';
import type { StoredEvent } from '../store/types.js';
import { OpenClawError } from '../util/errors.js';
import type { LogPosition } from './types.js';

export const outboxStoreModule: StoreModule = {
  name: 'bus-outbox',
  sqlite: [
    {
      id: 1,
      name: 'relay leases and consumer inbox',
      statements: [
        `CREATE TABLE bus_relay (stream TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch INTEGER NOT NULL, expires_at INTEGER NOT NULL,
          cursor_tx TEXT NOT NULL, cursor_seq INTEGER NOT NULL)`,
        `CREATE TABLE bus_inbox (consumer TEXT NOT NULL, event_id TEXT NOT NULL, done_at INTEGER NOT NULL, PRIMARY KEY (consumer, event_id)) WITHOUT ROWID`,
        `CREATE INDEX bus_inbox_done ON bus_inbox (done_at)`,
      ],
    },
  ],
  postgres: (s) => [
    {
      id: 1,
      name: 'relay leases, consumer inbox, events.tx',
      statements: [
        `ALTER TABLE ${s}.events ADD COLUMN IF NOT EXISTS tx xid8 NOT NULL DEFAULT pg_current_xact_id()`,
        `CREATE INDEX IF NOT EXISTS events_tx ON ${s}.events (tx, seq)`,
        `CREATE TABLE ${s}.bus_relay (stream text PRIMARY KEY, owner text NOT NULL, epoch bigint NOT NULL, expires_at bigint NOT NULL,
          cursor_tx text NOT NULL, cursor_seq bigint NOT NULL)`,
        `CREATE TABLE ${s}.bus_inbox (consumer text NOT NULL, event_id text NOT NULL, done_at bigint NOT NULL, PRIMARY KEY (consumer, event_id))`,
        `CREATE INDEX bus_inbox_done ON ${s}.bus_inbox (done_at)`,
      ],
    },
  ],
};

/** Where the relay is in the log: (transaction, seq) on PostgreSQL, ('0', seq) on SQLite. */
export type Cursor = LogPosition;

export interface RelayLease {
  epoch: number;
  cursor: Cursor;
}

export class DuplicateDeliveryError extends OpenClawError {
  constructor(group: string, eventId: string) {
    super('duplicate_delivery', `event ${eventId} was already handled by '${group}' (a redelivery): this run's effects are dropped`, { status: 409 });
  }
}

const EVENT_COLS = 'seq, id, name, payload, source, created_at, trace_id, order_key';

export class OutboxStore {
  constructor(private readonly h: StoreHandle) {}

  /** Takes (or re-takes) the stream's relay lease if it is free, expired or already ours; null if another holds it. */
  async acquire(stream: string, owner: string, now: number, leaseMs: number): Promise<RelayLease | null> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        const head = (h.db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM events').get() as { seq: number }).seq;
        const row = h.db
          .prepare(
            `INSERT INTO bus_relay (stream, owner, epoch, expires_at, cursor_tx, cursor_seq) VALUES (?, ?, 1, ?, '0', ?)
             ON CONFLICT (stream) DO UPDATE SET owner = excluded.owner, epoch = bus_relay.epoch + 1, expires_at = excluded.expires_at
             WHERE bus_relay.expires_at < ? OR bus_relay.owner = excluded.owner
             RETURNING epoch, cursor_tx, cursor_seq`,
          )
          .get(stream, owner, now + leaseMs, head, now) as { epoch: number; cursor_tx: string; cursor_seq: number } | undefined;
        return row ? { epoch: row.epoch, cursor: { tx: row.cursor_tx, seq: row.cursor_seq } } : null;
      });
    }
    // A new relay starts at the head of what has certainly committed: earlier events were the
    // embedded bus's; no transaction still open can land below this point.
    const { rows } = await h.pool.query<{ epoch: string; cursor_tx: string; cursor_seq: string }>(
      `WITH head AS (
         SELECT COALESCE((SELECT tx::text FROM ${h.schema}.events WHERE tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx DESC, seq DESC LIMIT 1), '0') AS tx,
                COALESCE((SELECT seq FROM ${h.schema}.events WHERE tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx DESC, seq DESC LIMIT 1), 0) AS seq)
       INSERT INTO ${h.schema}.bus_relay AS r (stream, owner, epoch, expires_at, cursor_tx, cursor_seq)
       SELECT $1, $2, 1, $3, head.tx, head.seq FROM head
       ON CONFLICT (stream) DO UPDATE SET owner = EXCLUDED.owner, epoch = r.epoch + 1, expires_at = EXCLUDED.expires_at
       WHERE r.expires_at < $4 OR r.owner = EXCLUDED.owner
       RETURNING epoch, cursor_tx, cursor_seq`,
      [stream, owner, now + leaseMs, now],
    );
    const r = rows[0];
    return r ? { epoch: Number(r.epoch), cursor: { tx: r.cursor_tx, seq: Number(r.cursor_seq) } } : null;
  }

  /** Who holds the stream's relay lease and until when (a plain read: no row lock), or null before any relay. */
  async holder(stream: string): Promise<{ owner: string; expiresAt: number } | null> {
    const h = this.h;
    const sql = `SELECT owner, expires_at FROM ${h.dialect === 'sqlite' ? '' : `${h.schema}.`}bus_relay WHERE stream = ${h.dialect === 'sqlite' ? '?' : '$1'}`;
    const row =
      h.dialect === 'sqlite'
        ? (h.db.prepare(sql).get(stream) as { owner: string; expires_at: number } | undefined)
        : (await h.pool.query<{ owner: string; expires_at: string }>(sql, [stream])).rows[0];
    return row ? { owner: row.owner, expiresAt: Number(row.expires_at) } : null;
  }

  /** Renews the lease and, when given, moves the cursor — only while (owner, epoch) still holds it. */
  async renew(stream: string, owner: string, epoch: number, expiresAt: number, cursor?: Cursor): Promise<boolean> {
    const h = this.h;
    const set = cursor ? 'expires_at = $4, cursor_tx = $5, cursor_seq = $6' : 'expires_at = $4';
    const args: unknown[] = [stream, owner, epoch, expiresAt, ...(cursor ? [cursor.tx, cursor.seq] : [])];
    if (h.dialect === 'sqlite') {
      return h.write(() => h.db.prepare(`UPDATE bus_relay SET ${set.replace(/\$\d/g, '?')} WHERE stream = ? AND owner = ? AND epoch = ?`).run(...args.slice(3), ...args.slice(0, 3)).changes === 1);
    }
    const r = await h.pool.query(`UPDATE ${h.schema}.bus_relay SET ${set} WHERE stream = $1 AND owner = $2 AND epoch = $3`, args);
    return r.rowCount === 1;
  }

  /**
   * This store's relay origin: a random id written once into `meta` (the first writer wins), so a
   * bus that keeps a high-water mark of relayed positions tells a new store from this one; on
   * PostgreSQL with the database instance and timeline it runs on (a restored backup is a new origin).
   */
  async origin(): Promise<string> {
    const h = this.h;
    const id = randomUUID();
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        h.db.prepare("INSERT INTO meta (key, value) VALUES ('bus.origin', ?) ON CONFLICT (key) DO NOTHING").run(id);
        return (h.db.prepare("SELECT value FROM meta WHERE key = 'bus.origin'").get() as { value: string }).value;
      });
    }
    const { rows } = await h.pool.query<{ value: string }>(
      `WITH ins AS (INSERT INTO ${h.schema}.meta (key, value) VALUES ('bus.origin', $1) ON CONFLICT (key) DO NOTHING RETURNING value)
       SELECT value FROM ins UNION ALL SELECT value FROM ${h.schema}.meta WHERE key = 'bus.origin'`,
      [id],
    );
    // The `meta` row travels with a backup, while the log positions it marks rewind with a restore:
    // the relay would skip every event up to the old mark. A restore lands on another database
    // instance (pg_dump → a new cluster: another system identifier) or on a new timeline (PITR, a
    // promoted standby), so both are part of the origin; a new origin starts without a mark (the
    // consumers' inbox still drops what was delivered before). Without the right to read them
    // (pg_control_* are for superusers and pg_monitor by default) the origin is the meta row alone.
    const instance = await h.pool
      .query<{ sid: string; tli: number }>(`SELECT system_identifier::text AS sid, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli FROM pg_control_system()`)
      .then((r) => `@${r.rows[0]!.sid}.${r.rows[0]!.tli}`)
      .catch(() => '');
    return rows[0]!.value + instance;
  }

  /** Committed events after `cursor`, in commit order (see the top of this file), with the cursor after each. */
  async readAfter(cursor: Cursor, limit: number): Promise<Array<{ event: StoredEvent; cursor: Cursor }>> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      const rows = h.db.prepare(`SELECT ${EVENT_COLS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`).all(cursor.seq, limit) as EventRow[];
      return rows.map((r) => ({ event: toEvent(r), cursor: { tx: '0', seq: r.seq } }));
    }
    const { rows } = await h.pool.query<EventRow & { tx: string }>(
      `SELECT ${EVENT_COLS}, tx::text AS tx FROM ${h.schema}.events
       WHERE (tx, seq) > ($1::xid8, $2::bigint) AND tx < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY tx, seq LIMIT $3`,
      [cursor.tx, cursor.seq, limit],
    );
    return rows.map((r) => ({ event: toEvent({ ...r, seq: Number(r.seq), created_at: Number(r.created_at) }), cursor: { tx: r.tx, seq: Number(r.seq) } }));
  }

  /** The event ids of `ids` that `group` has already handled (its inbox). */
  async handled(group: string, ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const h = this.h;
    if (h.dialect === 'sqlite') {
      const rows = h.db.prepare(`SELECT event_id FROM bus_inbox WHERE consumer = ? AND event_id IN (${ids.map(() => '?').join(',')})`).all(group, ...ids) as Array<{ event_id: string }>;
      return new Set(rows.map((r) => r.event_id));
    }
    const { rows } = await h.pool.query<{ event_id: string }>(`SELECT event_id FROM ${h.schema}.bus_inbox WHERE consumer = $1 AND event_id = ANY($2)`, [group, ids]);
    return new Set(rows.map((r) => r.event_id));
  }

  /** Inbox entries older than `before` (a redelivery comes within a lease, not days later). */
  async prune(before: number): Promise<number> {
    const h = this.h;
    if (h.dialect === 'sqlite') return h.write(() => h.db.prepare('DELETE FROM bus_inbox WHERE done_at < ?').run(before).changes);
    return (await h.pool.query(`DELETE FROM ${h.schema}.bus_inbox WHERE done_at < $1`, [before])).rowCount ?? 0;
  }
}

/** The inbox row of a handled event, in the handler's run commit; a second one rolls that run back. */
export function inboxEffect(group: string, eventId: string): TxEffect {
  return {
    sqlite(db: SqliteHandle['db'], now: number): void {
      const r = db.prepare('INSERT INTO bus_inbox (consumer, event_id, done_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(group, eventId, now);
      if (r.changes === 0) throw new DuplicateDeliveryError(group, eventId);
    },
    async postgres(c: Parameters<TxEffect['postgres']>[0], schema: string, now: number): Promise<void> {
      const r = await c.query(`INSERT INTO ${schema}.bus_inbox (consumer, event_id, done_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [group, eventId, now]);
      if (r.rowCount === 0) throw new DuplicateDeliveryError(group, eventId);
    },
  };
}

