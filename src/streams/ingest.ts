// Getting events in: parse a body (JSON array or NDJSON, gzip) or a CSV file, validate each line
// against its stream (object, JSON Schema, event time, partition key, event id), and append through
// the Ingester, which group-commits what many requests buffered and enforces the backpressure
// contract (a bounded buffer per stream and an optional rate; past either → 429, never unbounded
// buffering or held connections).
import { gunzipSync } from 'node:zlib';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Clock } from '../scheduler/types.js';
import { OpenClawError } from '../util/errors.js';
import type { RateLimit } from '../jobs/config.js';
import { pathGet } from './aggregates.js';
import type { StreamSection } from './config.js';
import type { AppendResult, DlqRow, FilePosition, PreparedEvent, StreamStore } from './store.js';

export interface StreamDef {
  name: string;
  owner: string | null;
  validate: ValidateFunction | null;
  key: string[] | null;
  time: { field: string[]; format: 'iso8601' | 'epoch_ms' | 'epoch_s' | 'auto' } | null;
  id: string[];
  dedupeMs: number;
  retentionMs: number;
  dlq: boolean;
  dlqRetentionMs: number;
  maxBody: number;
  highWatermark: number;
  rate: RateLimit | null;
  flushMs: number;
  maxBatch: number;
}

export const STREAM_DEFAULTS = {
  dedupeMs: 600_000,
  retentionMs: 7 * 86_400_000,
  maxBody: 10 * 1024 * 1024,
  highWatermark: 100_000,
  flushMs: 10,
  maxBatch: 10_000,
};

export function streamDef(name: string, s: StreamSection, ajv: Ajv): StreamDef {
  let validate: ValidateFunction | null = null;
  if (s.schema) {
    try {
      validate = ajv.compile(s.schema);
    } catch (err) {
      throw new OpenClawError('config_invalid', `streams.${name}.schema is not a valid JSON Schema: ${(err as Error).message}`, { exitCode: 78 });
    }
  }
  const t = s.event_time;
  return {
    name,
    owner: s.owner ?? null,
    validate,
    key: s.partition_key ? s.partition_key.split('.') : null,
    time: t === undefined ? null : typeof t === 'string' ? { field: t.split('.'), format: 'auto' } : { field: t.field.split('.'), format: t.format ?? 'auto' },
    id: (s.event_id ?? 'event_id').split('.'),
    dedupeMs: s.dedupe_window ?? STREAM_DEFAULTS.dedupeMs,
    retentionMs: s.retention ?? STREAM_DEFAULTS.retentionMs,
    dlq: s.dlq?.enabled ?? true,
    dlqRetentionMs: s.dlq?.retention ?? s.retention ?? STREAM_DEFAULTS.retentionMs,
    maxBody: s.limits?.max_body ?? STREAM_DEFAULTS.maxBody,
    highWatermark: s.limits?.high_watermark ?? STREAM_DEFAULTS.highWatermark,
    rate: s.limits?.rate ?? null,
    flushMs: s.limits?.flush_interval ?? STREAM_DEFAULTS.flushMs,
    maxBatch: s.limits?.max_batch ?? STREAM_DEFAULTS.maxBatch,
  };
}

export const newAjv = (): Ajv => new Ajv({ allErrors: false, strict: false });

// ---- parsing ------------------------------------------------------------------------------------

/** One input line: its number (1-based), the parsed value, or why it could not be parsed. */
export interface Line {
  line: number;
  raw: string;
  value?: unknown;
  error?: string;
}

/** Gunzips within a bound: a body that inflates past `max` is refused as too large (413). */
export function inflate(body: Buffer, encoding: string | undefined, max: number): Buffer {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return body;
  if (enc !== 'gzip' && enc !== 'x-gzip') throw new OpenClawError('unsupported_encoding', `Content-Encoding '${encoding}' is not supported; send gzip or no encoding`, { status: 415 });
  try {
    return gunzipSync(body, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw tooLarge(max);
    throw new OpenClawError('invalid_gzip', `the body is not valid gzip: ${(err as Error).message}`, { status: 400 });
  }
}

export const tooLarge = (max: number) =>
  new OpenClawError('payload_too_large', `the body is larger than this stream's limit of ${max} bytes (uncompressed); nothing was committed — split it into smaller requests or raise streams.NAME.limits.max_body`, { status: 413 });

/** A JSON array (when the text starts with '[') or NDJSON (one value per non-empty line). */
export function parseLines(text: string): Line[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(trimmed);
    } catch (err) {
      throw new OpenClawError('invalid_json', `the body starts with '[' but is not a JSON array: ${(err as Error).message}; send a JSON array or NDJSON (one event per line)`, { status: 400 });
    }
    if (!Array.isArray(arr)) throw new OpenClawError('invalid_json', 'the body is not a JSON array', { status: 400 });
    return arr.map((value, i) => ({ line: i + 1, raw: '', value }));
  }
  const out: Line[] = [];
  let n = 0;
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = text.length;
    n++;
    const raw = text.charCodeAt(end - 1) === 13 ? text.slice(pos, end - 1) : text.slice(pos, end);
    pos = end + 1;
    if (raw.trim() === '') continue;
    try {
      out.push({ line: n, raw, value: JSON.parse(raw) });
    } catch (err) {
      out.push({ line: n, raw, error: `not JSON: ${(err as Error).message}` });
    }
  }
  return out;
}

