// The streams' tables, written once for both dialects as generators of SQL (store/sql-ops.ts):
// runSqlite drives them synchronously, inside BEGIN IMMEDIATE or a run's commit; runPostgres on one
// client inside BEGIN … COMMIT.
//
// The log: `stream_events (stream, seq)`. A stream's seq comes from its `stream_heads` row, bumped
// by n in the appending transaction. On PostgreSQL that row stays locked to COMMIT, so appends to one
// stream commit in seq order and a consumer reading `seq > cursor` never skips a row that a slower,
// earlier transaction commits later (what a BIGSERIAL would allow). Appends are group-committed (one
// transaction per batch of requests, ingest.ts), so the lock is taken once per batch, not per event.
//
// Exactly-once aggregation: a query's cursor (`stream_cursors`), its window state
// (`stream_wstate`, `stream_wparts`), its results (`stream_results`) and its late events move in ONE
// transaction with the result events (the store's outbox, RunCommit.emits): commitBatchEffect.
import type { StoreHandle, StoreModule, TxEffect } from '../store/extension.js';
import { OpenClawError } from '../util/errors.js';
import { all, num, run, runPostgres, runSqlite, type Op, type Row } from '../store/sql-ops.js';
import type { FlushOutput, PartRow, WindowResult, WinRow } from './windows.js';

const TABLES = (t: (n: string, index?: boolean) => string, big: string, pg: boolean) => [
  `CREATE TABLE ${t('stream_heads')} (stream TEXT PRIMARY KEY, seq ${big} NOT NULL)`,
  `CREATE TABLE ${t('stream_events')} (
    stream TEXT NOT NULL, seq ${big} NOT NULL, event_time ${big} NOT NULL, pkey TEXT NOT NULL, event_id TEXT,
    payload TEXT NOT NULL, ingested_at ${big} NOT NULL, PRIMARY KEY (stream, seq))`,
  `CREATE INDEX ${t('stream_events_ingested', true)} ON ${t('stream_events')} (stream, ingested_at)`,
  `CREATE TABLE ${t('stream_dedupe')} (stream TEXT NOT NULL, event_id TEXT NOT NULL, seen_at ${big} NOT NULL, PRIMARY KEY (stream, event_id))`,
  `CREATE INDEX ${t('stream_dedupe_seen', true)} ON ${t('stream_dedupe')} (stream, seen_at)`,
  `CREATE TABLE ${t('stream_dlq')} (
    id ${pg ? 'BIGSERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT'}, stream TEXT NOT NULL, line INTEGER, reason TEXT NOT NULL,
    raw TEXT NOT NULL, source TEXT NOT NULL, at ${big} NOT NULL)`,
  `CREATE INDEX ${t('stream_dlq_stream', true)} ON ${t('stream_dlq')} (stream, id)`,
  `CREATE TABLE ${t('stream_cursors')} (consumer TEXT PRIMARY KEY, seq ${big} NOT NULL)`,
  `CREATE TABLE ${t('stream_wstate')} (query TEXT NOT NULL, pkey TEXT NOT NULL, wstart ${big} NOT NULL, state TEXT NOT NULL, PRIMARY KEY (query, pkey, wstart))`,
  `CREATE TABLE ${t('stream_wparts')} (query TEXT NOT NULL, pkey TEXT NOT NULL, max_time ${big}, wm ${big}, last_seen ${big} NOT NULL, PRIMARY KEY (query, pkey))`,
  `CREATE TABLE ${t('stream_results')} (
    query TEXT NOT NULL, pkey TEXT NOT NULL, wstart ${big} NOT NULL, wend ${big} NOT NULL, final INTEGER NOT NULL, rev INTEGER NOT NULL,
    value TEXT NOT NULL, updated_at ${big} NOT NULL, PRIMARY KEY (query, pkey, wstart))`,
  `CREATE INDEX ${t('stream_results_end', true)} ON ${t('stream_results')} (query, wend)`,
  `CREATE TABLE ${t('stream_files')} (stream TEXT NOT NULL, path TEXT NOT NULL, size ${big} NOT NULL, position ${big} NOT NULL, line INTEGER NOT NULL, done INTEGER NOT NULL, updated_at ${big} NOT NULL, PRIMARY KEY (stream, path))`,
];

export const streamsStoreModule: StoreModule = {
  name: 'streams',
  sqlite: [{ id: 1, name: 'stream log, dedupe, dead letters, cursors, window state and results, files', statements: TABLES((n) => n, 'INTEGER', false) }],
  postgres: (schema) => [{ id: 1, name: 'stream log, dedupe, dead letters, cursors, window state and results, files', statements: TABLES((n, index) => (index ? n : `${schema}.${n}`), 'BIGINT', true) }],
};

