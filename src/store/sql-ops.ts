// SQL written once for both dialects, as generators: an operation yields `Query`s and receives
// their answers, and a driver runs it — `runSqlite` synchronously (inside better-sqlite3's BEGIN
// IMMEDIATE, or inside a run's commit as a TxEffect), `runPostgres` on one client or the pool. SQL
// uses `?` placeholders; the PostgreSQL driver numbers them. The jobs and streams stores use it.
import type Database from 'better-sqlite3';
import type pg from 'pg';

export interface Query {
  sql: string;
  params: unknown[];
  /** 'all' answers rows; 'run' answers { changes }. */
  kind: 'all' | 'run';
}
export type Row = Record<string, unknown>;
export type Op<R> = Generator<Query, R, any>;

export const all = (sql: string, ...params: unknown[]): Query => ({ sql, params, kind: 'all' });
export const run = (sql: string, ...params: unknown[]): Query => ({ sql, params, kind: 'run' });

const stmtCache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

function prepare(db: Database.Database, sql: string): Database.Statement {
  let m = stmtCache.get(db);
  if (!m) stmtCache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) {
    s = db.prepare(sql);
    if (m.size > 500) m.clear();
    m.set(sql, s);
  }
  return s;
}

export function runSqlite<R>(db: Database.Database, op: Op<R>): R {
  let step = op.next();
  while (!step.done) {
    const q = step.value;
    const st = prepare(db, q.sql);
    step = op.next(q.kind === 'all' ? st.all(...q.params) : { changes: st.run(...q.params).changes });
  }
  return step.value;
}

const pgSqlCache = new Map<string, string>();
function numbered(sql: string): string {
  let out = pgSqlCache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (pgSqlCache.size > 500) pgSqlCache.clear();
    pgSqlCache.set(sql, out);
  }
  return out;
}

export async function runPostgres<R>(c: pg.PoolClient | pg.Pool, op: Op<R>): Promise<R> {
  let step = op.next();
  while (!step.done) {
    const q = step.value;
    const res = await c.query(numbered(q.sql), q.params);
    step = op.next(q.kind === 'all' ? res.rows : { changes: res.rowCount ?? 0 });
  }
  return step.value;
}

export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
export const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
