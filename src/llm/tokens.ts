// Token control (seed 001): count with the model family's own tokenizer where a package ships it
// (OpenAI: o200k_base / cl100k_base from js-tiktoken, with OpenAI's chat framing overhead), an
// estimate marked `estimated: true` otherwise (o200k count × 1.2: conservative for Claude and Llama);
// fit the input under max_input_tokens (reject | truncate | upgrade); cap the output.
// Encoders are built once per encoding, on first use (building the rank maps takes ~100 ms).
import { createRequire } from 'node:module';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { OpenClawError } from '../util/errors.js';
import { modelInfo, type ModelInfo } from './prices.js';
import type { ChatMessage, ChatRequest, ToolSpec, Usage } from './types.js';

export type Encoding = 'o200k_base' | 'cl100k_base';

export interface TokenCount {
  tokens: number;
  /** True when not counted with the model's own tokenizer. */
  estimated: boolean;
  /** The encoding used (for an estimate: the one it was derived from). */
  encoding: Encoding;
}

const require = createRequire(import.meta.url);
const encoders = new Map<Encoding, Tiktoken>();

function encoder(enc: Encoding): Tiktoken {
  let e = encoders.get(enc);
  if (!e) {
    const ranks = require(`js-tiktoken/ranks/${enc}`) as TiktokenBPE | { default: TiktokenBPE };
    e = new Tiktoken('bpe_ranks' in ranks ? ranks : ranks.default);
    encoders.set(enc, e);
  }
  return e;
}

/**
 * Build the encoders now (about 1.2 s each on this machine, blocking) instead of on the first
 * request that needs one. The LLM module may call it at start for the encodings its models use.
 */
export function warmTokenizers(encodings: Encoding[] = ['o200k_base', 'cl100k_base']): void {
  for (const e of encodings) encoder(e);
}

// Counts of recent texts, per encoding: a conversation resends its system prompt and earlier turns
// on every call, so most of a request's text was counted before. Bounded by total characters;
// the oldest entries go first.
const MEMO_MAX_CHARS = 4_000_000;
const MEMO_MAX_TEXT = 100_000;
const memo = new Map<Encoding, Map<string, number>>();
let memoChars = 0;

function remember(enc: Encoding, text: string, n: number): void {
  let m = memo.get(enc);
  if (!m) memo.set(enc, (m = new Map()));
  m.set(text, n);
  memoChars += text.length;
  while (memoChars > MEMO_MAX_CHARS) {
    let evicted = false;
    for (const mm of memo.values()) {
      const oldest = mm.keys().next();
      if (!oldest.done) {
        mm.delete(oldest.value);
        memoChars -= oldest.value.length;
        evicted = true;
      }
    }
    if (!evicted) memoChars = 0;
  }
}

/** Raw token count of a text with an encoding (special-token text counted as plain text). */
export function encode(text: string, enc: Encoding): number {
  if (text.length === 0) return 0;
  if (text.length > MEMO_MAX_TEXT) return encoder(enc).encode(text, [], []).length;
  const hit = memo.get(enc)?.get(text);
  if (hit !== undefined) return hit;
  const n = encoder(enc).encode(text, [], []).length;
  remember(enc, text, n);
  return n;
}

/** The OpenAI encoding of a model, or undefined when its family's tokenizer is not shipped. */
export function encodingFor(model: string): Encoding | undefined {
  const known = modelInfo(model)?.encoding;
  if (known) return known;
  const m = model.slice(model.lastIndexOf('/') + 1);
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/.test(m)) return 'cl100k_base';
  return undefined;
}

/** Estimates for families without a shipped tokenizer lean high: budgets and limits err on the safe side. */
export const ESTIMATE_FACTOR = 1.2;

/** OpenAI chat framing: 3 tokens per message, 1 more for a name, 3 to prime the reply (OpenAI cookbook). */
const PER_MESSAGE = 3;
const PER_NAME = 1;
const REPLY_PRIMING = 3;

export function countText(text: string, model: string): TokenCount {
  const enc = encodingFor(model);
  if (enc) return { tokens: encode(text, enc), estimated: false, encoding: enc };
  return { tokens: Math.ceil(encode(text, 'o200k_base') * ESTIMATE_FACTOR), estimated: true, encoding: 'o200k_base' };
}

