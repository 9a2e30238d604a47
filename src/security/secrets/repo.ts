// The `secrets` table on SQLite and PostgreSQL: one row per (name, env, version) holding the
// AES-256-GCM ciphertext, when it was created, and `valid_until` once a newer version replaced it
// (null = current). Rows past their `valid_until` are deleted: a retired value is not kept.
import type { StoreModule, StoreHandle } from '../../store/extension.js';
import { OpenClawError } from '../../util/errors.js';

export const secretsStoreModule: StoreModule = {
  name: 'secrets',
  sqlite: [
    {
      id: 1,
      name: 'secrets',
      statements: [
        `CREATE TABLE secrets (
          name TEXT NOT NULL, env TEXT NOT NULL, version INTEGER NOT NULL,
          ciphertext BLOB NOT NULL, key_id TEXT NOT NULL,
          created_at INTEGER NOT NULL, valid_until INTEGER,
          PRIMARY KEY (name, env, version))`,
      ],
    },
  ],
  postgres: (s) => [
    {
      id: 1,
      name: 'secrets',
      statements: [
        `CREATE TABLE ${s}.secrets (
          name TEXT NOT NULL, env TEXT NOT NULL, version INTEGER NOT NULL,
          ciphertext BYTEA NOT NULL, key_id TEXT NOT NULL,
          created_at BIGINT NOT NULL, valid_until BIGINT,
          PRIMARY KEY (name, env, version))`,
      ],
    },
  ],
};

export interface SecretRow {
  name: string;
  env: string;
  version: number;
  ciphertext: Buffer;
  keyId: string;
  createdAt: number;
  validUntil: number | null;
}

interface RawRow {
  name: string;
  env: string;
  version: number | string;
  ciphertext: Buffer;
  key_id: string;
  created_at: number | string;
  valid_until: number | string | null;
}

const toRow = (r: RawRow): SecretRow => ({
  name: r.name,
  env: r.env,
  version: Number(r.version),
  ciphertext: Buffer.from(r.ciphertext),
  keyId: r.key_id,
  createdAt: Number(r.created_at),
  validUntil: r.valid_until === null ? null : Number(r.valid_until),
});

export class SecretNotFoundError extends OpenClawError {
  constructor(name: string, env: string, hint: string) {
    super('secret_not_found', `secret '${name}'${env === 'default' ? '' : ` (env ${env})`} does not exist; ${hint}`, { status: 404 });
  }
}

export interface PutRequest {
  name: string;
  env: string;
  /** 'set' retires the previous version at once; 'rotate' keeps it valid for `graceMs`. */
  mode: 'set' | 'rotate';
  graceMs: number;
  now: number;
  /** Encrypts for the version the row will get. */
  seal(version: number): { ciphertext: Buffer; keyId: string };
}

const COLS = 'name, env, version, ciphertext, key_id, created_at, valid_until';

export class SecretRepo {
  constructor(private readonly h: StoreHandle) {}

