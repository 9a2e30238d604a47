// Option objects of the SDK are checked (issue 14 item 13): an unknown key is an error that names it
// and suggests the closest valid one — `new HttpClient({ retry_delay: 2 })` → "unknown option
// retry_delay; did you mean retryDelay?". Seed 003 writes its examples in Python style
// (`webhook_url`, `api_key`, `retry_delay`), so a snake_case name whose camelCase form is valid is
// always suggested. A silently ignored option is a bug the user finds in production.
import type { z } from 'zod';
import { suggest } from '../config/suggest.js';
import { OpenClawError } from './errors.js';

export class UnknownOptionError extends OpenClawError {
  constructor(message: string) {
    super('unknown_option', message, { status: 400, exitCode: 2 });
  }
}

const camel = (s: string): string => s.replace(/[_-]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The valid option `key` was most likely meant to be, or null. */
export function closestOption(key: string, allowed: readonly string[]): string | null {
  const c = camel(key);
  if (c !== key && allowed.includes(c)) return c;
  return suggest(key, allowed);
}

/** "unknown option retry_delay; did you mean retryDelay?" (or the list of valid options when nothing is close). */
export function unknownOptionMessage(where: string, key: string, allowed: readonly string[]): string {
  const hint = closestOption(key, allowed);
  return `${where}: unknown option ${key}; ${hint ? `did you mean ${hint}?` : `valid options: ${allowed.join(', ')}`}`;
}

/**
 * Throws UnknownOptionError for the first key of `opts` not in `allowed`. `undefined`/`null` pass
 * (no options); a non-object is refused.
 */
export function checkOptions(where: string, opts: unknown, allowed: readonly string[]): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== 'object' || Array.isArray(opts)) throw new UnknownOptionError(`${where}: options must be an object such as { ${allowed[0]}: … } (got ${Array.isArray(opts) ? 'an array' : typeof opts})`);
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) throw new UnknownOptionError(unknownOptionMessage(where, key, allowed));
  }
}

/** The keys of a zod object schema (through optional/default/effects wrappers), for did-you-mean on `unrecognized_keys`. */
export function schemaKeys(schema: z.ZodTypeAny): string[] {
  let s: unknown = schema;
  for (let i = 0; i < 10 && s; i++) {
    const def = (s as { _def?: { typeName?: string; innerType?: unknown; schema?: unknown; shape?: () => Record<string, unknown> } })._def;
    if (!def) break;
    if (def.typeName === 'ZodObject') return Object.keys(def.shape!());
    s = def.innerType ?? def.schema;
  }
  return [];
}
