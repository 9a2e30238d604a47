// Schemas shared by several route files: agent names, limits, state versions, log levels, times.
import { z } from 'zod';
import type { LogLine } from '../runtime/protocol.js';

export const agentParams = z.object({
  name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "agent names are letters, digits, '.', '_' and '-'"),
});

/** A whole number in a query string, within bounds. */
export function queryInt(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

export const limitQuery = z.object({ limit: queryInt(1, 10_000).optional() });

/** 140, "140" or "v140" → 140. */
export function parseVersion(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v === 'string') {
    const m = /^v?(\d+)$/i.exec(v.trim());
    if (m) {
      const n = Number(m[1]);
      return Number.isSafeInteger(n) ? n : null;
    }
  }
  return null;
}

export const stateVersion = z.unknown().transform((v, ctx) => {
  if (v === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.invalid_type, expected: 'number', received: 'undefined' });
    return z.NEVER;
  }
  const n = parseVersion(v);
  if (n === null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a state version like 140 or "v140", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
});

const LEVELS = ['debug', 'info', 'warning', 'error'] as const;
const LEVEL_RANK: Record<LogLine['level'], number> = { debug: 10, info: 20, warning: 30, error: 40 };

/** Minimum level; `warn` is accepted for `warning`. */
export const logLevel = z
  .string()
  .transform((s, ctx) => {
    const l = s.toLowerCase() === 'warn' ? 'warning' : s.toLowerCase();
    if (!(LEVELS as readonly string[]).includes(l)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected one of debug, info, warn, warning, error; got '${s}'` });
      return z.NEVER;
    }
    return l as LogLine['level'];
  });

export function levelAtLeast(level: LogLine['level'], min: LogLine['level'] | undefined): boolean {
  return min === undefined || LEVEL_RANK[level] >= LEVEL_RANK[min];
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "10m", "2h", "1d" → milliseconds; null when it is not a duration. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(s.trim());
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]!]!) : null;
}

/**
 * A point in time: epoch milliseconds, an ISO-8601 date, or a duration back from `now` ("10m").
 * Returns epoch milliseconds.
 */
export function sinceQuery(now: () => number) {
  return z.string().transform((s, ctx) => {
    if (/^\d+$/.test(s)) return Number(s);
    const d = parseDuration(s);
    if (d !== null) return now() - d;
    const t = Date.parse(s);
    if (/^\d{4}-\d{2}-\d{2}/.test(s) && !Number.isNaN(t)) return t;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a duration like 10m, an ISO date or epoch milliseconds; got '${s}'` });
    return z.NEVER;
  });
}
