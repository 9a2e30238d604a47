// The shipped price table: USD per million tokens (input, output, cached input), context windows and
// output caps for common OpenAI, Anthropic and local models, with aliases from the names users write
// in openclaw.yaml ("claude-3.5-sonnet") to wire ids ("claude-3-5-sonnet-latest"). It is a TS module:
// nothing is fetched, ever. `llm.prices` in config is merged over it (a new model, or a changed
// price). Unknown models are unpriced, not free: costOf / worstCaseCost throw UnpricedModelError so a
// budget never treats an unknown model as $0 (local models are listed with price 0 on purpose).
import { z } from 'zod';
import { OpenClawError } from '../util/errors.js';
import type { Usage } from './types.js';

/** As of 2025-06 list prices (USD per 1M tokens). Override in config when they change. */
export const PRICES_AS_OF = '2025-06';

export interface ModelInfo {
  /** The canonical name in this table ("claude-3.5-sonnet"). */
  name: string;
  /** What is sent on the wire ("claude-3-5-sonnet-latest"). */
  wireId: string;
  /** Which provider type serves it by default. */
  provider: 'openai' | 'anthropic' | 'ollama' | 'echo';
  /** USD per 1M input tokens. */
  input: number;
  /** USD per 1M output tokens. */
  output: number;
  /** USD per 1M cached input tokens (prompt-cache reads); defaults to the input price. */
  cachedInput: number;
  contextWindow: number;
  maxOutput: number;
  /** The tokenizer encoding when one ships in js-tiktoken; otherwise counts are estimates. */
  encoding?: 'o200k_base' | 'cl100k_base';
  /** 'embedding' models have no output price. */
  mode: 'chat' | 'embedding';
  /** Other names that resolve to this entry. */
  aliases: string[];
}

type Entry = Omit<ModelInfo, 'name' | 'cachedInput' | 'aliases' | 'mode'> & { cachedInput?: number; aliases?: string[]; mode?: 'chat' | 'embedding' };

const M = 1_000_000;

