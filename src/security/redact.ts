// Secret values never leave the daemon: every log line, error message, state write, event payload,
// metric label and API response passes through one Redactor, which replaces a live secret value
// (current, or a rotated-out one still in its grace period) with `[REDACTED:NAME]`.
//
// Cost: one regular expression over all values, longest first (so a value that contains another
// is replaced whole), rebuilt only when the set of values changes. A string is scanned once, and a
// quick `includes` pre-check is skipped: the alternation is a single linear pass anyway.

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
      const json = JSON.stringify(v).slice(1, -1);
      if (json !== v && !all.has(json)) all.set(json, n);
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

  /** Redacts every string (values and keys) inside a JSON-like value; returns the same object when clean. */
  value<T>(v: T): T {
    if (this.re === null) return v;
    return mapStrings(v, (s) => this.text(s));
  }
}

/** Applies `fn` to every string in a JSON-like value (object keys too); shares untouched subtrees. */
export function mapStrings<T>(v: T, fn: (s: string) => string, depth = 0): T {
  if (typeof v === 'string') return fn(v) as T;
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    v.forEach((item, i) => {
      const r = mapStrings(item, fn, depth + 1);
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
    const r = mapStrings(item, fn, depth + 1);
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
