// A queue's policy (built-in defaults < the handler's @job(...) options < the `jobs:` section) and
// the check of @job(...) options. No zod here: agent workers load this file to describe a class
// (src/agents/describe.ts), and zod costs an idle worker about 1.5 MB (issue 10). The `jobs:`
// section's schema is in ./config.ts, on the daemon side.
import { formatDuration, parseDuration } from '../config/units.js';
import { intIn, oneOf, Problems, sdkDuration } from '../util/check.js';
import type { BackoffType } from './types.js';

export interface RateLimit {
  count: number;
  windowMs: number;
}

export interface QueuePolicy {
  concurrency: number;
  keyConcurrency: number | null;
  rateLimit: RateLimit | null;
  keyRateLimit: RateLimit | null;
  maxAttempts: number;
  backoff: { type: BackoffType; delayMs: number; maxMs: number };
  timeoutMs: number | null;
  retentionMs: number;
  leaseMs: number;
}

export const DEFAULT_POLICY: QueuePolicy = {
  concurrency: 10,
  keyConcurrency: null,
  rateLimit: null,
  keyRateLimit: null,
  maxAttempts: 3,
  backoff: { type: 'exponential', delayMs: 1000, maxMs: 300_000 },
  timeoutMs: null,
  retentionMs: 86_400_000,
  leaseMs: 30_000,
};

export const DEFAULT_GLOBAL_CONCURRENCY = 64;

export const BACKOFF_TYPES = ['fixed', 'exponential', 'jitter'] as const;

const UNIT: Record<string, number> = {
  ms: 1, s: 1000, sec: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** { count: 100, windowMs: 60000 } → '100/min'; 5 per 10 s → '5/10s': the form parseRateLimit reads. */
export function formatRateLimit(r: RateLimit): string {
  for (const [ms, unit] of [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'min'], [1000, 's']] as const) {
    if (r.windowMs === ms) return `${r.count}/${unit}`;
  }
  return `${r.count}/${formatDuration(r.windowMs)}`;
}

/** '100/min', '10/s', '5/10s', '1000/hour' → { count, windowMs }. Throws a message saying the form. */
export function parseRateLimit(text: string): RateLimit {
  const m = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$/i.exec(String(text));
  const unit = m ? UNIT[m[3]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) < 1) {
    throw new Error(`rate limit ${JSON.stringify(text)} is not of the form COUNT/PERIOD, e.g. '100/min', '10/s', '5/10s' or '1000/hour'`);
  }
  const windowMs = Math.round((m[2] ? Number(m[2]) : 1) * unit);
  if (windowMs <= 0) throw new Error(`rate limit ${JSON.stringify(text)}: the period must be longer than zero`);
  return { count: Number(m[1]), windowMs };
}

/** Options on @job(...) / static jobs, in SDK spelling (durations: '10s' or milliseconds). */
export interface JobHandlerOptions {
  concurrency?: number;
  keyConcurrency?: number;
  rateLimit?: string;
  keyRateLimit?: string;
  maxAttempts?: number;
  backoff?: { type: BackoffType; delay: string | number; max?: string | number };
  timeout?: string | number;
  retention?: string | number;
  lease?: string | number;
}

/** A queue's `jobs.queues.NAME` section once parsed (config.ts: durations in ms, rates parsed). */
export interface QueueOverrides {
  concurrency?: number | undefined;
  key_concurrency?: number | undefined;
  rate_limit?: RateLimit | undefined;
  key_rate_limit?: RateLimit | undefined;
  max_attempts?: number | undefined;
  backoff?: { type: BackoffType; delay: number; max?: number | undefined } | undefined;
  timeout?: number | undefined;
  retention?: number | undefined;
  lease?: number | undefined;
}

const HANDLER_KEYS = ['concurrency', 'keyConcurrency', 'rateLimit', 'keyRateLimit', 'maxAttempts', 'backoff', 'timeout', 'retention', 'lease'] as const;
const BACKOFF_KEYS = ['type', 'delay', 'max'] as const;

