// Hand-written checks for the option objects an agent passes at run time (this.jobs.enqueue,
// @job(...) options). They run inside every agent worker, which must not load zod: zod and the
// schemas built from it cost a worker about 1.5 MB of heap for checks an idle agent never makes
// (issue 10, memory per idle agent). Each check returns the problem as text, or null, so a caller
// collects every problem of an object and names each one by its path, as the zod schemas did.
import { unknownOptionMessage } from './options.js';

/** How a value reads in a message: 'a string', 'a list', 'null', … */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  const t = typeof v;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'nothing' : `a ${t}`;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** An integer in [min, max]. */
export function intIn(v: unknown, min: number, max: number): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `must be a whole number (got ${typeof v === 'number' ? v : kindOf(v)})`;
  if (v < min || v > max) return `must be between ${min} and ${max} (got ${v})`;
  return null;
}

/** A string of minLength..maxLength characters. */
export function stringOf(v: unknown, minLength: number, maxLength = Infinity): string | null {
  if (typeof v !== 'string') return `must be a string (got ${kindOf(v)})`;
  if (v.length < minLength) return minLength === 1 ? 'must not be empty' : `must hold at least ${minLength} characters`;
  if (v.length > maxLength) return `must hold at most ${maxLength} characters (got ${v.length})`;
  return null;
}

/** One of `values`. */
export function oneOf(v: unknown, values: readonly string[]): string | null {
  return typeof v === 'string' && values.includes(v) ? null : `must be one of ${values.join(', ')} (got ${typeof v === 'string' ? JSON.stringify(v) : kindOf(v)})`;
}

/** An SDK duration: a non-empty string with units ('10s') or milliseconds (a finite number ≥ 0). */
export function sdkDuration(v: unknown): string | null {
  if (typeof v === 'string') return v.length > 0 ? null : 'must not be empty';
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? null : `must be zero or more milliseconds (got ${v})`;
  return `must be a duration such as '10s' or a number of milliseconds (got ${kindOf(v)})`;
}

/**
 * Collects the problems of one object: `at` names it in messages ('job.opts'); a key outside
 * `keys` is an unknown option with a did-you-mean. A key whose value is undefined counts as absent.
 */
export class Problems {
  readonly list: string[] = [];

  /** False (and a problem recorded) when `v` is not an object; checks its keys otherwise. */
  object(at: string, v: unknown, keys: readonly string[], what = 'an object', unknownAt = at): v is Record<string, unknown> {
    if (!isPlainObject(v)) {
      this.list.push(`${at}: must be ${what} (got ${kindOf(v)})`);
      return false;
    }
    for (const k of Object.keys(v)) if (!keys.includes(k)) this.list.push(unknownOptionMessage(unknownAt, k, keys));
    return true;
  }

  /** Records `problem` at `at.key` unless it is null. */
  add(at: string, problem: string | null): void {
    if (problem !== null) this.list.push(`${at}: ${problem}`);
  }

  /** Runs `check` on obj[key] when present (named `at.key`, or `key` when `at` is empty). */
  optional(at: string, obj: Record<string, unknown>, key: string, check: (v: unknown) => string | null): void {
    if (obj[key] !== undefined) this.add(at ? `${at}.${key}` : key, check(obj[key]));
  }
}
