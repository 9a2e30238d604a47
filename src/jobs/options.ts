// Validation and normalisation of an enqueue (SDK, API, CLI): one place, so every entry point
// accepts and refuses the same things with the same messages. Durations in the SDK and the API are
// strings ('10s', '5m') or numbers of MILLISECONDS (in openclaw.yaml a bare number means seconds,
// as everywhere in the config).
//
// No zod: this runs in every agent worker (this.jobs.enqueue checks at the call site, synchronously,
// so an enqueue the agent does not await is still part of the run), and zod costs an idle worker
// about 1.5 MB (issue 10). The API's body schema (routes.ts) describes the same shape for the
// request check and the OpenAPI document; this check is the one every entry point goes through.
import { parseDuration } from '../config/units.js';
import { BadRequestError } from '../util/errors.js';
import { intIn, kindOf, oneOf, Problems, sdkDuration, stringOf } from '../util/check.js';
import type { BackoffType, EnqueueOptions, IdempotencyMode } from './types.js';
import { uuidv7 } from '../util/ids.js';

export const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const ENQUEUE_KEYS = ['name', 'payload', 'opts'] as const;
export const ENQUEUE_OPTION_KEYS = ['priority', 'delay', 'runAt', 'maxAttempts', 'backoff', 'timeout', 'key', 'mode', 'concurrencyKey', 'id'] as const;
export const BACKOFF_KEYS = ['type', 'delay', 'max'] as const;
export const IDEMPOTENCY_MODES = ['dedupe', 'replace', 'debounce'] as const;
const BACKOFF_TYPES = ['fixed', 'exponential', 'jitter'] as const;

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

function runAt(v: unknown): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : `must be a finite number (got ${v})`;
  if (typeof v === 'string') return v.length > 0 ? null : 'must not be empty';
  return v instanceof Date ? null : `must be epoch milliseconds, an ISO-8601 string or a Date (got ${kindOf(v)})`;
}

/** Every problem of one enqueue request, named by path from `job` ('job.opts.priority: …'). */
function enqueueProblems(req: unknown): string[] {
  const p = new Problems();
  if (!p.object('job', req, ENQUEUE_KEYS, 'an object { name, payload, opts }')) return p.list;
  const name = req.name;
  if (name === undefined) p.add('job.name', 'is required');
  else p.add('job.name', typeof name !== 'string' ? `must be a string (got ${kindOf(name)})` : QUEUE_NAME.test(name) ? null : 'a queue name: letters, digits, . _ : - (up to 128)');
  const o = req.opts;
  if (o === undefined || !p.object('job.opts', o, ENQUEUE_OPTION_KEYS)) return p.list;
  p.optional('job.opts', o, 'priority', (v) => intIn(v, -1_000_000, 1_000_000));
  p.optional('job.opts', o, 'delay', sdkDuration);
  p.optional('job.opts', o, 'runAt', runAt);
  p.optional('job.opts', o, 'maxAttempts', (v) => intIn(v, 1, 1000));
  p.optional('job.opts', o, 'timeout', sdkDuration);
  p.optional('job.opts', o, 'key', (v) => stringOf(v, 1, 512));
  p.optional('job.opts', o, 'mode', (v) => oneOf(v, IDEMPOTENCY_MODES));
  p.optional('job.opts', o, 'concurrencyKey', (v) => stringOf(v, 1, 256));
  p.optional('job.opts', o, 'id', (v) => stringOf(v, 1, 200));
  const b = o.backoff;
  if (b !== undefined && p.object('job.opts.backoff', b, BACKOFF_KEYS)) {
    p.add('job.opts.backoff.type', oneOf(b.type, BACKOFF_TYPES));
    p.add('job.opts.backoff.delay', b.delay === undefined ? 'is required' : sdkDuration(b.delay));
    p.optional('job.opts.backoff', b, 'max', sdkDuration);
  }
  return p.list;
}

export function normalizeBackoff(b: { type: BackoffType; delay: string | number; max?: string | number | undefined }): { type: BackoffType; delayMs: number; maxMs: number } {
  const delayMs = durationMs(b.delay, 'backoff.delay');
  const maxMs = b.max !== undefined ? durationMs(b.max, 'backoff.max') : Math.max(delayMs, 3_600_000);
  return { type: b.type, delayMs, maxMs };
}

/** Validates one enqueue; throws BadRequestError (code invalid_job) naming the field. */
export function normalizeEnqueue(req: unknown, where = 'enqueue'): NormalizedEnqueue {
  const problems = enqueueProblems(req);
  if (problems.length > 0) throw new BadRequestError(`${where}: ${problems.join('; ')}`, 'invalid_job');
  const { name, payload, opts = {} } = req as { name: string; payload?: unknown; opts?: EnqueueOptions };
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
