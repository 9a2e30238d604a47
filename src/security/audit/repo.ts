// The audit log's tables on SQLite and PostgreSQL. `audit_log` is append-only: records are only
// ever inserted (in batches, chained to the head inside the batch's transaction) and deleted from
// the old end by retention. `audit_meta` holds two rows: `head` (the last seq and hash written,
// so deleting the newest records is detected too) and `anchor` (the last pruned seq and hash, so
// the chain still verifies from its first remaining record after pruning).
import type { StoreHandle, StoreModule } from '../../store/extension.js';
import { GENESIS_HASH, recordHash, type ChainedFields } from './hash.js';

export const auditStoreModule: StoreModule = {
  name: 'audit',
  sqlite: [
    {
      id: 1,
      name: 'audit log',
      statements: [
        `CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
          target TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`,
        'CREATE INDEX audit_log_time ON audit_log (time)',
        'CREATE TABLE audit_meta (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)',
        `INSERT INTO audit_meta (name, seq, hash) VALUES ('head', 0, '${GENESIS_HASH}'), ('anchor', 0, '${GENESIS_HASH}')`,
      ],
    },
  ],
  postgres: (s) => [
    {
      id: 1,
      name: 'audit log',
      statements: [
        `CREATE TABLE ${s}.audit_log (
          seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
          target TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`,
        `CREATE INDEX audit_log_time ON ${s}.audit_log (time)`,
        `CREATE TABLE ${s}.audit_meta (name TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)`,
        `INSERT INTO ${s}.audit_meta (name, seq, hash) VALUES ('head', 0, '${GENESIS_HASH}'), ('anchor', 0, '${GENESIS_HASH}')`,
      ],
    },
  ],
};

export interface NewAuditRecord {
  time: number;
  actor: string;
  action: string;
  target: string | null;
  detail: Record<string, unknown>;
}

export interface AuditRecord extends ChainedFields {
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  sinceMs?: number;
  actor?: string;
  /** Exact action, or a prefix ending in '.' or '*' ('secret.' / 'secret.*'). */
  action?: string;
  limit?: number;
  /** Records with seq below this (paging back from the newest). */
  beforeSeq?: number;
}

export interface VerifyResult {
  ok: boolean;
  /** Records checked. */
  count: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The first record that does not verify (edited, or the seq where a deleted one was). */
  badSeq?: number;
  reason?: string;
}

interface RawRow {
  seq: number | string;
  time: number | string;
  actor: string;
  action: string;
  target: string | null;
  detail: string;
  prev_hash: string;
  hash: string;
}

function toRecord(r: RawRow): AuditRecord & { detailText: string } {
  let detail: Record<string, unknown>;
  try {
    detail = JSON.parse(r.detail) as Record<string, unknown>;
  } catch {
    detail = { unparseable: r.detail };
  }
  return { seq: Number(r.seq), time: Number(r.time), actor: r.actor, action: r.action, target: r.target, detail, prevHash: r.prev_hash, hash: r.hash, detailText: r.detail };
}

const COLS = 'seq, time, actor, action, target, detail, prev_hash, hash';

export class AuditRepo {
  constructor(private readonly h: StoreHandle) {}