/** Tokens of one message including its framing. */
export function countMessage(m: ChatMessage, model: string): number {
  const enc = encodingFor(model) ?? 'o200k_base';
  let n = PER_MESSAGE + encode(m.role, enc) + encode(m.content, enc);
  if (m.name) n += PER_NAME + encode(m.name, enc);
  for (const t of m.toolCalls ?? []) n += PER_MESSAGE + encode(t.name, enc) + encode(t.arguments, enc);
  if (m.toolCallId) n += encode(m.toolCallId, enc);
  return encodingFor(model) ? n : Math.ceil(n * ESTIMATE_FACTOR);
}

/** Tool definitions as the model sees them (approximation: their JSON plus framing). */
export function countTools(tools: ToolSpec[] | undefined, model: string): number {
  if (!tools || tools.length === 0) return 0;
  const enc = encodingFor(model) ?? 'o200k_base';
  const n = tools.reduce((s, t) => s + 8 + encode(JSON.stringify({ name: t.name, description: t.description ?? '', parameters: t.parameters }), enc), 0);
  return encodingFor(model) ? n : Math.ceil(n * ESTIMATE_FACTOR);
}

/** The prompt tokens of a chat request (messages, framing, tools). */
export function countMessages(messages: ChatMessage[], model: string, tools?: ToolSpec[]): TokenCount {
  const enc = encodingFor(model);
  const tokens = REPLY_PRIMING + messages.reduce((s, m) => s + countMessage(m, model), 0) + countTools(tools, model);
  return { tokens, estimated: enc === undefined, encoding: enc ?? 'o200k_base' };
}

/** Usage counted by us, for providers that did not report it. */
export function estimateUsage(req: ChatRequest, outputText: string): Usage {
  return {
    inputTokens: countMessages(req.messages, req.model, req.tools).tokens,
    outputTokens: countText(outputText, req.model).tokens,
    cachedInputTokens: 0,
    estimated: true,
  };
}

// ---- input fitting ----------------------------------------------------------------------------

export type InputPolicy = 'reject' | 'truncate' | 'upgrade';

export interface FitOptions {
  model: string;
  maxInputTokens: number;
  policy: InputPolicy;
  /** policy 'upgrade': the larger-context model to move to. */
  upgradeModel?: string;
  /** The upgrade model's input limit (default: its context window from the price table). */
  upgradeMaxInputTokens?: number;
  tools?: ToolSpec[];
  /** Where context windows come from (a PriceTable with config overrides); default: the shipped table. */
  prices?: { info(model: string): ModelInfo | undefined };
}

export interface FitResult {
  messages: ChatMessage[];
  /** The model to call (the upgrade model when policy 'upgrade' moved it). */
  model: string;
  count: TokenCount;
  /** Messages dropped by truncation. */
  dropped: number;
  upgraded: boolean;
}

export class InputTooLongError extends OpenClawError {
  constructor(message: string, details: { tokens: number; limit: number; model: string; estimated: boolean }) {
    super('llm_input_too_long', message, { status: 400, details });
  }
}

const n = (x: number) => x.toLocaleString('en-US');

function tooLong(count: TokenCount, limit: number, model: string, policy: InputPolicy, extra = ''): InputTooLongError {
  const how = count.estimated ? `estimated from ${count.encoding} × ${ESTIMATE_FACTOR}` : `counted with ${count.encoding}`;
  const fixes: Record<InputPolicy, string> = {
    reject: 'shorten the prompt, raise max_input_tokens, set max_input_policy: truncate (drops the oldest turns) or upgrade (to a larger-context model)',
    truncate: 'the system prompt and the latest user turn alone are over the limit: shorten them, raise max_input_tokens, or use policy upgrade',
    upgrade: 'shorten the prompt, or configure an upgrade model with a larger context window',
  };
  return new InputTooLongError(`input is ${n(count.tokens)} tokens (${how}) for ${model}, over the limit of ${n(limit)}${extra}; ${fixes[policy]}`, {
    tokens: count.tokens,
    limit,
    model,
    estimated: count.estimated,
  });
}

