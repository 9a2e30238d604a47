// One repository for both dialects: a transaction body is a generator that yields SQL and gets the
// rows back. On SQLite the driver runs it synchronously inside ONE `BEGIN IMMEDIATE` (nothing else
// can slip in between statements: better-sqlite3 is synchronous); on PostgreSQL it runs on one
// pooled client between BEGIN and COMMIT. SQL is written once with `?` placeholders and `{p}` where
// a table name needs the schema prefix; `{lock}` becomes `FOR UPDATE` on PostgreSQL only.
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

  /** Runs a transaction body atomically. */
  async tx<T>(body: () => Tx<T>): Promise<T> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        const gen = body();
        let step = gen.next();
        while (!step.done) {
          const st = this.prepared(step.value.sql);
          const params = step.value.params.map(sqliteValue);
          const rows = st.reader ? (st.all(...params) as Row[]) : (st.run(...params), []);
          step = gen.next(rows);
        }
        return step.value;
      });
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