const TABLE: Record<string, Entry> = {
  // OpenAI
  'gpt-4o': { wireId: 'gpt-4o', provider: 'openai', input: 2.5, output: 10, cachedInput: 1.25, contextWindow: 128_000, maxOutput: 16_384, encoding: 'o200k_base', aliases: ['chatgpt-4o-latest'] },
  'gpt-4o-mini': { wireId: 'gpt-4o-mini', provider: 'openai', input: 0.15, output: 0.6, cachedInput: 0.075, contextWindow: 128_000, maxOutput: 16_384, encoding: 'o200k_base' },
  'gpt-4.1': { wireId: 'gpt-4.1', provider: 'openai', input: 2, output: 8, cachedInput: 0.5, contextWindow: 1_047_576, maxOutput: 32_768, encoding: 'o200k_base' },
  'gpt-4.1-mini': { wireId: 'gpt-4.1-mini', provider: 'openai', input: 0.4, output: 1.6, cachedInput: 0.1, contextWindow: 1_047_576, maxOutput: 32_768, encoding: 'o200k_base' },
  'gpt-4.1-nano': { wireId: 'gpt-4.1-nano', provider: 'openai', input: 0.1, output: 0.4, cachedInput: 0.025, contextWindow: 1_047_576, maxOutput: 32_768, encoding: 'o200k_base' },
  o3: { wireId: 'o3', provider: 'openai', input: 2, output: 8, cachedInput: 0.5, contextWindow: 200_000, maxOutput: 100_000, encoding: 'o200k_base' },
  'o4-mini': { wireId: 'o4-mini', provider: 'openai', input: 1.1, output: 4.4, cachedInput: 0.275, contextWindow: 200_000, maxOutput: 100_000, encoding: 'o200k_base' },
  'o3-mini': { wireId: 'o3-mini', provider: 'openai', input: 1.1, output: 4.4, cachedInput: 0.55, contextWindow: 200_000, maxOutput: 100_000, encoding: 'o200k_base' },
  'gpt-4-turbo': { wireId: 'gpt-4-turbo', provider: 'openai', input: 10, output: 30, contextWindow: 128_000, maxOutput: 4_096, encoding: 'cl100k_base' },
  'gpt-4': { wireId: 'gpt-4', provider: 'openai', input: 30, output: 60, contextWindow: 8_192, maxOutput: 8_192, encoding: 'cl100k_base' },
  'gpt-3.5-turbo': { wireId: 'gpt-3.5-turbo', provider: 'openai', input: 0.5, output: 1.5, contextWindow: 16_385, maxOutput: 4_096, encoding: 'cl100k_base' },
  'text-embedding-3-small': { wireId: 'text-embedding-3-small', provider: 'openai', input: 0.02, output: 0, contextWindow: 8_191, maxOutput: 0, encoding: 'cl100k_base', mode: 'embedding' },
  'text-embedding-3-large': { wireId: 'text-embedding-3-large', provider: 'openai', input: 0.13, output: 0, contextWindow: 8_191, maxOutput: 0, encoding: 'cl100k_base', mode: 'embedding' },
  // Anthropic (cachedInput = cache read price; cache writes are billed at input × 1.25 and not modelled)
  'claude-opus-4': { wireId: 'claude-opus-4-20250514', provider: 'anthropic', input: 15, output: 75, cachedInput: 1.5, contextWindow: 200_000, maxOutput: 32_000, aliases: ['claude-opus-4-0'] },
  'claude-sonnet-4': { wireId: 'claude-sonnet-4-20250514', provider: 'anthropic', input: 3, output: 15, cachedInput: 0.3, contextWindow: 200_000, maxOutput: 64_000, aliases: ['claude-sonnet-4-0'] },
  'claude-3.7-sonnet': { wireId: 'claude-3-7-sonnet-latest', provider: 'anthropic', input: 3, output: 15, cachedInput: 0.3, contextWindow: 200_000, maxOutput: 64_000, aliases: ['claude-3-7-sonnet'] },
  'claude-3.5-sonnet': { wireId: 'claude-3-5-sonnet-latest', provider: 'anthropic', input: 3, output: 15, cachedInput: 0.3, contextWindow: 200_000, maxOutput: 8_192, aliases: ['claude-3-5-sonnet'] },
  'claude-3.5-haiku': { wireId: 'claude-3-5-haiku-latest', provider: 'anthropic', input: 0.8, output: 4, cachedInput: 0.08, contextWindow: 200_000, maxOutput: 8_192, aliases: ['claude-3-5-haiku'] },
  'claude-3-haiku': { wireId: 'claude-3-haiku-20240307', provider: 'anthropic', input: 0.25, output: 1.25, cachedInput: 0.03, contextWindow: 200_000, maxOutput: 4_096 },
  'claude-3-opus': { wireId: 'claude-3-opus-latest', provider: 'anthropic', input: 15, output: 75, cachedInput: 1.5, contextWindow: 200_000, maxOutput: 4_096 },
  // The built-in echo provider (src/llm/providers/echo.ts): free, offline.
  echo: { wireId: 'echo', provider: 'echo', input: 0, output: 0, contextWindow: 1_000_000, maxOutput: 100_000 },
  // Local models (Ollama tags): no per-token cost.
  'llama-3.1-70b': { wireId: 'llama3.1:70b', provider: 'ollama', input: 0, output: 0, contextWindow: 131_072, maxOutput: 8_192, aliases: ['llama3.1-70b'] },
  'llama-3.1-8b': { wireId: 'llama3.1:8b', provider: 'ollama', input: 0, output: 0, contextWindow: 131_072, maxOutput: 8_192, aliases: ['llama3.1', 'llama3.1:latest', 'llama3.1-8b'] },
  'mistral-7b': { wireId: 'mistral:7b', provider: 'ollama', input: 0, output: 0, contextWindow: 32_768, maxOutput: 8_192, aliases: ['mistral', 'mistral:latest'] },
  'nomic-embed-text': { wireId: 'nomic-embed-text', provider: 'ollama', input: 0, output: 0, contextWindow: 8_192, maxOutput: 0, mode: 'embedding' },
};

/** One `llm.prices` entry: USD per million tokens, all optional over an existing model. */
export const priceOverrideSchema = z
  .object({
    input: z.number().nonnegative('must not be negative').optional(),
    output: z.number().nonnegative('must not be negative').optional(),
    cached_input: z.number().nonnegative('must not be negative').optional(),
    context_window: z.number().int().positive().optional(),
    max_output: z.number().int().nonnegative().optional(),
    /** The id sent to the provider, when it differs from the key. */
    wire_id: z.string().min(1).optional(),
    provider: z.enum(['openai', 'anthropic', 'ollama']).optional(),
  })
  .strict();

/** `llm.prices`: model name → override, or `0` for a free model. A model not in the shipped table needs input and output. */
export const priceOverridesSchema = z.record(
  z.string().min(1),
  z.preprocess((v) => (v === 0 ? { input: 0, output: 0 } : v), priceOverrideSchema),
).superRefine((rec, ctx) => {
  for (const [model, o] of Object.entries(rec)) {
    if (lookup(BASE, model) === undefined && (o.input === undefined || o.output === undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [model],
        message: `'${model}' is not in the shipped price table, so it needs both input and output (USD per million tokens), e.g. { input: 0.5, output: 1.5 }`,
      });
    }
  }
});

export type PriceOverrides = z.output<typeof priceOverridesSchema>;

/** The model has no price: refusing is safer than budgeting it as free. */
export class UnpricedModelError extends OpenClawError {
  constructor(model: string) {
    super(
      'llm_model_unpriced',
      `model '${model}' has no price in the shipped table; add it under llm.prices in openclaw.yaml, e.g. llm.prices.${JSON.stringify(model)}: { input: 0.5, output: 1.5 } (USD per million tokens; 0 for a free local model)`,
      { status: 400 },
    );
  }
}

