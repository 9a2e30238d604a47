// Token format and hashing. A token is `oc_<id>_<secret>`: the id (12 hex chars) is public and
// finds the row; the secret is 256 random bits (base64url), stored only as its SHA-256. A
// high-entropy secret needs no slow hash (nothing to brute-force), and comparison is constant-time.
// Command agents get `oca_<id>_<secret>` tokens that live only in the daemon's memory.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_ID_RE = /^[0-9a-f]{12}$/;
const TOKEN_RE = /^(oca?)_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface ParsedToken {
  kind: 'api' | 'agent';
  id: string;
  secret: string;
}

export function newTokenId(): string {
  return randomBytes(6).toString('hex');
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function formatToken(kind: 'api' | 'agent', id: string, secret: string): string {
  return `${kind === 'api' ? 'oc' : 'oca'}_${id}_${secret}`;
}

export function parseToken(token: string): ParsedToken | null {
  const m = TOKEN_RE.exec(token.trim());
  if (!m) return null;
  return { kind: m[1] === 'oc' ? 'api' : 'agent', id: m[2]!, secret: m[3]! };
}

/** Hex SHA-256 of the secret. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of the secret's hash with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 365 * 86_400_000 };

/** "30d", "12h", "1y" → milliseconds; null when malformed. */
export function parseExpiry(s: string): number | null {
  const m = /^(\d+)\s*(m|h|d|w|y)$/.exec(s.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms > 0 ? ms : null;
}