function rateLimit(v: unknown): string | null {
  if (typeof v !== 'string') return `must be a rate such as '100/min' (got ${typeof v})`;
  try {
    parseRateLimit(v);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Problems with handler options, as readable strings ('rateLimit: ...'); empty when valid. */
export function checkHandlerOptions(options: unknown): string[] {
  const p = new Problems();
  if (!p.object('options', options, HANDLER_KEYS, 'an object such as { concurrency: 4 }', '@job options')) return p.list;
  p.optional('', options, 'concurrency', (v) => intIn(v, 1, 10_000));
  p.optional('', options, 'keyConcurrency', (v) => intIn(v, 1, 10_000));
  p.optional('', options, 'rateLimit', rateLimit);
  p.optional('', options, 'keyRateLimit', rateLimit);
  p.optional('', options, 'maxAttempts', (v) => intIn(v, 1, 1000));
  for (const k of ['timeout', 'retention', 'lease'] as const) p.optional('', options, k, sdkDuration);
  const b = options.backoff;
  if (b !== undefined && p.object('backoff', b, BACKOFF_KEYS)) {
    p.add('backoff.type', oneOf(b.type, BACKOFF_TYPES));
    p.add('backoff.delay', b.delay === undefined ? 'is required' : sdkDuration(b.delay));
    p.optional('backoff', b, 'max', sdkDuration);
  }
  if (p.list.length === 0) {
    try {
      resolvePolicy(options as JobHandlerOptions, undefined);
    } catch (err) {
      p.list.push((err as Error).message);
    }
  }
  return p.list;
}

const ms = (v: string | number): number => (typeof v === 'number' ? Math.round(v) : /^\d+(\.\d+)?$/.test(v.trim()) ? Math.round(Number(v)) : parseDuration(v));

/** defaults < handler options < config. Throws on a malformed handler option. */
export function resolvePolicy(handler: JobHandlerOptions | undefined, cfg: QueueOverrides | undefined): QueuePolicy {
  const p: QueuePolicy = { ...DEFAULT_POLICY, backoff: { ...DEFAULT_POLICY.backoff } };
  if (handler) {
    if (handler.concurrency !== undefined) p.concurrency = handler.concurrency;
    if (handler.keyConcurrency !== undefined) p.keyConcurrency = handler.keyConcurrency;
    if (handler.rateLimit !== undefined) p.rateLimit = parseRateLimit(handler.rateLimit);
    if (handler.keyRateLimit !== undefined) p.keyRateLimit = parseRateLimit(handler.keyRateLimit);
    if (handler.maxAttempts !== undefined) p.maxAttempts = handler.maxAttempts;
    if (handler.backoff) {
      const delayMs = ms(handler.backoff.delay);
      p.backoff = { type: handler.backoff.type, delayMs, maxMs: handler.backoff.max !== undefined ? ms(handler.backoff.max) : Math.max(delayMs, p.backoff.maxMs) };
    }
    if (handler.timeout !== undefined) p.timeoutMs = ms(handler.timeout);
    if (handler.retention !== undefined) p.retentionMs = ms(handler.retention);
    if (handler.lease !== undefined) p.leaseMs = ms(handler.lease);
  }
  if (cfg) {
    if (cfg.concurrency !== undefined) p.concurrency = cfg.concurrency;
    if (cfg.key_concurrency !== undefined) p.keyConcurrency = cfg.key_concurrency;
    if (cfg.rate_limit !== undefined) p.rateLimit = cfg.rate_limit;
    if (cfg.key_rate_limit !== undefined) p.keyRateLimit = cfg.key_rate_limit;
    if (cfg.max_attempts !== undefined) p.maxAttempts = cfg.max_attempts;
    if (cfg.backoff) p.backoff = { type: cfg.backoff.type, delayMs: cfg.backoff.delay, maxMs: cfg.backoff.max ?? Math.max(cfg.backoff.delay, p.backoff.maxMs) };
    if (cfg.timeout !== undefined) p.timeoutMs = cfg.timeout;
    if (cfg.retention !== undefined) p.retentionMs = cfg.retention;
    if (cfg.lease !== undefined) p.leaseMs = cfg.lease;
  }
  p.leaseMs = Math.max(200, p.leaseMs);
  return p;
}

/** Delay before attempt `attempt + 1` after `attempt` failed (attempt counts from 1). */
export function backoffDelay(b: { type: BackoffType; delayMs: number; maxMs: number }, attempt: number, random: () => number = Math.random): number {
  const n = Math.max(1, attempt);
  switch (b.type) {
    case 'fixed':
      return b.delayMs;
    case 'exponential':
      return Math.min(b.maxMs, b.delayMs * 2 ** (n - 1));
    case 'jitter': {
      // "Full jitter" (AWS architecture blog): uniform in [0, min(max, delay·2^(n-1))].
      const cap = Math.min(b.maxMs, b.delayMs * 2 ** (n - 1));
      return Math.round(random() * cap);
    }
  }
}
