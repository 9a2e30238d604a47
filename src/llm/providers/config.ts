// One entry of `llm.providers` (seed 003 §10): api_key, base_url, models, rate_limit, plus type,
// timeout and headers. The `llm:` section schema (src/llm/config.ts) uses providersSchema, which
// also fills `type` from the entry name (openai, anthropic, ollama) and reports a missing one.
//
//   providers:
//     openai:    { api_key: ${OPENAI_API_KEY}, models: [gpt-4o, gpt-4o-mini], rate_limit: 500/min }
//     anthropic: { api_key: "${secret:ANTHROPIC_KEY}", models: [claude-3.5-sonnet], timeout: 60s }
//     ollama:    { base_url: http://ollama:11434, models: [llama-3.1-70b] }
//     vllm:      { type: openai-compatible, base_url: http://gpu:8000/v1, models: [qwen2.5-72b] }
//
// api_key is a literal (the loader has expanded ${ENV}) or contains ${secret:NAME}, which the LLM
// daemon module expands at start. Adapters never read the environment.
import { z } from 'zod';
import { parseDuration } from '../../config/units.js';

export { priceOverridesSchema, priceOverrideSchema, type PriceOverrides } from '../prices.js';

export const PROVIDER_TYPES = ['openai', 'anthropic', 'ollama', 'openai-compatible', 'echo'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export const DEFAULT_BASE_URLS: Record<Exclude<ProviderType, 'openai-compatible' | 'echo'>, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
};

export interface ProviderTimeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** Request sent → response headers / first streamed byte. */
  firstByteMs: number;
  /** Streaming: longest silence between two chunks. */
  idleMs: number;
  /** Non-streaming: the whole call. */
  totalMs: number;
}

export const DEFAULT_TIMEOUTS: ProviderTimeouts = { connectMs: 10_000, firstByteMs: 60_000, idleMs: 60_000, totalMs: 600_000 };

const UNIT_MS: Record<string, number> = { s: 1000, sec: 1000, second: 1000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000, d: 86_400_000, day: 86_400_000 };

export interface RateLimit {
  /** Requests allowed per window. */
  requests: number;
  windowMs: number;
}

/** "500/min", "10/s", "1000/hour", "20000/day" → { requests, windowMs }. */
export function parseRateLimit(input: string | number): RateLimit {
  const m = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/i.exec(String(input));
  const unit = m ? UNIT_MS[m[2]!.toLowerCase().replace(/s$/, '')] ?? UNIT_MS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0) {
    throw new Error(`invalid rate limit ${JSON.stringify(input)}: write requests per unit, e.g. 500/min, 10/s, 1000/hour or 20000/day`);
  }
  return { requests: Number(m[1]), windowMs: unit };
}

function durationMs(label: string) {
  return z.union([z.string(), z.number()], { errorMap: () => ({ message: `${label} must be a duration such as 30s, 2m or 500ms` }) }).transform((v, ctx) => {
    try {
      const ms = parseDuration(v);
      if (ms <= 0) throw new Error(`${label} must be greater than zero`);
      return ms;
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
      return z.NEVER;
    }
  });
}

const timeoutSchema = z.union([
  durationMs('timeout').transform((ms): Partial<ProviderTimeouts> => ({ firstByteMs: ms, idleMs: ms, totalMs: ms })),
  z
    .object({
      connect: durationMs('timeout.connect').optional(),
      first_byte: durationMs('timeout.first_byte').optional(),
      idle: durationMs('timeout.idle').optional(),
      total: durationMs('timeout.total').optional(),
    })
    .strict()
    .transform((o): Partial<ProviderTimeouts> => {
      const out: Partial<ProviderTimeouts> = {};
      if (o.connect !== undefined) out.connectMs = o.connect;
      if (o.first_byte !== undefined) out.firstByteMs = o.first_byte;
      if (o.idle !== undefined) out.idleMs = o.idle;
      if (o.total !== undefined) out.totalMs = o.total;
      return out;
    }),
]);

export const providerConfigSchema = z
  .object({
    type: z.enum(PROVIDER_TYPES, { errorMap: () => ({ message: `must be one of ${PROVIDER_TYPES.join(', ')}` }) }).optional(),
    api_key: z.string().optional(),
    base_url: z
      .string()
      .url('must be a URL such as http://ollama:11434 or https://api.openai.com/v1')
      .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL')
      .optional(),
    models: z.array(z.string().min(1)).default([]),
    rate_limit: z
      .union([z.string(), z.number()])
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        try {
          return parseRateLimit(v);
        } catch (err) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
          return z.NEVER;
        }
      }),
    /** A duration (first byte, idle and whole call) or { connect, first_byte, idle, total }. */
    timeout: timeoutSchema.optional().transform((t): ProviderTimeouts => ({ ...DEFAULT_TIMEOUTS, ...(t ?? {}) })),
    headers: z.record(z.string(), z.string()).default({}),
    /** Runs locally: models it serves that have no price cost 0 (default true for ollama). */
    local: z.boolean().optional(),
  })
  .strict();

export type ProviderConfigInput = z.input<typeof providerConfigSchema>;
export type ProviderConfigParsed = z.output<typeof providerConfigSchema>;
/** A provider entry with its type resolved. */
export type ProviderConfig = Omit<ProviderConfigParsed, 'type'> & { type: ProviderType };

/** The type for an entry: explicit `type`, else the entry name when it is openai / anthropic / ollama / echo. */
export function providerTypeOf(name: string, cfg: { type?: ProviderType }): ProviderType | undefined {
  if (cfg.type) return cfg.type;
  return name === 'openai' || name === 'anthropic' || name === 'ollama' || name === 'echo' ? name : undefined;
}

/** `llm.providers`: entries keyed by name, type resolved, openai-compatible entries need base_url. */
export const providersSchema = z.record(z.string(), providerConfigSchema).transform((rec, ctx) => {
  const out: Record<string, ProviderConfig> = {};
  for (const [name, cfg] of Object.entries(rec)) {
    const type = providerTypeOf(name, cfg);
    if (!type) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [name, 'type'],
        message: `provider '${name}' needs a type: one of ${PROVIDER_TYPES.join(', ')} (only entries named openai, anthropic, ollama or echo get it from their name)`,
      });
      continue;
    }
    if (type === 'openai-compatible' && !cfg.base_url) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name, 'base_url'], message: `provider '${name}' is openai-compatible and needs base_url, e.g. http://vllm:8000/v1` });
      continue;
    }
    // The built-in echo provider serves the model `echo` unless told otherwise.
    out[name] = { ...cfg, type, models: type === 'echo' && cfg.models.length === 0 ? ['echo'] : cfg.models };
  }
  return out;
});

/** Parse one entry outside a config file (tests, SDK-built routers). */
export function parseProviderConfig(name: string, raw: ProviderConfigInput): ProviderConfig {
  const parsed = providersSchema.parse({ [name]: raw });
  return parsed[name]!;
}