/**
 * Make the input fit `maxInputTokens`. reject: throw InputTooLongError. truncate: keep every system
 * message and the latest user turn (the last user message and what follows it), drop the oldest other
 * turns first, never leaving a tool result without its call; throw when even that is too big.
 * upgrade: return `upgradeModel` when the input fits it.
 */
export function fitInput(messages: ChatMessage[], opts: FitOptions): FitResult {
  const count = countMessages(messages, opts.model, opts.tools);
  if (count.tokens <= opts.maxInputTokens) return { messages, model: opts.model, count, dropped: 0, upgraded: false };

  if (opts.policy === 'reject') throw tooLong(count, opts.maxInputTokens, opts.model, 'reject');

  if (opts.policy === 'upgrade') {
    if (!opts.upgradeModel) throw tooLong(count, opts.maxInputTokens, opts.model, 'upgrade', ' and no upgrade model is configured');
    const limit = opts.upgradeMaxInputTokens ?? (opts.prices ? opts.prices.info(opts.upgradeModel) : modelInfo(opts.upgradeModel))?.contextWindow;
    if (limit === undefined) throw tooLong(count, opts.maxInputTokens, opts.model, 'upgrade', `; the upgrade model ${opts.upgradeModel} has no known context window (set it under llm.prices)`);
    const up = countMessages(messages, opts.upgradeModel, opts.tools);
    if (up.tokens <= limit) return { messages, model: opts.upgradeModel, count: up, dropped: 0, upgraded: true };
    throw tooLong(up, limit, opts.upgradeModel, 'upgrade', ` (upgraded from ${opts.model})`);
  }

  // truncate: a sliding window over the droppable turns.
  const lastUser = messages.map((m) => m.role).lastIndexOf('user');
  const keepFrom = lastUser >= 0 ? lastUser : messages.length - 1;
  const sizes = messages.map((m) => countMessage(m, opts.model));
  const dropped = new Set<number>();
  let total = count.tokens;
  const droppable = (i: number) => i < keepFrom && messages[i]!.role !== 'system' && !dropped.has(i);
  for (let i = 0; i < keepFrom && total > opts.maxInputTokens; i++) {
    if (!droppable(i)) continue;
    dropped.add(i);
    total -= sizes[i]!;
    // An assistant turn with tool calls takes its tool results with it.
    if (messages[i]!.toolCalls?.length) {
      for (let j = i + 1; j < keepFrom && messages[j]!.role === 'tool'; j++) {
        dropped.add(j);
        total -= sizes[j]!;
      }
    }
  }
  // Never start the kept history with tool results whose call was dropped.
  for (let i = 0; i < keepFrom; i++) {
    if (dropped.has(i) || messages[i]!.role === 'system') continue;
    if (messages[i]!.role !== 'tool') break;
    dropped.add(i);
    total -= sizes[i]!;
  }
  const kept = messages.filter((_, i) => !dropped.has(i));
  const after = countMessages(kept, opts.model, opts.tools);
  if (after.tokens > opts.maxInputTokens) throw tooLong(after, opts.maxInputTokens, opts.model, 'truncate', ` after dropping ${dropped.size} older message(s)`);
  return { messages: kept, model: opts.model, count: after, dropped: dropped.size, upgraded: false };
}

/**
 * The max output tokens to send: the smallest of what the caller asked, the model's own maximum and
 * the configured cap; undefined when none is known (the provider's default applies).
 */
export function capOutput(requested: number | undefined, modelMaxOutput: number | undefined, configuredMax: number | undefined): number | undefined {
  const candidates = [requested, modelMaxOutput, configuredMax].filter((x): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0);
  return candidates.length > 0 ? Math.min(...candidates) : undefined;
}

/** The input limit of a model: its context window minus the output it may produce. */
export function inputLimitFor(model: string, maxOutputTokens?: number, prices?: { info(model: string): ModelInfo | undefined }): number | undefined {
  const info = prices ? prices.info(model) : modelInfo(model);
  if (!info) return undefined;
  return info.contextWindow - (maxOutputTokens ?? 0);
}