  /** Every live row (current and in grace); prunes expired ones first. */
  async all(now: number): Promise<SecretRow[]> {
    const h = this.h;
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        h.db.prepare('DELETE FROM secrets WHERE valid_until IS NOT NULL AND valid_until <= ?').run(now);
        return (h.db.prepare(`SELECT ${COLS} FROM secrets ORDER BY name, env, version`).all() as RawRow[]).map(toRow);
      });
    }
    await h.pool.query(`DELETE FROM ${h.schema}.secrets WHERE valid_until IS NOT NULL AND valid_until <= $1`, [now]);
    return (await h.pool.query<RawRow>(`SELECT ${COLS} FROM ${h.schema}.secrets ORDER BY name, env, version`)).rows.map(toRow);
  }

  /** A cheap summary that changes whenever a row is added, retired or deleted (for other writers). */
  async fingerprint(): Promise<string> {
    const sql = (t: string) => `SELECT count(*) AS n, coalesce(sum(version), 0) AS v, coalesce(max(created_at), 0) AS c, coalesce(sum(valid_until), 0) AS u FROM ${t}`;
    const h = this.h;
    const r =
      h.dialect === 'sqlite'
        ? (h.db.prepare(sql('secrets')).get() as Record<string, unknown>)
        : (await h.pool.query(sql(`${h.schema}.secrets`))).rows[0] as Record<string, unknown>;
    return `${r.n}:${r.v}:${r.c}:${r.u}`;
  }

  async put(req: PutRequest): Promise<{ version: number; retired: { version: number; validUntil: number } | null }> {
    const h = this.h;
    const retireAt = req.mode === 'rotate' ? req.now + req.graceMs : req.now;
    const notFound = () => new SecretNotFoundError(req.name, req.env, `set it first with \`openclaw secrets set ${req.name}${req.env === 'default' ? '' : ` --env ${req.env}`}\``);
    if (h.dialect === 'sqlite') {
      return h.write(() => {
        const cur = h.db.prepare('SELECT max(version) AS v FROM secrets WHERE name = ? AND env = ?').get(req.name, req.env) as { v: number | null };
        const live = h.db.prepare('SELECT version FROM secrets WHERE name = ? AND env = ? AND valid_until IS NULL').get(req.name, req.env) as { version: number } | undefined;
        if (req.mode === 'rotate' && !live) throw notFound();
        const version = (cur.v ?? 0) + 1;
        h.db.prepare('DELETE FROM secrets WHERE name = ? AND env = ? AND valid_until IS NOT NULL AND valid_until <= ?').run(req.name, req.env, req.now);
        h.db.prepare('UPDATE secrets SET valid_until = ? WHERE name = ? AND env = ? AND valid_until IS NULL').run(retireAt, req.name, req.env);
        if (req.mode === 'set') h.db.prepare('DELETE FROM secrets WHERE name = ? AND env = ? AND valid_until IS NOT NULL AND valid_until <= ?').run(req.name, req.env, req.now);
        const { ciphertext, keyId } = req.seal(version);
        h.db.prepare(`INSERT INTO secrets (${COLS}) VALUES (?, ?, ?, ?, ?, ?, NULL)`).run(req.name, req.env, version, ciphertext, keyId, req.now);
        return { version, retired: live && retireAt > req.now ? { version: live.version, validUntil: retireAt } : null };
      });
    }
    return h.tx(async (c) => {
      // Serialises writers of one secret: the first row's lock (or the advisory lock for a new name).
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${h.schemaName}.secrets.${req.name}.${req.env}`]);
      const cur = (await c.query(`SELECT max(version) AS v FROM ${h.schema}.secrets WHERE name = $1 AND env = $2`, [req.name, req.env])).rows[0] as { v: number | null };
      const live = (await c.query(`SELECT version FROM ${h.schema}.secrets WHERE name = $1 AND env = $2 AND valid_until IS NULL`, [req.name, req.env])).rows[0] as
        | { version: number }
        | undefined;
      if (req.mode === 'rotate' && !live) throw notFound();
      const version = Number(cur.v ?? 0) + 1;
      await c.query(`DELETE FROM ${h.schema}.secrets WHERE name = $1 AND env = $2 AND valid_until IS NOT NULL AND valid_until <= $3`, [req.name, req.env, req.now]);
      await c.query(`UPDATE ${h.schema}.secrets SET valid_until = $1 WHERE name = $2 AND env = $3 AND valid_until IS NULL`, [retireAt, req.name, req.env]);
      if (req.mode === 'set') await c.query(`DELETE FROM ${h.schema}.secrets WHERE name = $1 AND env = $2 AND valid_until IS NOT NULL AND valid_until <= $3`, [req.name, req.env, req.now]);
      const { ciphertext, keyId } = req.seal(version);
      await c.query(`INSERT INTO ${h.schema}.secrets (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)`, [req.name, req.env, version, ciphertext, keyId, req.now]);
      return { version, retired: live && retireAt > req.now ? { version: Number(live.version), validUntil: retireAt } : null };
    });
  }

  /** Deletes every version of (name, env); returns how many rows went. */
  async delete(name: string, env: string): Promise<number> {
    const h = this.h;
    if (h.dialect === 'sqlite') return h.write(() => h.db.prepare('DELETE FROM secrets WHERE name = ? AND env = ?').run(name, env).changes);
    return (await h.pool.query(`DELETE FROM ${h.schema}.secrets WHERE name = $1 AND env = $2`, [name, env])).rowCount ?? 0;
  }
}
