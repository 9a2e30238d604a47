// Dashboard sessions, kept in the store (table ui_sessions, StoreModule 'ui' migration 3) so a
// session survives a daemon restart and works on every daemon of a fleet sharing one PostgreSQL.
//
// What a row holds, and what it does not:
// - `id_hash`: SHA-256 of the session id. The id itself lives only in the browser's cookie, so a
//   copy of the database (a backup, a read replica) signs nobody in.
// - `token_id`: the API token the session stands for — its id, never its secret. Every request is
//   authorized as that token afresh (src/security/auth/authorizer.ts: `req.sessionToken`), so a
//   revoked or expired token ends its sessions at once, on every daemon.
// - no CSRF secret: the CSRF token is HMAC-SHA256 keyed by the session id (`csrfOf`), derived
//   again on each request; nothing in the row yields it, and every daemon derives the same one.
// Idle expiry (`last_seen_at` + idleMs) and an absolute lifetime (`expires_at`); `last_seen_at`
// is written at most once per `touchMs` (one UPDATE a minute, not one per request: the UPDATE's
// own WHERE makes that hold across daemons too); at most `perToken` live sessions per token (the
// oldest go first); logout deletes the row.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { SqlRunner, num, q } from '../../llm/sql.js';
import type { StoreHandle } from '../../store/extension.js';

export interface Session {
  /** The API token the session stands for (its id). */
  tokenId: string;
  principal: string;
  /** What a state-changing request must send in x-csrf-token. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface SessionLimits {
  /** A session unused this long ends (default 12 h). */
  idleMs: number;
  /** A session ends this long after sign-in, used or not (default 7 days). */
  maxAgeMs: number;
  /** At most this many live sessions per API token (default 20); signing in again drops the oldest. */
  perToken: number;
  /** last_seen_at is written at most this often (default 60 s). */
  touchMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 12 * 3_600_000, maxAgeMs: 7 * 86_400_000, perToken: 20, touchMs: 60_000 };

const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex');

/** The session's CSRF token: an HMAC keyed by the session id (which only the browser's cookie holds). */
export function csrfOf(id: string): string {
  return createHmac('sha256', id).update('openclaw-ui-csrf').digest('base64url');
}

export class SessionStore {
  private readonly sql: SqlRunner;
  readonly limits: SessionLimits;

  constructor(
    h: StoreHandle,
    private readonly now: () => number,
    limits: Partial<SessionLimits> = {},
  ) {
    this.sql = new SqlRunner(h);
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
  }

  /** A new session for an API token; returns the session id (the cookie's value) once. */
  async create(tokenId: string, principal: string): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = now + this.limits.maxAgeMs;
    const { idleMs, perToken } = this.limits;
    await this.sql.tx(function* () {
      // Expired sessions of any token go on each sign-in: the table holds live sessions only (about).
      yield* q(`DELETE FROM {p}ui_sessions WHERE expires_at <= ? OR last_seen_at <= ?`, now, now - idleMs);
      yield* q(`INSERT INTO {p}ui_sessions (id_hash, token_id, principal, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`, hashOf(id), tokenId, principal, now, now, expiresAt);
      yield* q(
        `DELETE FROM {p}ui_sessions WHERE token_id = ? AND id_hash NOT IN
           (SELECT id_hash FROM {p}ui_sessions WHERE token_id = ? ORDER BY created_at DESC, id_hash LIMIT ?)`,
        tokenId, tokenId, perToken,
      );
    });
    return { id, session: { tokenId, principal, csrf: csrfOf(id), createdAt: now, expiresAt } };
  }

  /** The live session of a cookie value, or undefined (unknown, idle too long, past its lifetime). */
  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || id.length > 200) return undefined;
    const key = hashOf(id);
    const row = (await this.sql.all(`SELECT token_id, principal, created_at, last_seen_at, expires_at FROM {p}ui_sessions WHERE id_hash = ?`, key))[0];
    if (!row) return undefined;
    const now = this.now();
    const lastSeen = num(row.last_seen_at);
    const expiresAt = num(row.expires_at);
    if (now >= expiresAt || now - lastSeen >= this.limits.idleMs) {
      await this.delete(id);
      return undefined;
    }
    const touchBefore = now - this.limits.touchMs;
    if (lastSeen <= touchBefore) {
      await this.sql.tx(function* () {
        yield* q(`UPDATE {p}ui_sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at <= ?`, now, key, touchBefore);
      });
    }
    return { tokenId: String(row.token_id), principal: String(row.principal), csrf: csrfOf(id), createdAt: num(row.created_at), expiresAt };
  }

  /** Sign-out: the row goes, on every daemon at once. */
  async delete(id: string | undefined): Promise<void> {
    if (!id || id.length > 200) return;
    const key = hashOf(id);
    await this.sql.tx(function* () {
      yield* q(`DELETE FROM {p}ui_sessions WHERE id_hash = ?`, key);
    });
  }

  /** Live sessions (tests, metrics). */
  async count(tokenId?: string): Promise<number> {
    const rows = tokenId === undefined ? await this.sql.all(`SELECT COUNT(*) AS n FROM {p}ui_sessions`) : await this.sql.all(`SELECT COUNT(*) AS n FROM {p}ui_sessions WHERE token_id = ?`, tokenId);
    return num(rows[0]?.n);
  }
}