// ---- SQL as generators ------------------------------------------------------------------------

interface D {
  pg: boolean;
  t(name: string): string;
}
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** An event ready to append: validated, keyed, timed. */
export interface PreparedEvent {
  time: number;
  key: string;
  id: string | null;
  payload: string;
}

export interface DlqRow {
  line: number | null;
  reason: string;
  raw: string;
  source: string;
}

export interface AppendResult {
  appended: number;
  duplicates: number;
  lastSeq: number;
}

export interface StoredStreamEvent {
  seq: number;
  time: number;
  key: string;
  id: string | null;
  payload: unknown;
  ingestedAt: number;
}

const CHUNK = 2000;

/** Appends to one stream (dedupe by id within the window), dead-letters, moves a file position. */
function* appendOp(d: D, stream: string, events: PreparedEvent[], dlq: DlqRow[], now: number, dedupeMs: number, file?: FilePosition): Op<AppendResult> {
  let keep = events;
  let duplicates = 0;
  const withId = events.filter((e) => e.id !== null);
  if (withId.length > 0) {
    // First occurrence in the batch wins; a stored id older than the window counts as new again.
    const firstIdx = new Map<string, number>();
    events.forEach((e, i) => e.id !== null && !firstIdx.has(e.id) && firstIdx.set(e.id, i));
    const ids = [...firstIdx.keys()];
    const fresh = new Set<string>();
    const cutoff = now - dedupeMs;
    for (let i = 0; i < ids.length; i += CHUNK) {
      const part = ids.slice(i, i + CHUNK);
      const upsert = ` ON CONFLICT (stream, event_id) DO UPDATE SET seen_at = excluded.seen_at WHERE cur.seen_at < ? RETURNING event_id`;
      const rows: Row[] = d.pg
        ? yield all(`INSERT INTO ${d.t('stream_dedupe')} AS cur (stream, event_id, seen_at) SELECT ?::text, unnest(?::text[]), ?::bigint${upsert}`, stream, part, now, cutoff)
        : yield all(`INSERT INTO ${d.t('stream_dedupe')} AS cur (stream, event_id, seen_at) SELECT ?, value, ? FROM json_each(?) WHERE true${upsert}`, stream, now, JSON.stringify(part), cutoff);
      for (const r of rows) fresh.add(r.event_id as string);
    }
    keep = events.filter((e, i) => e.id === null || (fresh.has(e.id) && firstIdx.get(e.id) === i));
    duplicates = events.length - keep.length;
  }
  let lastSeq = 0;
  if (keep.length > 0) {
    const head: Row[] = yield all(
      `INSERT INTO ${d.t('stream_heads')} AS cur (stream, seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET seq = cur.seq + excluded.seq RETURNING seq`,
      stream,
      keep.length,
    );
    lastSeq = num(head[0]!.seq);
    const first = lastSeq - keep.length + 1;
    for (let i = 0; i < keep.length; i += CHUNK) {
      const part = keep.slice(i, i + CHUNK);
      const base = first + i;
      if (d.pg) {
        yield run(
          `INSERT INTO ${d.t('stream_events')} (stream, seq, event_time, pkey, event_id, payload, ingested_at)
           SELECT ?::text, s, t, k, id, p, ?::bigint FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[]) AS u(s, t, k, id, p)`,
          stream, now, part.map((_, j) => base + j), part.map((e) => e.time), part.map((e) => e.key), part.map((e) => e.id), part.map((e) => e.payload),
        );
      } else {
        // One prepared statement per row is the fastest path in better-sqlite3 (no parsing, no JSON).
        for (let j = 0; j < part.length; j++) {
          const e = part[j]!;
          yield run(`INSERT INTO stream_events (stream, seq, event_time, pkey, event_id, payload, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, stream, base + j, e.time, e.key, e.id, e.payload, now);
        }
      }
    }
  }
  for (const r of dlq) yield run(`INSERT INTO ${d.t('stream_dlq')} (stream, line, reason, raw, source, at) VALUES (?, ?, ?, ?, ?, ?)`, stream, r.line, r.reason, r.raw, r.source, now);
  if (file) {
    yield run(
      `INSERT INTO ${d.t('stream_files')} (stream, path, size, position, line, done, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (stream, path) DO UPDATE SET size = excluded.size, position = excluded.position, line = excluded.line, done = excluded.done, updated_at = excluded.updated_at`,
      stream, file.path, file.size, file.position, file.line, file.done ? 1 : 0, now,
    );
  }
  return { appended: keep.length, duplicates, lastSeq };
}

export interface FilePosition {
  path: string;
  size: number;
  position: number;
  line: number;
  done: boolean;
}

/** Everything one aggregation batch commits besides its result events (which go to the outbox). */
export interface BatchCommit {
  query: string;
  stream: string;
  fromSeq: number;
  toSeq: number;
  out: FlushOutput;
  /** Late events, re-appended to the side stream `<query>.late`. */
  late: PreparedEvent[];
}

function* commitBatchOp(d: D, b: BatchCommit, now: number): Op<void> {
  const moved: { changes: number } = yield run(`UPDATE ${d.t('stream_cursors')} SET seq = ? WHERE consumer = ? AND seq = ?`, b.toSeq, b.query, b.fromSeq);
  if (moved.changes !== 1) {
    throw new OpenClawError('stream_cursor_moved', `window '${b.query}': its cursor is no longer at ${b.fromSeq} (another daemon on this store aggregates it); this batch is discarded and the state reloaded`);
  }
  for (const x of b.out.deletes) yield run(`DELETE FROM ${d.t('stream_wstate')} WHERE query = ? AND pkey = ? AND wstart = ?`, b.query, x.key, x.start);
  for (const w of b.out.upserts) {
    yield run(
      `INSERT INTO ${d.t('stream_wstate')} (query, pkey, wstart, state) VALUES (?, ?, ?, ?) ON CONFLICT (query, pkey, wstart) DO UPDATE SET state = excluded.state`,
      b.query, w.key, w.start, w.state,
    );
  }
  for (const p of b.out.parts) {
    yield run(
      `INSERT INTO ${d.t('stream_wparts')} (query, pkey, max_time, wm, last_seen) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (query, pkey) DO UPDATE SET max_time = excluded.max_time, wm = excluded.wm, last_seen = excluded.last_seen`,
      b.query, p.key, Number.isFinite(p.maxTime) ? p.maxTime : null, Number.isFinite(p.wm) ? p.wm : null, p.lastSeen,
    );
  }
  for (const r of b.out.results) {
    for (const m of r.merged ?? []) yield run(`DELETE FROM ${d.t('stream_results')} WHERE query = ? AND pkey = ? AND wstart = ?`, b.query, r.key, m);
    yield run(
      `INSERT INTO ${d.t('stream_results')} (query, pkey, wstart, wend, final, rev, value, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (query, pkey, wstart) DO UPDATE SET wend = excluded.wend, final = excluded.final, rev = excluded.rev, value = excluded.value, updated_at = excluded.updated_at`,
      b.query, r.key, r.start, r.end, r.final ? 1 : 0, r.rev, JSON.stringify({ count: r.count, values: r.values }), now,
    );
  }
  if (b.late.length > 0) yield* appendOp(d, `${b.query}.late`, b.late, [], now, 0);
}

// ---- the repository ------------------------------------------------------------------------------

export interface StreamStats {
  stream: string;
  head: number;
  events: number;
  oldestIngestedAt: number | null;
  newestIngestedAt: number | null;
  dlq: number;
}

export interface ResultRow {
  window: string;
  key: string;
  start: number;
  end: number;
  final: boolean;
  rev: number;
  count: number;
  values: Record<string, unknown>;
  updatedAt: number;
}

export interface DlqEntry {
  id: number;
  stream: string;
  line: number | null;
  reason: string;
  raw: string;
  source: string;
  at: number;
}

export class StreamStore {
  private readonly d: D;

  constructor(private readonly h: StoreHandle) {
    this.d = h.dialect === 'postgres' ? { pg: true, t: (n) => `${h.schema}.${n}` } : { pg: false, t: (n) => n };
  }

  private async tx<R>(op: () => Op<R>): Promise<R> {
    const h = this.h;
    if (h.dialect === 'sqlite') return h.write(() => runSqlite(h.db, op()));
    return h.tx((c) => runPostgres(c, op()));
  }

  private async read<R>(op: Op<R>): Promise<R> {
    const h = this.h;
    if (h.dialect === 'sqlite') return runSqlite(h.db, op);
    return runPostgres(h.pool, op);
  }

  /** One transaction for several appends (a group commit of many requests, over several streams). */
  appendMany(batches: Array<{ stream: string; events: PreparedEvent[]; dlq: DlqRow[]; dedupeMs: number; file?: FilePosition }>, now: number): Promise<AppendResult[]> {
    const d = this.d;
    return this.tx(function* () {
      const out: AppendResult[] = [];
      for (const b of batches) out.push(yield* appendOp(d, b.stream, b.events, b.dlq, now, b.dedupeMs, b.file));
      return out;
    });
  }

  /** An append inside another transaction (an agent's run: this.streams.append). */
  appendEffect(stream: string, events: PreparedEvent[], dlq: DlqRow[], dedupeMs: number): TxEffect {
    const d = this.d;
    return {
      sqlite: (db, now) => void runSqlite(db, appendOp(d, stream, events, dlq, now, dedupeMs)),
      postgres: async (c, _schema, now) => void (await runPostgres(c, appendOp(d, stream, events, dlq, now, dedupeMs))),
    };
  }

  /** The TxEffect of an aggregation batch, committed with its result events (commitRun). */
  commitBatchEffect(b: BatchCommit): TxEffect {
    const d = this.d;
    return {
      sqlite: (db, now) => runSqlite(db, commitBatchOp(d, b, now)),
      postgres: (c, _schema, now) => runPostgres(c, commitBatchOp(d, b, now)),
    };
  }

  async ensureCursor(query: string): Promise<number> {
    const d = this.d;
    return this.tx(function* () {
      yield run(`INSERT INTO ${d.t('stream_cursors')} (consumer, seq) VALUES (?, 0) ON CONFLICT (consumer) DO NOTHING`, query);
      const rows: Row[] = yield all(`SELECT seq FROM ${d.t('stream_cursors')} WHERE consumer = ?`, query);
      return num(rows[0]!.seq);
    });
  }

  async loadWindowState(query: string): Promise<{ cursor: number; parts: PartRow[]; wins: WinRow[] }> {
    const d = this.d;
    const op = function* (): Op<{ cursor: number; parts: PartRow[]; wins: WinRow[] }> {
      const c: Row[] = yield all(`SELECT seq FROM ${d.t('stream_cursors')} WHERE consumer = ?`, query);
      const p: Row[] = yield all(`SELECT pkey, max_time, wm, last_seen FROM ${d.t('stream_wparts')} WHERE query = ?`, query);
      const w: Row[] = yield all(`SELECT pkey, wstart, state FROM ${d.t('stream_wstate')} WHERE query = ?`, query);
      return {
        cursor: c[0] ? num(c[0].seq) : 0,
        parts: p.map((r) => ({ key: r.pkey as string, maxTime: optNum(r.max_time) ?? -Infinity, wm: optNum(r.wm) ?? -Infinity, lastSeen: num(r.last_seen) })),
        wins: w.map((r) => ({ key: r.pkey as string, start: num(r.wstart), state: r.state as string })),
      };
    };
    // One snapshot: on PostgreSQL a transaction, so the cursor and the state agree.
    return this.tx(op);
  }

  async readAfter(stream: string, afterSeq: number, limit: number): Promise<StoredStreamEvent[]> {
    const d = this.d;
    return this.read(
      (function* (): Op<StoredStreamEvent[]> {
        const rows: Row[] = yield all(`SELECT seq, event_time, pkey, event_id, payload, ingested_at FROM ${d.t('stream_events')} WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?`, stream, afterSeq, limit);
        return rows.map((r) => ({ seq: num(r.seq), time: num(r.event_time), key: r.pkey as string, id: (r.event_id as string | null) ?? null, payload: JSON.parse(r.payload as string), ingestedAt: num(r.ingested_at) }));
      })(),
    );
  }

  async head(stream: string): Promise<number> {
    const d = this.d;
    return this.read(
      (function* (): Op<number> {
        const rows: Row[] = yield all(`SELECT seq FROM ${d.t('stream_heads')} WHERE stream = ?`, stream);
        return rows[0] ? num(rows[0].seq) : 0;
      })(),
    );
  }

  async cursor(query: string): Promise<number> {
    const d = this.d;
    return this.read(
      (function* (): Op<number> {
        const rows: Row[] = yield all(`SELECT seq FROM ${d.t('stream_cursors')} WHERE consumer = ?`, query);
        return rows[0] ? num(rows[0].seq) : 0;
      })(),
    );
  }

  async stats(stream: string): Promise<StreamStats> {
    const d = this.d;
    return this.read(
      (function* (): Op<StreamStats> {
        const h: Row[] = yield all(`SELECT seq FROM ${d.t('stream_heads')} WHERE stream = ?`, stream);
        const e: Row[] = yield all(`SELECT count(*) AS n, min(ingested_at) AS lo, max(ingested_at) AS hi FROM ${d.t('stream_events')} WHERE stream = ?`, stream);
        const q: Row[] = yield all(`SELECT count(*) AS n FROM ${d.t('stream_dlq')} WHERE stream = ?`, stream);
        return { stream, head: h[0] ? num(h[0].seq) : 0, events: num(e[0]!.n), oldestIngestedAt: optNum(e[0]!.lo), newestIngestedAt: optNum(e[0]!.hi), dlq: num(q[0]!.n) };
      })(),
    );
  }

  async dlqDepths(): Promise<Record<string, number>> {
    const d = this.d;
    return this.read(
      (function* (): Op<Record<string, number>> {
        const rows: Row[] = yield all(`SELECT stream, count(*) AS n FROM ${d.t('stream_dlq')} GROUP BY stream`);
        return Object.fromEntries(rows.map((r) => [r.stream as string, num(r.n)]));
      })(),
    );
  }

  async listDlq(stream: string, limit: number): Promise<DlqEntry[]> {
    const d = this.d;
    return this.read(
      (function* (): Op<DlqEntry[]> {
        const rows: Row[] = yield all(`SELECT id, stream, line, reason, raw, source, at FROM ${d.t('stream_dlq')} WHERE stream = ? ORDER BY id DESC LIMIT ?`, stream, limit);
        return rows.map((r) => ({ id: num(r.id), stream: r.stream as string, line: optNum(r.line), reason: r.reason as string, raw: r.raw as string, source: r.source as string, at: num(r.at) }));
      })(),
    );
  }

  async results(query: string, opts: { key?: string; since?: number; limit: number; finalOnly?: boolean }): Promise<ResultRow[]> {
    const d = this.d;
    return this.read(
      (function* (): Op<ResultRow[]> {
        const rows: Row[] = yield all(
          `SELECT pkey, wstart, wend, final, rev, value, updated_at FROM ${d.t('stream_results')}
           WHERE query = ? AND wend >= ? AND (CAST(? AS TEXT) IS NULL OR pkey = ?) AND (? = 0 OR final = 1) ORDER BY wend DESC, pkey LIMIT ?`,
          query, opts.since ?? -1e15, opts.key ?? null, opts.key ?? null, opts.finalOnly ? 1 : 0, opts.limit,
        );
        return rows.map((r) => {
          const v = JSON.parse(r.value as string) as { count: number; values: Record<string, unknown> };
          return { window: query, key: r.pkey as string, start: num(r.wstart), end: num(r.wend), final: num(r.final) === 1, rev: num(r.rev), count: v.count, values: v.values, updatedAt: num(r.updated_at) };
        });
      })(),
    );
  }

  async filePosition(stream: string, path: string): Promise<FilePosition | null> {
    const d = this.d;
    return this.read(
      (function* (): Op<FilePosition | null> {
        const rows: Row[] = yield all(`SELECT size, position, line, done FROM ${d.t('stream_files')} WHERE stream = ? AND path = ?`, stream, path);
        const r = rows[0];
        return r ? { path, size: num(r.size), position: num(r.position), line: num(r.line), done: num(r.done) === 1 } : null;
      })(),
    );
  }

  /** Retention: events older than `retentionMs` that every query of the stream has consumed; dedupe ids past their window; old dead letters and results. */
  async sweep(s: { stream: string; retentionMs: number; dedupeMs: number; dlqRetentionMs: number; consumedUpTo: number }, results: Array<{ query: string; retentionMs: number }>, now: number): Promise<void> {
    const d = this.d;
    await this.tx(function* () {
      yield run(`DELETE FROM ${d.t('stream_events')} WHERE stream = ? AND ingested_at < ? AND seq <= ?`, s.stream, now - s.retentionMs, s.consumedUpTo);
      yield run(`DELETE FROM ${d.t('stream_dedupe')} WHERE stream = ? AND seen_at < ?`, s.stream, now - s.dedupeMs);
      yield run(`DELETE FROM ${d.t('stream_dlq')} WHERE stream = ? AND at < ?`, s.stream, now - s.dlqRetentionMs);
      for (const r of results) yield run(`DELETE FROM ${d.t('stream_results')} WHERE query = ? AND final = 1 AND wend < ?`, r.query, now - r.retentionMs);
    });
  }
}

export type { WindowResult };
