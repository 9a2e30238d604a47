// Secret values never leave the daemon: every log line, error message, state write, event payload,
// metric label and API response passes through one Redactor, which replaces a live secret value
// (current, or a rotated-out one still in its grace period) with `[REDACTED:NAME]`.
//
// Cost: one regular expression over all values, longest first (so a value that contains another
// is replaced whole), rebuilt only when the set of values changes. A string is scanned once, and a
// quick `includes` pre-check is skipped: the alternation is a single linear pass anyway.

import { OpenClawError } from '../util/errors.js';

/** Values shorter than this are not redacted (they would match everywhere); `secrets set` warns. */
export const MIN_REDACT_LENGTH = 6;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Redactor {
  private re: RegExp | null = null;
  private names = new Map<string, string>();
  private key = '';

  /** Replaces the set of values (value → secret name). Cheap when nothing changed. */
  update(values: ReadonlyMap<string, string>): void {
    // A value with quotes, backslashes or control characters appears escaped inside JSON text (API
    // bodies, log files): match that form too.
    const all = new Map(values);
    for (const [v, n] of values) {
      if (v.length < MIN_REDACT_LENGTH) continue;
      // …and the encodings a secret commonly travels in: base64 (standard and URL-safe, at each of
      // the three byte alignments, so `Basic base64(user:secret)` is caught too), URL encoding and hex.
      for (const form of [JSON.stringify(v).slice(1, -1), ...encodedForms(v)]) if (form !== v && form.length >= MIN_REDACT_LENGTH && !all.has(form)) all.set(form, n);
    }
    const usable = [...all.entries()].filter(([v]) => v.length >= MIN_REDACT_LENGTH).sort((a, b) => b[0].length - a[0].length || (a[0] < b[0] ? -1 : 1));
    const key = usable.map(([v, n]) => `${n}\u0000${v}`).join('\u0001');
    if (key === this.key) return;
    this.key = key;
    this.names = new Map(usable);
    this.re = usable.length > 0 ? new RegExp(usable.map(([v]) => escape(v)).join('|'), 'g') : null;
  }

  get active(): boolean {
    return this.re !== null;
  }

  text(s: string): string {
    const re = this.re;
    if (re === null || s.length < MIN_REDACT_LENGTH) return s;
    re.lastIndex = 0;
    if (!re.test(s)) return s;
    re.lastIndex = 0;
    return s.replace(re, (m) => `[REDACTED:${this.names.get(m) ?? 'secret'}]`);
  }

  /**
   * Redacts every string (values and keys) inside a JSON-like value; returns the same object when
   * clean. Below MAX_WALK_DEPTH the value is walked; a subtree nested deeper is redacted as its
   * JSON text (where the JSON-escaped forms match), and one too deep to serialise is refused.
   */
  value<T>(v: T): T {
    if (this.re === null) return v;
    return mapStrings(v, (s) => this.text(s), 0, (deep) => {
      let json: string | undefined;
      try {
        json = JSON.stringify(deep);
      } catch (err) {
        if (err instanceof RangeError) throw new OpenClawError('value_too_deep', `a value nested more than ${MAX_WALK_DEPTH} levels deep is too deep to check for secrets; flatten it`, { status: 400 });
        return deep;
      }
      if (json === undefined) return deep;
      const out = this.text(json);
      return out === json ? deep : JSON.parse(out);
    });
  }
}

/** How deep mapStrings walks before handing a subtree to its `deep` callback. */
export const MAX_WALK_DEPTH = 64;

function encodedForms(v: string): string[] {
  const bytes = Buffer.from(v, 'utf8');
  const out = new Set<string>();
  for (let k = 0; k < 3; k++) {
    // Encoded after k other bytes, the secret's own characters start at the first character
    // holding none of the prefix's bits and end at the last holding only the secret's bits.
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const start = [0, 2, 3][k]!;
    const end = Math.floor(((bytes.length + k) * 8) / 6);
    const core = enc.slice(start, end);
    out.add(core);
    out.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  out.add(bytes.toString('base64'));
  out.add(bytes.toString('base64url'));
  out.add(encodeURIComponent(v));
  out.add(encodeURIComponent(v).replace(/%20/g, '+'));
  out.add(bytes.toString('hex'));
  out.add(bytes.toString('hex').toUpperCase());
  return [...out];
}

/** Applies `fn` to every string in a JSON-like value (object keys too); shares untouched subtrees. */
export function mapStrings<T>(v: T, fn: (s: string) => string, depth = 0, deep?: (v: unknown) => unknown): T {
  if (typeof v === 'string') return fn(v) as T;
  if (v === null || typeof v !== 'object') return v;
  if (depth > MAX_WALK_DEPTH) return (deep ? deep(v) : v) as T;
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    v.forEach((item, i) => {
      const r = mapStrings(item, fn, depth + 1, deep);
      if (r !== item) (out ??= v.slice())[i] = r;
    });
    return (out ?? v) as T;
  }
  if (v instanceof Error) {
    const e = new Error(fn(v.message));
    e.name = v.name;
    e.stack = v.stack === undefined ? undefined : fn(v.stack);
    return e as T;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
    const k2 = fn(k);
    const r = mapStrings(item, fn, depth + 1, deep);
    if (k2 !== k || r !== item) changed = true;
    out[k2] = r;
  }
  return (changed ? out : v) as T;
}

/** Async variant for expansion: `fn` is called on strings that need it. */
export async function mapStringsAsync<T>(v: T, fn: (s: string) => Promise<string>, depth = 0): Promise<T> {
  if (typeof v === 'string') return (await fn(v)) as T;
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return (await Promise.all(v.map((x) => mapStringsAsync(x, fn, depth + 1)))) as T;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, item] of Object.entries(v as Record<string, unknown>)) out[k] = await mapStringsAsync(item, fn, depth + 1);
  return out as T;
}

const SECRET_REF = '${secret:';

/** Expands `${secret:NAME}` in every string of a JSON-like value; values without a reference are returned as they are. */
export async function expandSecrets<T>(value: T, expand: (text: string) => Promise<string>): Promise<T> {
  if (!JSON.stringify(value ?? null).includes(SECRET_REF)) return value;
  return mapStringsAsync(value, (s) => (s.includes(SECRET_REF) ? expand(s) : Promise.resolve(s)));
}
