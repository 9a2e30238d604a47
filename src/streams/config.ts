// The `streams:` section of openclaw.yaml: streams (ingestion, validation, dedupe, DLQ, limits,
// a watched directory) and the windowed queries over each stream.
//
//   streams:
//     logs:
//       owner: ops                        # team tokens of this team may ingest (others may not)
//       schema: { type: object, required: [service, level] }   # JSON Schema (optional)
//       partition_key: service            # field path; windows are keyed by it
//       event_time: { field: ts, format: iso8601 }   # iso8601 | epoch_ms | epoch_s (default: now)
//       event_id: id                      # dedupe field (default event_id)
//       dedupe_window: 10m
//       retention: 7d
//       limits: { max_body: 10mb, high_watermark: 50000, rate: 50000/s, flush_interval: 10ms }
//       files: { dir: ./incoming }        # NDJSON (.ndjson/.jsonl/.json) and CSV (.csv) files, each once
//       windows:
//         errors_per_minute:
//           type: tumbling                # tumbling | hopping (size, slide) | session (gap)
//           size: 1m
//           aggregate: { total: count, errors: { op: count, where: { level: error } }, p: avg(latency_ms), users: approx_distinct(user) }
//           allowed_lateness: 5s          # watermark = max event time − allowed_lateness, per partition
//           grace: 10s                    # a window closes when watermark ≥ end + grace (default 0)
//           idle_timeout: 1m              # an idle partition follows the stream's watermark
//           emit: on_window_close         # or on_update
import { z } from 'zod';
import { parseDuration, parseSize } from '../config/units.js';
import { parseRateLimit, type RateLimit } from '../jobs/config.js';
import { parsedBy } from '../util/zod.js';

export const STREAM_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const NAME_HINT = "letters, digits, '_' and '-', starting with a letter (up to 64)";

const duration = (what: string) => parsedBy(z.union([z.string(), z.number()]), parseDuration, what);
const size = (what: string) => parsedBy(z.union([z.string(), z.number()]), parseSize, what);
const rate = parsedBy(z.string(), parseRateLimit);

const fieldPath = z.string().min(1).max(200).regex(/^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$/, 'a field path: names separated by dots, e.g. service or http.status');

export const AGG_OPS = ['count', 'sum', 'min', 'max', 'avg', 'distinct', 'approx_distinct'] as const;
export type AggOp = (typeof AGG_OPS)[number];

export interface AggSpec {
  op: AggOp;
  /** Field path split on dots; null for count. */
  field: string[] | null;
  /** Equality filter on field paths: the event counts only if every pair matches. */
  where: Array<[string[], unknown]>;
}

const AGG_TEXT = /^\s*(count|sum|min|max|avg|distinct|approx_distinct)\s*(?:\(\s*([^)]*?)\s*\))?\s*$/;
const AGG_HINT = "an aggregation: count, sum(FIELD), min(FIELD), max(FIELD), avg(FIELD), distinct(FIELD), approx_distinct(FIELD), or { op, field, where }";

/** 'sum(latency_ms)' | { op: sum, field: latency_ms, where: { level: error } } → AggSpec. Throws a message. */
export function parseAgg(v: unknown): AggSpec {
  let op: string | undefined;
  let field: string | undefined;
  let where: Record<string, unknown> = {};
  if (typeof v === 'string') {
    const m = AGG_TEXT.exec(v);
    if (!m) throw new Error(`${JSON.stringify(v)} is not ${AGG_HINT}`);
    op = m[1];
    field = m[2] || undefined;
  } else if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => !['op', 'field', 'where'].includes(k));
    if (extra.length) throw new Error(`unknown key(s) ${extra.map((k) => `'${k}'`).join(', ')} in an aggregation; use { op, field, where }`);
    if (typeof o.op !== 'string' || !(AGG_OPS as readonly string[]).includes(o.op)) throw new Error(`op must be one of ${AGG_OPS.join(', ')}; got ${JSON.stringify(o.op)}`);
    op = o.op;
    if (o.field !== undefined && typeof o.field !== 'string') throw new Error('field must be a field path string');
    field = o.field as string | undefined;
    if (o.where !== undefined) {
      if (!o.where || typeof o.where !== 'object' || Array.isArray(o.where)) throw new Error('where must map field paths to the values they must equal, e.g. { level: error }');
      where = o.where as Record<string, unknown>;
    }
  } else {
    throw new Error(`${JSON.stringify(v)} is not ${AGG_HINT}`);
  }
  if (op !== 'count' && !field) throw new Error(`${op} needs a field, e.g. ${op}(latency_ms)`);
  if (field !== undefined && !fieldPath.safeParse(field).success) throw new Error(`${JSON.stringify(field)} is not a field path (names separated by dots)`);
  return { op: op as AggOp, field: field ? field.split('.') : null, where: Object.entries(where).map(([k, val]) => [k.split('.'), val]) };
}