function build(entries: Record<string, Entry>): Map<string, ModelInfo> {
  const byName = new Map<string, ModelInfo>();
  for (const [name, e] of Object.entries(entries)) {
    const info: ModelInfo = { ...e, name, cachedInput: e.cachedInput ?? e.input, aliases: e.aliases ?? [], mode: e.mode ?? 'chat' };
    byName.set(name, info);
  }
  const index = new Map<string, ModelInfo>(byName);
  for (const info of byName.values()) {
    for (const alias of [info.wireId, ...info.aliases]) if (!index.has(alias)) index.set(alias, info);
  }
  return index;
}

const BASE = build(TABLE);
const DATE_SUFFIX = /^-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

function lookup(index: Map<string, ModelInfo>, model: string): ModelInfo | undefined {
  const direct = index.get(model);
  if (direct) return direct;
  // "openai/gpt-4o" (OpenRouter style) → "gpt-4o"
  const slash = model.lastIndexOf('/');
  if (slash >= 0) return lookup(index, model.slice(slash + 1));
  // Dated snapshots: "gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022" → the longest known prefix.
  let best: ModelInfo | undefined;
  let bestLen = 0;
  for (const [key, info] of index) {
    if (key.length > bestLen && model.startsWith(key) && DATE_SUFFIX.test(model.slice(key.length))) {
      best = info;
      bestLen = key.length;
    }
  }
  return best;
}

/** The shipped table with config overrides merged over it. */
export class PriceTable {
  private readonly index: Map<string, ModelInfo>;

  constructor(overrides: PriceOverrides = {}) {
    if (Object.keys(overrides).length === 0) {
      this.index = BASE;
      return;
    }
    const entries: Record<string, Entry> = { ...TABLE };
    for (const [model, o] of Object.entries(overrides)) {
      const base = lookup(BASE, model);
      const prev: Entry | undefined = base ? TABLE[base.name] : undefined;
      const key = base ? base.name : model;
      const input = o.input ?? prev?.input ?? 0;
      entries[key] = {
        wireId: o.wire_id ?? prev?.wireId ?? model,
        provider: o.provider ?? prev?.provider ?? 'openai',
        input,
        output: o.output ?? prev?.output ?? 0,
        // A changed input price without a cached price: cached input costs the same as input.
        cachedInput: o.cached_input ?? (o.input !== undefined ? input : prev?.cachedInput),
        contextWindow: o.context_window ?? prev?.contextWindow ?? 128_000,
        maxOutput: o.max_output ?? prev?.maxOutput ?? 4_096,
        encoding: prev?.encoding,
        mode: prev?.mode,
        aliases: [...(prev?.aliases ?? []), ...(base && base.name !== model ? [model] : [])],
      };
    }
    this.index = build(entries);
  }

  /** The model's entry by name, alias, wire id, "vendor/name" or dated snapshot; undefined when unknown. */
  info(model: string): ModelInfo | undefined {
    return lookup(this.index, model);
  }

  /** The id to send on the wire for a configured name (unknown names pass through unchanged). */
  wireId(model: string): string {
    return this.info(model)?.wireId ?? model;
  }

  isPriced(model: string): boolean {
    return this.info(model) !== undefined;
  }

  /** USD for a finished call. Cached input tokens (a subset of inputTokens) are billed at the cached price. */
  costOf(model: string, usage: Pick<Usage, 'inputTokens' | 'outputTokens'> & { cachedInputTokens?: number }): number {
    const p = this.info(model);
    if (!p) throw new UnpricedModelError(model);
    const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
    return ((usage.inputTokens - cached) * p.input + cached * p.cachedInput + usage.outputTokens * p.output) / M;
  }

  /**
   * The most a call can cost, for budget reservation: every input token at the full input price and
   * the output cap (maxOutputTokens, else the model's max output) at the output price.
   */
  worstCaseCost(model: string, inputTokens: number, maxOutputTokens?: number): number {
    const p = this.info(model);
    if (!p) throw new UnpricedModelError(model);
    const out = Math.min(maxOutputTokens ?? p.maxOutput, p.maxOutput > 0 ? p.maxOutput : Infinity);
    return (inputTokens * p.input + out * p.output) / M;
  }

  /** Every canonical entry (for `openclaw models` / GET /v1/models listings). */
  list(): ModelInfo[] {
    return [...new Set(this.index.values())];
  }
}

/** The table without overrides. */
export const defaultPrices = new PriceTable();

export function modelInfo(model: string): ModelInfo | undefined {
  return defaultPrices.info(model);
}

export function costOf(model: string, usage: Pick<Usage, 'inputTokens' | 'outputTokens'> & { cachedInputTokens?: number }): number {
  return defaultPrices.costOf(model, usage);
}

export function worstCaseCost(model: string, inputTokens: number, maxOutputTokens?: number): number {
  return defaultPrices.worstCaseCost(model, inputTokens, maxOutputTokens);
}
