// How subsystems beyond the core store (security, LLM ledger and cache, jobs, workflows) keep
// their own tables in the same database, and join a run's commit.
//
// Each subsystem owns a StoreModule: its own numbered migrations per dialect, tracked apart from the
// core ones in `module_migrations`, so subsystems evolve independently. Its repository code talks to
// the dialect through `store.handle()`; anything that must commit atomically with a run (a job's
// completion, an audit record of the run's state change) goes into `RunCommit.effects`.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { Migration } from './migrations.js';

export interface SqliteHandle {
  dialect: 'sqlite';
  db: Database.Database;
  /** Runs fn inside ONE `BEGIN IMMEDIATE` transaction (synchronous: better-sqlite3 is). A throw rolls back. */
  write<T>(fn: () => T): T;
}

export interface PostgresHandle {
  dialect: 'postgres';
  pool: pg.Pool;
  /** The connection string, for a dedicated LISTEN client. */
  url: string;
  /** The schema name, unquoted. */
  schemaName: string;
  /** The schema, quoted: prefix every table (`${h.schema}.jobs`); never rely on search_path. */
  schema: string;
  /** BEGIN … COMMIT on one pooled client; a throw rolls back. */
  tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
}

export type StoreHandle = SqliteHandle | PostgresHandle;

export interface StoreModule {
  /** Unique, stable: 'jobs', 'workflows', 'llm', 'security'. */
  name: string;
  sqlite: Migration[];
  /** `schema` is the quoted schema to prefix table names with. */
  postgres(schema: string): Migration[];
}

/**
 * Work done inside a run's commit transaction, after its state writes (SQLite: also after its
 * emits, ack and run record; PostgreSQL's group commit writes those for the whole batch after the
 * runs' effects). A throw rolls back this run alone (its savepoint), never its batch-mates.
 */
export interface TxEffect {
  sqlite(db: Database.Database, now: number): void;
  postgres(c: pg.PoolClient, schema: string, now: number): Promise<void>;
  /**
   * Work for the whole batch, once, after its runs (the group commit's transaction): a job queue's
   * claim of its next jobs (complete-and-fetch-next). Shared by the effects that name the same
   * object; it runs only if at least one of their runs committed.
   */
  after?: BatchStep;
}

/**
 * A step run ONCE per group-commit batch, in the batch's transaction, after every run of the batch
 * settled (outside their savepoints, in one of its own: a throw rolls back the step alone). `n` is
 * how many runs of the batch that carry it committed. Its answer reaches `done` once the shared
 * transaction ended — `committed` false when it rolled back (the step's writes with it).
 */
export interface BatchStep<A = unknown> {
  sqlite(db: Database.Database, now: number, n: number): A;
  postgres(c: pg.PoolClient, schema: string, now: number, n: number): Promise<A>;
  /** `answer` is undefined when the step did not run or threw. */
  done(answer: A | undefined, committed: boolean): void;
}

export const MODULE_MIGRATIONS_SQLITE = `CREATE TABLE IF NOT EXISTS module_migrations (
  module TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (module, id))`;

export const moduleMigrationsPostgres = (schema: string): string => `CREATE TABLE IF NOT EXISTS ${schema}.module_migrations (
  module TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (module, id))`;
