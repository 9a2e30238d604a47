// Numbered schema migrations. Each dialect lists its own (DDL differs), the runner in each store
// applies the pending ones at open inside a transaction and records them in `schema_migrations`,
// so opening twice, or two daemons opening at once (PostgreSQL), applies each exactly once.
import { OpenClawError } from '../util/errors.js';

export interface Migration {
  /** 1, 2, 3, ...: never renumber or edit a released migration; add a new one. */
  id: number;
  name: string;
  statements: string[];
}

/** The migrations still to apply, in order. Refuses a database migrated by a newer OpenClaw. */
export function pendingMigrations(all: readonly Migration[], applied: readonly number[]): Migration[] {
  all.forEach((m, i) => {
    if (m.id !== i + 1) throw new Error(`migration list is malformed: expected id ${i + 1}, found ${m.id} (${m.name})`);
  });
  const known = all.length;
  const unknown = applied.filter((id) => id > known);
  if (unknown.length > 0) {
    throw new OpenClawError(
      'store_too_new',
      `the store was migrated to schema ${Math.max(...unknown)} by a newer OpenClaw, this one knows up to ${known}; upgrade OpenClaw or point it at another store`,
      { exitCode: 78 },
    );
  }
  const done = new Set(applied);
  return all.filter((m) => !done.has(m.id));
}
