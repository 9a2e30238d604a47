// API tokens in the project's store (StoreModule 'auth'), on SQLite and PostgreSQL. Rows hold the
// secret's SHA-256 only; the token itself is returned once, by create().
import type { StoreModule, StoreHandle } from '../../store/extension.js';
import type { Store } from '../../store/types.js';
import type { TokenRole } from './roles.js';
import type { TokenInfo } from '../../contracts/tokens.js';
import { formatToken, hashSecret, newSecret, newTokenId } from './tokens.js';

/** A token as stored and as /api/tokens shows it (never the secret). */
export type TokenRecord = TokenInfo;

interface Row {
  id: string;
  name: string;
  role: string;
  team: string | null;
  secret_hash: string;
  created_at: number | string;
  created_by: string | null;
  expires_at: number | string | null;
  last_used_at: number | string | null;
  revoked_at: number | string | null;
}

export const authStoreModule: StoreModule = {
  name: 'auth',
  sqlite: [
    {
      id: 1,
      name: 'api tokens',
      statements: [
        `CREATE TABLE auth_tokens (
          id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, team TEXT, secret_hash TEXT NOT NULL,
          created_at INTEGER NOT NULL, created_by TEXT, expires_at INTEGER, last_used_at INTEGER, revoked_at INTEGER)`,
      ],
    },
  ],
  postgres: (s) => [
    {
      id: 1,
      name: 'api tokens',
      statements: [
        `CREATE TABLE ${s}.auth_tokens (
          id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, team TEXT, secret_hash TEXT NOT NULL,
          created_at BIGINT NOT NULL, created_by TEXT, expires_at BIGINT, last_used_at BIGINT, revoked_at BIGINT)`,
      ],
    },
  ],
};

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toRecord(r: Row): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role as TokenRole,
    team: r.team,
    createdAt: Number(r.created_at),
    createdBy: r.created_by,
    expiresAt: num(r.expires_at),
    lastUsedAt: num(r.last_used_at),
    revokedAt: num(r.revoked_at),
  };
}

export interface NewToken {
  name: string;
  role: TokenRole;
  team: string | null;
  expiresAt: number | null;
  createdBy: string | null;
}

export class TokenRepository {
  private readonly h: StoreHandle;

  private constructor(store: Store, private readonly now: () => number) {
    this.h = store.handle();
  }

  static async open(store: Store, now: () => number): Promise<TokenRepository> {
    await store.migrateModule(authStoreModule);
    return new TokenRepository(store, now);
  }

  /** Stores a new token and returns it with the only copy of its plaintext. */
  async create(t: NewToken): Promise<{ token: string; record: TokenRecord }> {
    const id = newTokenId();
    const secret = newSecret();
    const createdAt = this.now();
    const values = [id, t.name, t.role, t.team, hashSecret(secret), createdAt, t.createdBy, t.expiresAt];
    if (this.h.dialect === 'sqlite') {
      const { db } = this.h;
      this.h.write(() =>
        db.prepare('INSERT INTO auth_tokens (id, name, role, team, secret_hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(...values),
      );
    } else {
      await this.h.pool.query(
        `INSERT INTO ${this.h.schema}.auth_tokens (id, name, role, team, secret_hash, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        values,
      );
    }
    return {
      token: formatToken('api', id, secret),
      record: { id, name: t.name, role: t.role, team: t.team, createdAt, createdBy: t.createdBy, expiresAt: t.expiresAt, lastUsedAt: null, revokedAt: null },
    };
  }

  /** The row and its secret hash, for verification. */
  async lookup(id: string): Promise<{ record: TokenRecord; secretHash: string } | null> {
    let row: Row | undefined;
    if (this.h.dialect === 'sqlite') row = this.h.db.prepare('SELECT * FROM auth_tokens WHERE id = ?').get(id) as Row | undefined;
    else row = (await this.h.pool.query<Row>(`SELECT * FROM ${this.h.schema}.auth_tokens WHERE id = $1`, [id])).rows[0];
    return row ? { record: toRecord(row), secretHash: row.secret_hash } : null;
  }

  async list(opts: { includeRevoked?: boolean; team?: string | null } = {}): Promise<TokenRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (!opts.includeRevoked) where.push('revoked_at IS NULL');
    if (opts.team != null) {
      args.push(opts.team);
      where.push(this.h.dialect === 'sqlite' ? 'team = ?' : `team = $${args.length}`);
    }
    const tail = `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
    let rows: Row[];
    if (this.h.dialect === 'sqlite') rows = this.h.db.prepare(`SELECT * FROM auth_tokens${tail}`).all(...args) as Row[];
    else rows = (await this.h.pool.query<Row>(`SELECT * FROM ${this.h.schema}.auth_tokens${tail}`, args)).rows;
    return rows.map(toRecord);
  }

  /** Marks a token revoked (the row stays for the audit trail). False when unknown or already revoked. */
  async revoke(id: string): Promise<boolean> {
    const now = this.now();
    if (this.h.dialect === 'sqlite') {
      const { db } = this.h;
      return this.h.write(() => db.prepare('UPDATE auth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes > 0);
    }
    const r = await this.h.pool.query(`UPDATE ${this.h.schema}.auth_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, [now, id]);
    return (r.rowCount ?? 0) > 0;
  }

  async touch(id: string, at: number): Promise<void> {
    if (this.h.dialect === 'sqlite') {
      const { db } = this.h;
      this.h.write(() => db.prepare('UPDATE auth_tokens SET last_used_at = ? WHERE id = ?').run(at, id));
    } else {
      await this.h.pool.query(`UPDATE ${this.h.schema}.auth_tokens SET last_used_at = $1 WHERE id = $2`, [at, id]);
    }
  }

  /** Whether a usable (unrevoked, unexpired) admin token without a team exists. */
  async hasActiveAdmin(): Promise<boolean> {
    const now = this.now();
    return (await this.list()).some((t) => t.role === 'admin' && t.team === null && (t.expiresAt === null || t.expiresAt > now));
  }
}