  /** Appends a batch chained to the current head, in one transaction; returns the last seq. */
  async append(batch: NewAuditRecord[]): Promise<number> {
    if (batch.length === 0) return 0;
    const h = this.h;
    const chain = (head: { seq: number; hash: string }) => {
      let { seq, hash } = head;
      return batch.map((b) => {
        seq += 1;
        const fields: ChainedFields = { seq, time: b.time, actor: b.actor, action: b.action, target: b.target, detail: b.detail };
        const prev = hash;
        hash = recordHash(prev, fields);
        return { ...fields, prevHash: prev, hash };
      });
    };
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        const head = h.db.prepare("SELECT seq, hash FROM audit_meta WHERE name = 'head'").get() as { seq: number; hash: string };
        const rows = chain(head);
        const ins = h.db.prepare(`INSERT INTO audit_log (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
        for (const r of rows) ins.run(r.seq, r.time, r.actor, r.action, r.target, JSON.stringify(r.detail), r.prevHash, r.hash);
        const last = rows[rows.length - 1]!;
        h.db.prepare("UPDATE audit_meta SET seq = ?, hash = ? WHERE name = 'head'").run(last.seq, last.hash);
        return last.seq;
      });
    }
    return h.tx(async (c) => {
      const head = (await c.query(`SELECT seq, hash FROM ${h.schema}.audit_meta WHERE name = 'head' FOR UPDATE`)).rows[0] as { seq: string; hash: string };
      const rows = chain({ seq: Number(head.seq), hash: head.hash });
      const params: unknown[] = [];
      const values = rows.map((r, i) => {
        params.push(r.seq, r.time, r.actor, r.action, r.target, JSON.stringify(r.detail), r.prevHash, r.hash);
        const b = i * 8;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8})`;
      });
      await c.query(`INSERT INTO ${h.schema}.audit_log (${COLS}) VALUES ${values.join(', ')}`, params);
      const last = rows[rows.length - 1]!;
      await c.query(`UPDATE ${h.schema}.audit_meta SET seq = $1, hash = $2 WHERE name = 'head'`, [last.seq, last.hash]);
      return last.seq;
    });
  }

  /** Newest first. */
  async list(q: AuditQuery = {}): Promise<AuditRecord[]> {
    const h = this.h;
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return h.dialect === 'sqlite' ? '?' : `$${params.length}`;
    };
    if (q.sinceMs != null) where.push(`time >= ${p(q.sinceMs)}`);
    if (q.beforeSeq != null) where.push(`seq < ${p(q.beforeSeq)}`);
    if (q.actor) where.push(`actor = ${p(q.actor)}`);
    if (q.action) {
      const prefix = q.action.endsWith('*') ? q.action.slice(0, -1) : q.action.endsWith('.') ? q.action : null;
      if (prefix !== null) where.push(`substr(action, 1, ${p(prefix.length)}) = ${p(prefix)}`);
      else where.push(`action = ${p(q.action)}`);
    }
    const limit = Math.min(Math.max(1, q.limit ?? 100), 10_000);
    const table = h.dialect === 'sqlite' ? 'audit_log' : `${h.schema}.audit_log`;
    const sql = `SELECT ${COLS} FROM ${table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit}`;
    const rows = h.dialect === 'sqlite' ? (h.db.prepare(sql).all(...params) as RawRow[]) : (await h.pool.query<RawRow>(sql, params)).rows;
    return rows.map((r) => {
      const { detailText: _, ...rec } = toRecord(r);
      return rec;
    });
  }

  private async meta(): Promise<{ head: { seq: number; hash: string }; anchor: { seq: number; hash: string } }> {
    const h = this.h;
    const rows =
      h.dialect === 'sqlite'
        ? (h.db.prepare('SELECT name, seq, hash FROM audit_meta').all() as Array<{ name: string; seq: number; hash: string }>)
        : (await h.pool.query<{ name: string; seq: string; hash: string }>(`SELECT name, seq, hash FROM ${h.schema}.audit_meta`)).rows;
    const get = (n: string) => {
      const r = rows.find((x) => x.name === n);
      return r ? { seq: Number(r.seq), hash: r.hash } : { seq: -1, hash: '' };
    };
    return { head: get('head'), anchor: get('anchor') };
  }

  private async page(afterSeq: number, size: number): Promise<RawRow[]> {
    const h = this.h;
    if (h.dialect === 'sqlite') return h.db.prepare(`SELECT ${COLS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`).all(afterSeq, size) as RawRow[];
    return (await h.pool.query<RawRow>(`SELECT ${COLS} FROM ${h.schema}.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, size])).rows;
  }

  /** Walks the chain from the anchor to the head; stops at the first record that does not verify. */
  async verify(): Promise<VerifyResult> {
    const { head, anchor } = await this.meta();
    if (anchor.seq < 0 || head.seq < 0) return { ok: false, count: 0, firstSeq: null, lastSeq: null, badSeq: 0, reason: 'the audit_meta rows (head, anchor) are missing' };
    let expectSeq = anchor.seq + 1;
    let prev = anchor.hash;
    let count = 0;
    let firstSeq: number | null = null;
    const fail = (badSeq: number, reason: string): VerifyResult => ({ ok: false, count, firstSeq, lastSeq: expectSeq - 1 >= 0 ? expectSeq - 1 : null, badSeq, reason });
    for (let after = anchor.seq; ; ) {
      const rows = await this.page(after, 2000);
      if (rows.length === 0) break;
      for (const raw of rows) {
        const r = toRecord(raw);
        if (r.seq < expectSeq) return fail(r.seq, `record ${r.seq} is older than the retention anchor (seq ${anchor.seq}): it was inserted after pruning`);
        if (r.seq > expectSeq) return fail(expectSeq, `record ${expectSeq} is missing: deleted (the chain jumps from ${expectSeq - 1} to ${r.seq})`);
        if (r.prevHash !== prev) return fail(r.seq, `record ${r.seq} does not chain to record ${r.seq - 1}: its prev_hash differs (the previous record was edited or replaced)`);
        if (recordHash(prev, r) !== r.hash) return fail(r.seq, `record ${r.seq} was edited: its contents no longer match its hash`);
        firstSeq ??= r.seq;
        prev = r.hash;
        expectSeq = r.seq + 1;
        count++;
      }
      after = expectSeq - 1;
    }
    const last = expectSeq - 1;
    if (head.seq !== last || head.hash !== prev) {
      if (head.seq > last) return fail(last + 1, `records ${last + 1}..${head.seq} are missing: deleted from the end of the log (the head says ${head.seq})`);
      return fail(last, `the chain ends at ${last} but the head says ${head.seq}: the log or its head was altered`);
    }
    return { ok: true, count, firstSeq, lastSeq: count > 0 ? last : null };
  }

  /** Deletes records older than `before` (keeping the newest one), moving the anchor to the last pruned record. */
  async prune(before: number): Promise<number> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        const head = h.db.prepare("SELECT seq FROM audit_meta WHERE name = 'head'").get() as { seq: number };
        const last = h.db.prepare('SELECT seq, hash FROM audit_log WHERE time < ? AND seq < ? ORDER BY seq DESC LIMIT 1').get(before, head.seq) as { seq: number; hash: string } | undefined;
        if (!last) return 0;
        const n = h.db.prepare('DELETE FROM audit_log WHERE seq <= ?').run(last.seq).changes;
        h.db.prepare("UPDATE audit_meta SET seq = ?, hash = ? WHERE name = 'anchor'").run(last.seq, last.hash);
        return n;
      });
    }
    return h.tx(async (c) => {
      const head = (await c.query(`SELECT seq FROM ${h.schema}.audit_meta WHERE name = 'head' FOR UPDATE`)).rows[0] as { seq: string };
      const last = (await c.query(`SELECT seq, hash FROM ${h.schema}.audit_log WHERE time < $1 AND seq < $2 ORDER BY seq DESC LIMIT 1`, [before, Number(head.seq)])).rows[0] as
        | { seq: string; hash: string }
        | undefined;
      if (!last) return 0;
      const n = (await c.query(`DELETE FROM ${h.schema}.audit_log WHERE seq <= $1`, [Number(last.seq)])).rowCount ?? 0;
      await c.query(`UPDATE ${h.schema}.audit_meta SET seq = $1, hash = $2 WHERE name = 'anchor'`, [Number(last.seq), last.hash]);
      return n;
    });
  }
}