const aggSchema = parsedBy(z.unknown(), parseAgg);

/** A user reducer in config: JavaScript function sources, compiled once in a context without Node APIs. */
const reducerSchema = z
  .object({
    init: z.unknown().optional(),
    step: z.string().min(1, 'step: the source of (acc, event) => acc'),
    merge: z.string().min(1).optional(),
  })
  .strict();

export const WINDOW_TYPES = ['tumbling', 'hopping', 'session'] as const;

export const windowSchema = z
  .object({
    type: z.enum(WINDOW_TYPES),
    size: duration('size').optional(),
    slide: duration('slide').optional(),
    gap: duration('gap').optional(),
    aggregate: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'an output name: letters, digits, _'), aggSchema).optional(),
    reduce: reducerSchema.optional(),
    allowed_lateness: duration('allowed_lateness').optional(),
    grace: duration('grace').optional(),
    idle_timeout: duration('idle_timeout').optional(),
    emit: z.enum(['on_update', 'on_window_close']).optional(),
    /** Results are kept this long after their window ends (default 7d). */
    retention: duration('retention').optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    const need = (k: 'size' | 'slide' | 'gap', why: string) => {
      if (w[k] === undefined || w[k]! <= 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `a ${w.type} window needs ${k} (${why}), e.g. ${k}: 1m` });
    };
    if (w.type === 'tumbling') need('size', 'its length');
    if (w.type === 'hopping') {
      need('size', 'its length');
      need('slide', 'how far each next window starts');
      if (w.size && w.slide && w.slide > w.size) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['slide'], message: 'slide must not exceed size (a hopping window with slide > size skips events)' });
      if (w.size && w.slide && w.size / w.slide > 100) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['slide'], message: 'size/slide is over 100: each event would update more than 100 windows; use a larger slide' });
    }
    if (w.type === 'session') {
      need('gap', 'the inactivity that ends a session');
      if (w.reduce && !w.reduce.merge) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['reduce', 'merge'], message: 'a session window merges sessions: its reducer needs merge, the source of (a, b) => acc' });
    }
    if (!w.aggregate && !w.reduce) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['aggregate'], message: 'say what to compute: aggregate (e.g. { n: count }) or reduce' });
    // KIP-633's lesson: no grace longer than the window by default; an explicit longer one is allowed.
    const len = w.type === 'session' ? w.gap : w.size;
    if (w.grace !== undefined && len !== undefined && w.grace > 100 * len) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['grace'], message: 'grace is over 100× the window: results would be held that long; use a shorter grace' });
  });

const streamSchema = z
  .object({
    description: z.string().optional(),
    owner: z.string().min(1).max(100).optional(),
    schema: z.record(z.unknown()).optional(),
    partition_key: fieldPath.optional(),
    event_time: z
      .union([fieldPath, z.object({ field: fieldPath, format: z.enum(['iso8601', 'epoch_ms', 'epoch_s']).optional() }).strict()])
      .optional(),
    event_id: fieldPath.optional(),
    dedupe_window: duration('dedupe_window').optional(),
    retention: duration('retention').optional(),
    dlq: z.object({ enabled: z.boolean().optional(), retention: duration('dlq.retention').optional() }).strict().optional(),
    limits: z
      .object({
        max_body: size('limits.max_body').optional(),
        high_watermark: z.number().int().min(1).max(10_000_000).optional(),
        rate: rate.optional(),
        flush_interval: duration('limits.flush_interval').optional(),
        max_batch: z.number().int().min(1).max(100_000).optional(),
      })
      .strict()
      .optional(),
    files: z
      .object({ dir: z.string().min(1), format: z.enum(['auto', 'ndjson', 'csv']).optional(), poll_interval: duration('files.poll_interval').optional() })
      .strict()
      .optional(),
    windows: z.record(z.string().regex(STREAM_NAME, `a window name: ${NAME_HINT}`), windowSchema).optional(),
  })
  .strict();

export const streamsSectionSchema = z
  .record(z.string().regex(STREAM_NAME, `a stream name: ${NAME_HINT}`), streamSchema)
  .superRefine((streams, ctx) => {
    const seen = new Map<string, string>();
    for (const [s, cfg] of Object.entries(streams)) {
      for (const w of Object.keys(cfg.windows ?? {})) {
        const prev = seen.get(w);
        if (prev) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [s, 'windows', w], message: `window '${w}' is also declared on stream '${prev}'; window names are global (results are the event window:${w})` });
        seen.set(w, s);
      }
    }
  });

export type StreamsSection = z.infer<typeof streamsSectionSchema>;
export type StreamSection = z.infer<typeof streamSchema>;
export type WindowSection = z.infer<typeof windowSchema>;
