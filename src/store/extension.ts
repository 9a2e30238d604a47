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
}

export const MODULE_MIGRATIONS_SQLITE = `CREATE TABLE IF NOT EXISTS module_migrations (
  module TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (module, id))`;

export const moduleMigrationsPostgres = (schema: string): string => `CREATE TABLE IF NOT EXISTS ${schema}.module_migrations (
  module TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (module, id))`;