/** RFC 4180 fields of one CSV line (quotes, doubled quotes, commas inside quotes). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** A CSV row as an object under the header's names; numeric-looking cells become numbers. */
export function csvRow(header: string[], line: string): Record<string, unknown> {
  const cells = csvFields(line);
  const o: Record<string, unknown> = {};
  header.forEach((h, i) => {
    const v = cells[i] ?? '';
    o[h] = v !== '' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v) ? Number(v) : v;
  });
  return o;
}

// ---- validation ---------------------------------------------------------------------------------

export interface Checked {
  events: PreparedEvent[];
  dlq: DlqRow[];
  errors: Array<{ line: number; reason: string }>;
}

function eventTime(def: StreamDef, v: unknown, now: number): number | string {
  if (!def.time) return now;
  const raw = pathGet(v, def.time.field);
  const f = def.time.format;
  const field = def.time.field.join('.');
  if (raw === undefined || raw === null) return `missing event time field '${field}'`;
  if (f === 'epoch_ms' || f === 'epoch_s' || (f === 'auto' && typeof raw === 'number')) {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isFinite(n)) return `event time '${field}' is not a number (${f})`;
    return Math.round(f === 'epoch_s' ? n * 1000 : n);
  }
  const t = typeof raw === 'string' ? Date.parse(raw) : NaN;
  if (!Number.isFinite(t)) return `event time '${field}' is not an ISO 8601 time: ${JSON.stringify(raw).slice(0, 80)}`;
  return t;
}

/** Splits lines into events to append and dead letters with their reasons. */
export function checkLines(def: StreamDef, lines: Line[], source: string, now: number): Checked {
  const out: Checked = { events: [], dlq: [], errors: [] };
  const bad = (l: Line, reason: string) => {
    out.errors.push({ line: l.line, reason });
    out.dlq.push({ line: l.line, reason, raw: l.raw || safeJson(l.value), source });
  };
  for (const l of lines) {
    if (l.error !== undefined) {
      bad(l, l.error);
      continue;
    }
    const v = l.value;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      bad(l, 'an event must be a JSON object');
      continue;
    }
    if (def.validate && !def.validate(v)) {
      const e = def.validate.errors?.[0];
      bad(l, `schema: ${e ? `${e.instancePath || '(event)'} ${e.message ?? 'is invalid'}` : 'does not match'}`);
      continue;
    }
    const t = eventTime(def, v, now);
    if (typeof t === 'string') {
      bad(l, t);
      continue;
    }
    let key = '';
    if (def.key) {
      const k = pathGet(v, def.key);
      if (k === undefined || k === null || typeof k === 'object') {
        bad(l, `missing partition key field '${def.key.join('.')}' (a string or number)`);
        continue;
      }
      key = String(k);
    }
    const id = pathGet(v, def.id);
    out.events.push({ time: t, key, id: typeof id === 'string' || typeof id === 'number' ? String(id) : null, payload: l.raw && l.raw.length > 0 ? l.raw : JSON.stringify(v) });
  }
  return out;
}

const safeJson = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

// ---- the ingester: group commit + backpressure --------------------------------------------------

interface Pending {
  stream: string;
  events: PreparedEvent[];
  dlq: DlqRow[];
  dedupeMs: number;
  file?: FilePosition;
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

export interface IngesterHooks {
  committed(stream: string, r: AppendResult, rejected: number): void;
  failed(stream: string, n: number, err: Error): void;
}

/** Token bucket per stream: capacity = the rate's count, refilled continuously over its window. */
class Bucket {
  tokens: number;
  at: number;
  constructor(readonly rate: RateLimit, now: number) {
    this.tokens = rate.count;
    this.at = now;
  }
  refill(now: number): void {
    this.tokens = Math.min(this.rate.count, this.tokens + ((now - this.at) * this.rate.count) / this.rate.windowMs);
    this.at = now;
  }
  /** ms until `n` tokens are there. */
  waitFor(n: number): number {
    return Math.ceil(((Math.min(n, this.rate.count) - this.tokens) * this.rate.windowMs) / this.rate.count);
  }
}

export interface Admission {
  ok: boolean;
  headers: Record<string, string>;
  reason?: string;
}

/** A failed append is retried for this long (backoff RETRY_FIRST_MS doubling to RETRY_MAX_MS). */
const RETRY_FOR_MS = 30_000;
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;

export class Ingester {
  private queue: Pending[] = [];
  private buffered = new Map<string, number>();
  private timer: (() => void) | null = null;
  private flushing: Promise<void> | null = null;
  private readonly buckets = new Map<string, Bucket>();
  private closing = false;

