// The audit chain: hash = SHA-256(prev_hash || canonical JSON of the record's fields). Canonical
// JSON sorts object keys at every level, so the same record always hashes the same, whatever order
// its detail was built in or how a database stored it.
import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const keys = Object.keys(v as Record<string, unknown>)
    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

export interface ChainedFields {
  seq: number;
  time: number;
  actor: string;
  action: string;
  target: string | null;
  detail: Record<string, unknown>;
}

export function recordHash(prevHash: string, r: ChainedFields): string {
  return createHash('sha256')
    .update(prevHash)
    .update(canonicalJson({ seq: r.seq, time: r.time, actor: r.actor, action: r.action, target: r.target, detail: r.detail }))
    .digest('hex');
}
