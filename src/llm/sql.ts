// One repository for both dialects: a transaction body is a generator that yields SQL and gets the
// rows back. On SQLite the driver runs it synchronously inside ONE `BEGIN IMMEDIATE` (nothing else
// can slip in between statements: better-sqlite3 is synchronous); on PostgreSQL it runs on one
// pooled client between BEGIN and COMMIT. SQL is written once with `?` placeholders and `{p}` where
// a table name needs the schema prefix; `{lock}` becomes `FOR UPDATE` on PostgreSQL only.
//
// Group commit (SQLite): the first transaction of an event-loop turn runs at once, alone; the ones
// asked for while it is still that turn (concurrent requests) wait for the next turn and then run
// together inside ONE `BEGIN IMMEDIATE … COMMIT`, each in its own savepoint (a body that throws
// rolls back only itself). Each caller's promise resolves after the COMMIT that holds its writes,
// so durability is unchanged; a commit (its WAL write) is paid once per batch instead of per call.
import type { StoreHandle } from '../store/extension.js';

export type Row = Record<string, unknown>;
export interface Op {
  sql: string;
  params: unknown[];
}
export type Tx<T> = Generator<Op, T, Row[]>;

/** All rows of a query (or of a statement with RETURNING; [] for a plain write). */
export function* q(sql: string, ...params: unknown[]): Generator<Op, Row[], Row[]> {
  return yield { sql, params };
}

/** The first row or undefined. */
export function* q1(sql: string, ...params: unknown[]): Generator<Op, Row | undefined, Row[]> {
  const rows = yield { sql, params };
  return rows[0];
}

type SqliteStatement = { reader: boolean; all(...p: unknown[]): unknown[]; run(...p: unknown[]): unknown };

export class SqlRunner {
  private readonly cache = new Map<string, string>();
  private readonly statements = new Map<string, SqliteStatement>();
  constructor(readonly h: StoreHandle) {}

  get dialect(): 'sqlite' | 'postgres' {
    return this.h.dialect;
  }

  private text(sql: string): string {
    let t = this.cache.get(sql);
    if (t !== undefined) return t;
    if (this.h.dialect === 'sqlite') {
      t = sql.replaceAll('{p}', '').replaceAll('{lock}', '');
    } else {
      let n = 0;
      t = sql
        .replaceAll('{p}', `${this.h.schema}.`)
        .replaceAll('{lock}', 'FOR UPDATE')
        .replace(/\?/g, () => `$${++n}`);
    }
    this.cache.set(sql, t);
    return t;
  }

  /** SQLite statements are prepared once per SQL text. */
  private prepared(sql: string): SqliteStatement {
    let st = this.statements.get(sql);
    if (!st) {
      if (this.h.dialect !== 'sqlite') throw new Error('prepared statements are for SQLite');
      st = this.h.db.prepare(this.text(sql)) as unknown as SqliteStatement;
      this.statements.set(sql, st);
    }
    return st;
  }

  private queue: Array<{ body: () => Tx<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private savepoint: ((fn: () => unknown) => unknown) | null = null;

  /** Runs a body's statements on SQLite (synchronously, inside the caller's transaction). */
  private runSqlite<T>(body: () => Tx<T>): T {
    const gen = body();
    let step = gen.next();
    while (!step.done) {
      const st = this.prepared(step.value.sql);
      const params = step.value.params.map(sqliteValue);
      const rows = st.reader ? (st.all(...params) as Row[]) : (st.run(...params), []);
      step = gen.next(rows);
    }
    return step.value;
  }

  /** Runs the bodies queued during the last turn in one transaction (see the header). */
  private flush(): void {
    const h = this.h;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0 || h.dialect !== 'sqlite') {
      this.scheduled = false;
      return;
    }
    // Calls made while this batch settles are batched in the next turn.
    setImmediate(() => this.flush());
    // A nested better-sqlite3 transaction is a SAVEPOINT.
    const sp = (this.savepoint ??= h.db.transaction((fn: () => unknown) => fn()) as unknown as (fn: () => unknown) => unknown);
    const results: Array<{ ok: true; v: unknown } | { ok: false; e: unknown }> = [];
    try {
      h.write(() => {
        for (const item of batch) {
          try {
            results.push({ ok: true, v: batch.length === 1 ? this.runSqlite(item.body) : sp(() => this.runSqlite(item.body)) });
          } catch (e) {
            if (batch.length === 1) throw e;
            results.push({ ok: false, e });
          }
        }
      });
    } catch (e) {
      for (const item of batch) item.reject(e);
      return;
    }
    batch.forEach((item, i) => {
      const r = results[i]!;
      if (r.ok) item.resolve(r.v);
      else item.reject(r.e);
    });
  }

  /** Runs a transaction body atomically. */
  async tx<T>(body: () => Tx<T>): Promise<T> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
        return h.write(() => this.runSqlite(body));
      }
      return new Promise<T>((resolve, reject) => this.queue.push({ body, resolve: resolve as (v: unknown) => void, reject }));
    }
    return h.tx(async (c) => {
      const gen = body();
      let step = gen.next();
      while (!step.done) {
        const res = await c.query(this.text(step.value.sql), step.value.params);
        step = gen.next(res.rows as Row[]);
      }
      return step.value;
    });
  }

  /** A single statement outside any explicit transaction. */
  async all(sql: string, ...params: unknown[]): Promise<Row[]> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      const st = this.prepared(sql);
      const p = params.map(sqliteValue);
      return st.reader ? (st.all(...p) as Row[]) : (st.run(...p), []);
    }
    return (await h.pool.query(this.text(sql), params)).rows as Row[];
  }
}

function sqliteValue(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === undefined) return null;
  return v;
}

/** BIGINT columns come back from pg as strings. */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v);
}