  constructor(
    private readonly store: StreamStore,
    private readonly clock: Clock,
    private readonly defs: Map<string, StreamDef>,
    private readonly hooks: IngesterHooks,
  ) {}

  /** Events buffered or committing for a stream (the backpressure measure). */
  depth(stream: string): number {
    return this.buffered.get(stream) ?? 0;
  }

  /**
   * May `n` events of `stream` come in now? Checks the high watermark and the rate; takes the
   * tokens when admitted. The headers go on every answer (X-RateLimit-*, and Retry-After on a 429).
   */
  admit(stream: string, n: number): Admission {
    const def = this.defs.get(stream)!;
    const headers: Record<string, string> = {};
    const now = this.clock.now();
    const depth = this.depth(stream);
    const bucket = def.rate ? this.bucket(stream, def.rate, now) : null;
    if (bucket) {
      headers['x-ratelimit-limit'] = String(def.rate!.count);
      headers['x-ratelimit-reset'] = String(Math.max(0, Math.ceil(((def.rate!.count - bucket.tokens) * def.rate!.windowMs) / def.rate!.count / 1000)));
    }
    if (depth + n > def.highWatermark && depth > 0) {
      if (bucket) headers['x-ratelimit-remaining'] = String(Math.floor(bucket.tokens));
      // The buffer drains at the commit rate: a flush interval or two frees it; say 1 s, the unit of Retry-After.
      headers['retry-after'] = '1';
      return { ok: false, headers, reason: `stream '${stream}' has ${depth} events waiting to commit (high watermark ${def.highWatermark}); retry after the Retry-After delay` };
    }
    if (bucket) {
      const need = Math.min(n, def.rate!.count);
      if (bucket.tokens < need) {
        headers['x-ratelimit-remaining'] = String(Math.floor(bucket.tokens));
        headers['retry-after'] = String(Math.max(1, Math.ceil(bucket.waitFor(need) / 1000)));
        return { ok: false, headers, reason: `stream '${stream}' is over its rate of ${def.rate!.count} events per ${def.rate!.windowMs} ms; retry after the Retry-After delay` };
      }
      bucket.tokens -= need;
      headers['x-ratelimit-remaining'] = String(Math.floor(bucket.tokens));
    }
    return { ok: true, headers };
  }

  private bucket(stream: string, rate: RateLimit, now: number): Bucket {
    let b = this.buckets.get(stream);
    if (!b) this.buckets.set(stream, (b = new Bucket(rate, now)));
    b.refill(now);
    return b;
  }

  /** Buffers an append; resolves once it is durable (one transaction with the others of its flush). */
  append(stream: string, events: PreparedEvent[], dlq: DlqRow[], file?: FilePosition): Promise<AppendResult> {
    const def = this.defs.get(stream)!;
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ stream, events, dlq: def.dlq ? dlq : [], dedupeMs: def.dedupeMs, ...(file ? { file } : {}), resolve, reject });
      this.buffered.set(stream, this.depth(stream) + events.length);
      const queued = this.queue.reduce((n, p) => n + p.events.length, 0);
      if (queued >= def.maxBatch) this.kick();
      else if (!this.timer) this.timer = this.clock.setTimer(() => this.kick(), def.flushMs);
    });
  }

  private kick(): void {
    if (this.timer) {
      this.timer();
      this.timer = null;
    }
    if (this.flushing) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      if (await this.commit(batch)) continue;
      // The batch failed as a whole. A 202 already told its producers "accepted", so nothing is
      // given up at the first error: each request is retried alone (one bad request cannot take its
      // batch-mates down), with backoff while the store is unavailable, until RETRY_FOR_MS has passed
      // (or the daemon is stopping). Meanwhile the buffer stays counted, so producers get 429s.
      for (const p of batch) {
        const deadline = this.clock.now() + RETRY_FOR_MS;
        let delay = RETRY_FIRST_MS;
        while (!(await this.commit([p], this.closing || this.clock.now() >= deadline))) {
          await new Promise<void>((r) => this.clock.setTimer(r, delay));
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        }
      }
    }
  }

  /** One transaction for `batch`; true when it committed or (`final`) when its requests were failed. */
  private async commit(batch: Pending[], final = batch.length === 1 && this.closing): Promise<boolean> {
    try {
      const res = await this.store.appendMany(batch, this.clock.now());
      batch.forEach((p, i) => {
        this.release(p);
        this.hooks.committed(p.stream, res[i]!, p.dlq.length);
        p.resolve(res[i]!);
      });
      return true;
    } catch (err) {
      if (!final) return false;
      for (const p of batch) {
        this.release(p);
        this.hooks.failed(p.stream, p.events.length, err as Error);
        p.reject(err);
      }
      return true;
    }
  }

  private release(p: Pending): void {
    this.buffered.set(p.stream, Math.max(0, this.depth(p.stream) - p.events.length));
  }

  /** Commits what is buffered (shutdown): a failing request gets one more try, not the retry window. */
  async drain(): Promise<void> {
    this.closing = true;
    if (this.queue.length > 0) this.kick();
    while (this.flushing) await this.flushing;
  }
}
