// What a commit does to each namespace's state, computed the same way for both dialects. The SQL
// layers fetch the rows a plan needs, call these pure functions inside their transaction, and write
// the result; so "one version per namespace, history grows by changed keys only, sizes are JSON
// byte lengths" is decided in one place.
import { BadRequestError, StateSizeError } from '../util/errors.js';
import type { StateWrite } from './types.js';

/** One key's final write in a commit; `json` null means delete. */
export interface KeyWrite {
  key: string;
  json: string | null;
  /** Byte length of `json` (0 for a delete): what size accounting and max_state_size count. */
  size: number;
  expiresAt: number | null;
}

export interface NamespaceRow {
  version: number;
  sizeBytes: number;
  keyCount: number;
}

export interface NamespacePlan {
  namespace: string;
  version: number;
  upserts: KeyWrite[];
  deletes: string[];
  changedKeys: string[];
  sizeBytes: number;
  keyCount: number;
}

/** Groups writes by namespace, last write per key wins, values serialised once. Map order = first write order. */
export function groupWrites(writes: readonly StateWrite[]): Map<string, Map<string, KeyWrite>> {
  const byNamespace = new Map<string, Map<string, KeyWrite>>();
  for (const w of writes) {
    if (typeof w.namespace !== 'string' || w.namespace === '') throw new BadRequestError('a state write needs a namespace', 'state_write_invalid');
    if (typeof w.key !== 'string' || w.key === '') throw new BadRequestError(`a state write in '${w.namespace}' needs a non-empty key`, 'state_write_invalid');
    let keys = byNamespace.get(w.namespace);
    if (!keys) byNamespace.set(w.namespace, (keys = new Map()));
    const json = w.deleted ? null : serialise(w.namespace, w.key, w.value);
    // delete then re-add keeps Map order = order of the last write, which changedKeys reports
    keys.delete(w.key);
    keys.set(w.key, { key: w.key, json, size: json === null ? 0 : Buffer.byteLength(json), expiresAt: json === null ? null : (w.expiresAt ?? null) });
  }
  return byNamespace;
}

function serialise(namespace: string, key: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new BadRequestError(`state value for '${key}' in '${namespace}' is not JSON-serialisable (${(err as Error).message}); store plain data`, 'state_value_invalid');
  }
  if (json === undefined) {
    throw new BadRequestError(`state value for '${key}' in '${namespace}' is undefined or a function; use a delete to remove a key`, 'state_value_invalid');
  }
  return json;
}

/**
 * Turns one namespace's writes into the rows to write. `existingSizes` holds the current stored size
 * of every written key that exists (expired or not). Deleting an absent key is not a change; a
 * namespace with no change gets no new version (returns null).
 * Throws StateSizeError when the commit grows the namespace past `limit`; a commit that shrinks an
 * already oversized namespace is allowed, so cleanup is always possible after a limit is lowered.
 */
export function planNamespace(
  namespace: string,
  row: NamespaceRow,
  writes: Map<string, KeyWrite>,
  existingSizes: Map<string, number>,
  limit: number | undefined,
): NamespacePlan | null {
  const upserts: KeyWrite[] = [];
  const deletes: string[] = [];
  const changedKeys: string[] = [];
  let sizeBytes = row.sizeBytes;
  let keyCount = row.keyCount;
  for (const w of writes.values()) {
    const old = existingSizes.get(w.key);
    if (w.json === null) {
      if (old === undefined) continue;
      deletes.push(w.key);
      sizeBytes -= old;
      keyCount -= 1;
    } else {
      upserts.push(w);
      sizeBytes += w.size - (old ?? 0);
      if (old === undefined) keyCount += 1;
    }
    changedKeys.push(w.key);
  }
  if (changedKeys.length === 0) return null;
  if (limit !== undefined && sizeBytes > limit && sizeBytes > row.sizeBytes) throw new StateSizeError(namespace, sizeBytes, limit);
  return { namespace, version: row.version + 1, upserts, deletes, changedKeys, sizeBytes, keyCount };
}

export interface StoredKey {
  key: string;
  json: string;
  expiresAt: number | null;
}

/** The writes that turn `current` into `target`: only keys whose value or expiry differ. */
export function diffToTarget(current: readonly StoredKey[], target: readonly StoredKey[]): Map<string, KeyWrite> {
  const writes = new Map<string, KeyWrite>();
  const targetByKey = new Map(target.map((t) => [t.key, t]));
  for (const c of current) {
    if (!targetByKey.has(c.key)) writes.set(c.key, { key: c.key, json: null, size: 0, expiresAt: null });
  }
  const currentByKey = new Map(current.map((c) => [c.key, c]));
  for (const t of target) {
    const c = currentByKey.get(t.key);
    // JSON text equality is exact here: both sides are the text we stored, never re-serialised
    if (c && c.json === t.json && c.expiresAt === t.expiresAt) continue;
    writes.set(t.key, { key: t.key, json: t.json, size: Buffer.byteLength(t.json), expiresAt: t.expiresAt });
  }
  return writes;
}

/** The key version a reader sees: expired keys read as absent (0), as getState reports them. */
export function visibleVersion(row: { version: number; expires_at: number | null } | undefined, now: number): number {
  if (!row) return 0;
  return row.expires_at !== null && row.expires_at <= now ? 0 : row.version;
}

/**
 * Exclusive upper bound for keys starting with `prefix`, in code point order (SQLite's BINARY
 * collation and PostgreSQL's "C" collation on UTF-8 both compare that way), or null when there is none.
 * A range keeps prefix listing on the primary key index instead of LIKE with escaping.
 */
export function prefixUpperBound(prefix: string): string | null {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const last = cps.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1; // skip the surrogate range
      return cps.join('') + String.fromCodePoint(next);
    }
  }
  return null;
}

export function checkVersionArg(namespace: string, version: number, current: number): void {
  if (!Number.isInteger(version) || version < 0 || version > current) {
    throw new BadRequestError(`version ${version} of '${namespace}' does not exist; its versions are 0..${current}`, 'state_version_invalid');
  }
}
