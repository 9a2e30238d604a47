// Validation and normalisation of an enqueue (SDK, API, CLI): one place, so every entry point
// accepts and refuses the same things with the same messages. Durations in the SDK and the API are
// strings ('10s', '5m') or numbers of MILLISECONDS (in openclaw.yaml a bare number means seconds,
// as everywhere in the config).
import { schemaKeys, unknownOptionMessage } from '../util/options.js';
import { z } from 'zod';
import { parseDuration } from '../config/units.js';
import { BadRequestError } from '../util/errors.js';
import type { BackoffType, EnqueueOptions, EnqueueRequest, IdempotencyMode } from './types.js';
import { uuidv7 } from '../util/ids.js';

export const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const duration = z.union([z.string().min(1), z.number().nonnegative().finite()]);

export const backoffSchema = z
  .object({ type: z.enum(['fixed', 'exponential', 'jitter']), delay: duration, max: duration.optional() })
  .strict();

export const enqueueOptionsSchema = z
  .object({
    priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    delay: duration.optional(),
    runAt: z.union([z.number().finite(), z.string().min(1), z.date()]).optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    backoff: backoffSchema.optional(),
    timeout: duration.optional(),
    key: z.string().min(1).max(512).optional(),
    mode: z.enum(['dedupe', 'replace', 'debounce']).optional(),
    concurrencyKey: z.string().min(1).max(256).optional(),
    id: z.string().min(1).max(200).optional(),
  })
  .strict();

export const enqueueRequestSchema = z
  .object({ name: z.string().regex(QUEUE_NAME, 'a queue name: letters, digits, . _ : - (up to 128)'), payload: z.unknown().optional(), opts: enqueueOptionsSchema.optional() })
  .strict();

/** A validated enqueue; times are relative until the commit fixes them (runAt ?? now + delayMs). */
export interface NormalizedEnqueue {
  id: string;
  queue: string;
  payload: unknown;
  priority: number;
  delayMs: number;
  runAt: number | null;
  maxAttempts: number | null;
  backoff: { type: BackoffType; delayMs: number; maxMs: number } | null;
  timeoutMs: number | null;
  key: string | null;
  mode: IdempotencyMode | null;
  concurrencyKey: string | null;
  /** W3C traceparent of the span that enqueued it (tracing on): the handler's run continues that trace. */
  traceparent?: string | null;
}

/** Milliseconds from an SDK/API duration: a number is milliseconds, a string has units. */
export function durationMs(v: string | number, what: string): number {
  if (typeof v === 'number') return Math.round(v);
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s));
  try {
    return parseDuration(s);
  } catch (err) {
    throw new BadRequestError(`${what}: ${(err as Error).message}`, 'invalid_job');
  }
}

function when(v: number | string | Date): number {
  const t = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(t)) throw new BadRequestError(`runAt ${JSON.stringify(v)} is not a time: give epoch milliseconds or an ISO-8601 string`, 'invalid_job');
  return t;
}

/** The keys valid where an enqueue has an unknown one: the request, its opts, or opts.backoff. */
function keysAt(path: Array<string | number>): string[] {
  const last = path[path.length - 1];
  return schemaKeys(last === 'backoff' ? backoffSchema : last === 'opts' ? enqueueOptionsSchema : enqueueRequestSchema);
}

function describeZod(err: z.ZodError, where: string): string {
  return err.issues
    .map((i) => {
      const at = `${where}${i.path.length ? '.' + i.path.join('.') : ''}`;
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => unknownOptionMessage(at, k, keysAt(i.path))).join('; ');
      return `${at}: ${i.message}`;
    })
    .join('; ');
}

export function normalizeBackoff(b: z.infer<typeof backoffSchema>): { type: BackoffType; delayMs: number; maxMs: number } {
  const delayMs = durationMs(b.delay, 'backoff.delay');
  const maxMs = b.max !== undefined ? durationMs(b.max, 'backoff.max') : Math.max(delayMs, 3_600_000);
  return { type: b.type, delayMs, maxMs };
}

/** Validates one enqueue; throws BadRequestError (code invalid_job) naming the field. */
export function normalizeEnqueue(req: EnqueueRequest | unknown, where = 'enqueue'): NormalizedEnqueue {
  const parsed = enqueueRequestSchema.safeParse(req);
  if (!parsed.success) throw new BadRequestError(`${where}: ${describeZod(parsed.error, 'job')}`, 'invalid_job');
  const { name, payload, opts = {} as EnqueueOptions } = parsed.data;
  let cloned: unknown;
  try {
    cloned = payload === undefined ? null : JSON.parse(JSON.stringify(payload));
  } catch (err) {
    throw new BadRequestError(`${where} '${name}': the payload must be JSON-serialisable (${(err as Error).message})`, 'invalid_job');
  }
  if (opts.mode && !opts.key) throw new BadRequestError(`${where} '${name}': mode '${opts.mode}' needs a key (the idempotency key)`, 'invalid_job');
  return {
    // Time-ordered: the jobs table's primary key takes appends, not random inserts (util/ids.ts).
    id: opts.id ?? uuidv7(),
    queue: name,
    payload: cloned ?? null,
    priority: opts.priority ?? 0,
    delayMs: opts.delay !== undefined ? durationMs(opts.delay, 'delay') : 0,
    runAt: opts.runAt !== undefined ? when(opts.runAt) : null,
    maxAttempts: opts.maxAttempts ?? null,
    backoff: opts.backoff ? normalizeBackoff(opts.backoff) : null,
    timeoutMs: opts.timeout !== undefined ? durationMs(opts.timeout, 'timeout') : null,
    key: opts.key ?? null,
    mode: opts.key ? (opts.mode ?? 'dedupe') : null,
    concurrencyKey: opts.concurrencyKey ?? null,
  };
}
