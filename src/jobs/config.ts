// The `jobs:` section of openclaw.yaml and the per-queue policy a queue runs with.
//
//   jobs:
//     concurrency: 32            # jobs at once in this daemon, over all queues
//     queues:
//       resize-image:
//         concurrency: 4         # active jobs of this queue (across daemons sharing a store)
//         key_concurrency: 1     # active jobs per concurrency key
//         rate_limit: 100/min    # starts per window, for the queue
//         key_rate_limit: 10/s   # starts per window, per concurrency key
//         max_attempts: 5
//         backoff: { type: exponential, delay: 1s, max: 5m }
//         timeout: 30s           # per attempt
//         retention: 1d          # completed jobs are deleted after this
//         lease: 30s             # a claim's lease; renewed by a heartbeat every lease/3
//
// A queue's policy is: built-in defaults < the handler's @job(...) options < this section.
// Config wins, so operators can retune a queue without touching code.
import { schemaKeys, unknownOptionMessage } from '../util/options.js';
import { z } from 'zod';
import { formatDuration, parseDuration } from '../config/units.js';
import type { BackoffType } from './types.js';
import { parsedBy } from '../util/zod.js';

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

const duration = (what: string) => parsedBy(z.union([z.string(), z.number()]), parseDuration, what);
const rate = parsedBy(z.string(), parseRateLimit);

const queueSchema = z
  .object({
    concurrency: z.number().int().min(1).max(10_000).optional(),
    key_concurrency: z.number().int().min(1).max(10_000).optional(),
    rate_limit: rate.optional(),
    key_rate_limit: rate.optional(),
    max_attempts: z.number().int().min(1).max(1000).optional(),
    backoff: z
      .object({ type: z.enum(['fixed', 'exponential', 'jitter']), delay: duration('backoff.delay'), max: duration('backoff.max').optional() })
      .strict()
      .optional(),
    timeout: duration('timeout').optional(),
    retention: duration('retention').optional(),
    lease: duration('lease').optional(),
  })
  .strict();

export const jobsSectionSchema = z
  .object({
    concurrency: z.number().int().min(1).max(100_000).optional(),
    queues: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'a queue name: letters, digits, . _ : -'), queueSchema).optional(),
    /** Completed jobs are swept this often (default 1m). */
    sweep_interval: duration('sweep_interval').optional(),
  })
  .strict();

export type JobsSection = z.infer<typeof jobsSectionSchema>;
export type QueueSection = z.infer<typeof queueSchema>;

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

const sdkDuration = z.union([z.string().min(1), z.number().nonnegative().finite()]);
const sdkRate = z.string().superRefine((v, ctx) => {
  try {
    parseRateLimit(v);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

/** Validates @job(...) / static jobs options (the class is described before anything runs). */
export const jobHandlerOptionsSchema = z
  .object({
    concurrency: z.number().int().min(1).max(10_000).optional(),
    keyConcurrency: z.number().int().min(1).max(10_000).optional(),
    rateLimit: sdkRate.optional(),
    keyRateLimit: sdkRate.optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    backoff: z.object({ type: z.enum(['fixed', 'exponential', 'jitter']), delay: sdkDuration, max: sdkDuration.optional() }).strict().optional(),
    timeout: sdkDuration.optional(),
    retention: sdkDuration.optional(),
    lease: sdkDuration.optional(),
  })
  .strict();

/** Problems with handler options, as readable strings ('rateLimit: ...'); empty when valid. */
export function checkHandlerOptions(options: unknown): string[] {
  const r = jobHandlerOptionsSchema.safeParse(options);
  const problems = r.success
    ? []
    : r.error.issues.map((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => unknownOptionMessage(i.path.join('.') || '@job options', k, i.path.length ? ['type', 'delay', 'max'] : schemaKeys(jobHandlerOptionsSchema))).join('; ')
          : `${i.path.join('.') || 'options'}: ${i.message}`,
      );
  if (r.success) {
    try {
      resolvePolicy(r.data as JobHandlerOptions, undefined);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

const ms = (v: string | number): number => (typeof v === 'number' ? Math.round(v) : /^\d+(\.\d+)?$/.test(v.trim()) ? Math.round(Number(v)) : parseDuration(v));

/** defaults < handler options < config. Throws on a malformed handler option. */
export function resolvePolicy(handler: JobHandlerOptions | undefined, cfg: QueueSection | undefined): QueuePolicy {
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
