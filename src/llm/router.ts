// The LLM router: model → provider, fallback chains, retries with backoff that honours Retry-After,
// a cooldown per provider+model with a half-open probe, per-provider request rate limits, budgets
// reserved before dispatch and settled after, the response cache, and one usage record per request.
//
// Streams: the router waits for the first chunk of a candidate before it commits to it; until then a
// failure moves on (retry, next model). After the first chunk went out, a failure ends the stream
// with an explicit error (code 'stream_interrupted') — never a silent success, never a switch of
// provider halfway through an answer.
import { randomUUID } from 'node:crypto';
import { OpenClawError } from '../util/errors.js';
import type { ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Provider, ProviderErrorInfo, StreamChunk, Usage } from './types.js';
import type { LlmConfig } from './config.js';
import { budgetChecks, BudgetExceededError, type CallScope } from './budget.js';
import type { Crossed, Ledger, UsageRecord } from './ledger.js';
import { BudgetBook } from './book.js';
import type { ResponseCache } from './cache.js';
import { UnpricedModelError } from './prices.js';

export interface ModelPrice {
  /** USD per million tokens. */
  input: number;
  output: number;
  cachedInput?: number;
  contextWindow?: number;
  maxOutput?: number;
}

/** What the router needs from the token counter and the price table (src/llm/tokens.ts, prices.ts). */
export interface RouterDeps {
  config: LlmConfig;
  providers: Map<string, Provider>;
  ledger: Ledger;
  /** Budgets in memory over the ledger (built from `ledger` when not given). */
  book?: BudgetBook;
  price(model: string): ModelPrice | undefined;
  /** Applies max_input_tokens and its policy; returns the request to send (maybe truncated, maybe another model) and its input token count. */
  prepareInput(req: ChatRequest): { request: ChatRequest; inputTokens: number; estimated: boolean };
  /** Counts the tokens of generated text (for streams cut before a usage report). */
  countText(model: string, text: string): number;
  cache?: ResponseCache | null;
  now?: () => number;
  /** Called once per request after it settled (metrics, audit, alerts, spans). */
  onRecord?(rec: UsageRecord, info: { crossed: Crossed[]; error?: Error; attempts: Attempt[] }): void;
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface CallOptions extends CallScope {
  /** No fallback: only the requested (or primary) model. */
  strict?: boolean;
  /** false = bypass the cache for this call. */
  cache?: boolean;
  /** Replace defaults.fallback for this call (an SDK LLMRouter's chain). */
  fallback?: string[];
  maxRetries?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface Attempt {
  provider: string;
  model: string;
  ok: boolean;
  error?: string;
  kind?: string;
  skipped?: 'cooldown' | 'rate_limit';
}

export interface RoutedResponse extends ChatResponse {
  costUsd: number;
  latencyMs: number;
  ttftMs: number | null;
  cache: 'exact' | 'semantic' | null;
  estimated: boolean;
  attempts: Attempt[];
}

export type RouterStreamEvent =
  | { type: 'start'; provider: string; model: string; cache: 'exact' | 'semantic' | null }
  | StreamChunk
  | { type: 'done'; usage: Usage; costUsd: number; provider: string; model: string; latencyMs: number; ttftMs: number | null };

interface Target {
  /** The model name as configured / requested. */
  model: string;
  /** The model id sent upstream. */
  upstream: string;
  provider: Provider;
  providerName: string;
}

interface Health {
  failures: number;
  openUntil: number;
  probing: boolean;
}

const RETRYABLE = new Set(['rate_limited', 'server', 'connection']);

/** Normalised view of a provider failure (ProviderError from src/llm/errors.ts, or anything). */
export function errorInfo(err: unknown, provider: string, model: string): ProviderErrorInfo {
  const e = err as { info?: ProviderErrorInfo; kind?: string; status?: number; retryAfterMs?: number; message?: string; name?: string; code?: string };
  if (e?.info && typeof e.info.kind === 'string') return e.info;
  if (e && typeof e.kind === 'string') return { kind: e.kind as ProviderErrorInfo['kind'], status: e.status, retryAfterMs: e.retryAfterMs, provider, model, message: e.message ?? String(err) };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return { kind: 'timeout', provider, model, message: e.message ?? 'timed out' };
  return { kind: 'connection', provider, model, message: e?.message ?? String(err) };
}

export class NoModelAvailableError extends OpenClawError {
  constructor(message: string, readonly last?: ProviderErrorInfo, status = 502) {
    super(last?.kind === 'bad_request' || last?.kind === 'context_length' ? (last.kind === 'context_length' ? 'context_length_exceeded' : 'provider_bad_request') : 'llm_unavailable', message, { status, details: last });
  }
}

export class StreamInterruptedError extends OpenClawError {
  constructor(provider: string, model: string, cause: string) {
    super('stream_interrupted', `the stream from ${provider} (${model}) broke after the answer had started: ${cause}; the answer is incomplete and was not retried on another model`, { status: 502 });
  }
}

class RateWindow {
  private readonly times: number[] = [];
  constructor(readonly max: number, readonly perMs: number) {}
  /** 0 when a slot was taken now, else ms until one frees. */
  take(now: number): number {
    while (this.times.length > 0 && this.times[0]! <= now - this.perMs) this.times.shift();
    if (this.times.length < this.max) {
      this.times.push(now);
      return 0;
    }
    return this.times[0]! + this.perMs - now;
  }
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class LlmRouter {
  private readonly cfg: LlmConfig;
  private readonly health = new Map<string, Health>();
  private readonly rates = new Map<string, RateWindow>();
  private readonly modelIndex = new Map<string, { providerName: string; upstream: string }>();
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly book: BudgetBook;

  constructor(private readonly deps: RouterDeps) {
    this.cfg = deps.config;
    this.now = deps.now ?? Date.now;
    this.book = deps.book ?? new BudgetBook(deps.ledger, this.now);
    this.sleep = deps.sleep ?? defaultSleep;
    for (const [name, pc] of Object.entries(this.cfg.providers)) {
      for (const m of pc.models) {
        if (!this.modelIndex.has(m)) this.modelIndex.set(m, { providerName: name, upstream: m });
      }
      if (pc.rate_limit) this.rates.set(name, new RateWindow(pc.rate_limit.requests, pc.rate_limit.windowMs));
    }
  }

  /** Every model the router can serve (for GET /v1/models). */
  models(): Array<{ id: string; provider: string }> {
    return [...this.modelIndex].map(([id, t]) => ({ id, provider: t.providerName }));
  }

  resolve(model: string): Target {
    const hit = this.modelIndex.get(model);
    if (hit) return { model, upstream: hit.upstream, providerName: hit.providerName, provider: this.provider(hit.providerName) };
    const slash = model.indexOf('/');
    if (slash > 0 && this.deps.providers.has(model.slice(0, slash))) {
      const providerName = model.slice(0, slash);
      return { model, upstream: model.slice(slash + 1), providerName, provider: this.provider(providerName) };
    }
    // A lone provider that declares no models serves whatever is asked; once models are declared,
    // only those are served (an undeclared name would be a typo or an unpriced call).
    if (this.deps.providers.size === 1 && this.modelIndex.size === 0) {
      const [providerName] = this.deps.providers.keys();
      return { model, upstream: model, providerName: providerName!, provider: this.provider(providerName!) };
    }
    const known = [...this.modelIndex.keys()];
    throw new OpenClawError('model_not_found', `model '${model}' is not declared by any provider in llm.providers${known.length ? ` (declared: ${known.join(', ')})` : ''}; add it to a provider's models list or write it as <provider>/<model>`, { status: 404 });
  }

  private provider(name: string): Provider {
    const p = this.deps.providers.get(name);
    if (!p) throw new OpenClawError('provider_not_found', `provider '${name}' is not configured in llm.providers`, { status: 500 });
    return p;
  }

  /** The chain a call tries: requested or primary model, then the fallbacks unless strict. */
  chain(req: { model?: string }, opts: CallOptions): string[] {
    const first = req.model || this.cfg.defaults.primary;
    if (!first) throw new OpenClawError('model_required', 'no model given and llm.defaults.primary is not set: pass model or set a primary model', { status: 400 });
    const strict = opts.strict ?? this.cfg.defaults.strict;
    if (strict) return [first];
    const fallback = opts.fallback ?? this.cfg.defaults.fallback;
    return [first, ...fallback.filter((m) => m !== first)];
  }

  costOf(model: string, usage: Usage): number {
    const p = this.deps.price(model);
    if (!p) return 0;
    const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
    return ((usage.inputTokens - cached) * p.input + cached * (p.cachedInput ?? p.input) + usage.outputTokens * p.output) / 1e6;
  }

  private worstCase(models: string[], inputTokens: number, maxTokens: number): number {
    let worst = 0;
    for (const m of models) {
      const p = this.deps.price(m);
      if (p) worst = Math.max(worst, (inputTokens * p.input + maxTokens * p.output) / 1e6);
    }
    return worst;
  }

  private maxTokensFor(req: ChatRequest): number {
    const cap = this.cfg.limits.max_output_tokens;
    const modelMax = this.deps.price(req.model)?.maxOutput;
    return Math.min(req.maxTokens ?? cap, cap, modelMax && modelMax > 0 ? modelMax : Infinity);
  }

  // ---- health ------------------------------------------------------------------------------

  private h(t: Target): Health {
    const k = `${t.providerName}\u0000${t.upstream}`;
    let h = this.health.get(k);
    if (!h) this.health.set(k, (h = { failures: 0, openUntil: 0, probing: false }));
    return h;
  }

  /** Cooling: skip. After the cooldown one call goes through as a probe (half-open). */
  private admit(t: Target): boolean {
    const h = this.h(t);
    if (h.openUntil === 0) return true;
    if (this.now() < h.openUntil || h.probing) return false;
    h.probing = true;
    return true;
  }

  private ok(t: Target): void {
    const h = this.h(t);
    h.failures = 0;
    h.openUntil = 0;
    h.probing = false;
  }

  private failed(t: Target): void {
    const h = this.h(t);
    h.failures++;
    if (h.probing || h.failures >= this.cfg.defaults.cooldown_after) {
      h.openUntil = this.now() + this.cfg.defaults.cooldown;
      h.probing = false;
    }
  }

  /** Provider+model pairs in cooldown now (for status and tests). */
  cooling(): Array<{ provider: string; model: string; until: number }> {
    const out: Array<{ provider: string; model: string; until: number }> = [];
    for (const [k, h] of this.health) {
      if (h.openUntil > this.now()) {
        const [provider, model] = k.split('\u0000');
        out.push({ provider: provider!, model: model!, until: h.openUntil });
      }
    }
    return out;
  }

  // ---- the call ----------------------------------------------------------------------------

  private async begin(req: ChatRequest, opts: CallOptions, stream: boolean) {
    const started = this.now();
    const chain = this.chain(req, opts);
    const prepared = this.deps.prepareInput({ ...req, model: chain[0]! });
    const models = prepared.request.model !== chain[0] ? [prepared.request.model, ...chain.slice(1)] : chain;
    const maxTokens = this.maxTokensFor(prepared.request);
    const request: ChatRequest = { ...prepared.request, maxTokens };
    const worst = this.worstCase(models, prepared.inputTokens, maxTokens);
    const id = randomUUID();
    const record = (over: Partial<UsageRecord>): UsageRecord => ({
      id,
      ts: started,
      agent: opts.agent ?? null,
      runId: opts.runId ?? null,
      keyId: opts.keyId ?? null,
      session: opts.session ?? req.session ?? null,
      user: opts.user ?? req.user ?? null,
      scope: opts.router?.scope ?? null,
      model: models[0]!,
      provider: null,
      inputTokens: prepared.inputTokens,
      outputTokens: 0,
      cachedTokens: 0,
      costUsd: 0,
      latencyMs: this.now() - started,
      ttftMs: null,
      status: 'ok',
      cacheHit: false,
      estimated: prepared.estimated,
      stream,
      ...over,
    });
    return { started, models, request, worst, id, record, inputTokens: prepared.inputTokens, estimated: prepared.estimated };
  }

  private scopeOf(opts: CallOptions, req: ChatRequest): CallOptions {
    return { ...opts, session: opts.session ?? req.session ?? null, user: opts.user ?? req.user ?? null };
  }

  private async reserve(id: string, opts: CallOptions, worst: number, tokens: number, record: (o: Partial<UsageRecord>) => UsageRecord, models: string[]): Promise<void> {
    const now = this.now();
    const checks = budgetChecks(this.cfg, opts, worst, tokens, now);
    if (checks.length === 0) return;
    const unpriced = models.filter((m) => !this.deps.price(m));
    if (unpriced.length > 0 && checks.some((c) => c.unit === 'usd')) {
      // Budgeting an unknown price as free would let it spend without limit.
      throw new UnpricedModelError(unpriced[0]!);
    }
    const ttl = Math.max(120_000, this.cfg.defaults.timeout * (this.cfg.defaults.max_retries + 2) * 3);
    const refusal = await this.book.reserve(id, checks, ttl);
    if (refusal) {
      const err = new BudgetExceededError(refusal, this.cfg.budgets.timezone);
      const rec = record({ status: err.code, inputTokens: 0 });
      await this.book.record(rec).catch(() => undefined);
      this.deps.onRecord?.(rec, { crossed: [], error: err, attempts: [] });
      throw err;
    }
  }

  private async settle(id: string, rec: UsageRecord, info: { error?: Error; attempts: Attempt[] }): Promise<void> {
    const crossed = await this.book.settle(id, { usd: Math.round(rec.costUsd * 1e9), tok: rec.inputTokens + rec.outputTokens }, rec);
    this.deps.onRecord?.(rec, { crossed, ...info });
  }

  async complete(req: ChatRequest, opts: CallOptions = {}): Promise<RoutedResponse> {
    const b = await this.begin(req, opts, false);
    opts = this.scopeOf(opts, req);
    const useCache = opts.cache !== false && this.deps.cache?.enabled === true;
    if (useCache) {
      const hit = await this.deps.cache!.lookup(b.request, b.models[0]!);
      if (hit) {
        const rec = b.record({ model: hit.response.model, provider: hit.response.provider, inputTokens: hit.response.usage.inputTokens, outputTokens: hit.response.usage.outputTokens, cacheHit: true, costUsd: 0 });
        await this.book.record(rec);
        this.deps.onRecord?.(rec, { crossed: [], attempts: [] });
        return { ...hit.response, costUsd: 0, latencyMs: rec.latencyMs, ttftMs: null, cache: hit.kind, estimated: false, attempts: [] };
      }
    }
    await this.reserve(b.id, opts, b.worst, b.inputTokens + b.request.maxTokens!, b.record, b.models);
    const attempts: Attempt[] = [];
    try {
      const { target, value } = await this.dispatch(b.models, opts, attempts, (t, o) => t.provider.complete({ ...b.request, model: t.upstream }, o));
      const usage = value.usage;
      const costUsd = this.costOf(target.model, usage);
      const rec = b.record({
        model: target.model,
        provider: target.providerName,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        cachedTokens: usage.cachedInputTokens,
        costUsd,
        estimated: usage.estimated === true,
      });
      await this.settle(b.id, rec, { attempts });
      const res: RoutedResponse = { ...value, model: target.model, provider: target.providerName, costUsd, latencyMs: rec.latencyMs, ttftMs: null, cache: null, estimated: usage.estimated === true, attempts };
      if (useCache && value.finishReason !== 'error') await this.deps.cache!.store(b.request, target.model, value).catch(() => undefined);
      return res;
    } catch (err) {
      const rec = b.record({ status: (err as { code?: string }).code ?? 'error', inputTokens: 0 });
      await this.settle(b.id, rec, { error: err as Error, attempts }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Tries the chain: retries on 429 / 5xx / connection errors with backoff (Retry-After honoured up
   * to defaults.max_retry_wait), moves to the next model on timeouts, auth and context-length
   * errors and after the retries; skips models in cooldown; stops at once on a bad request.
   */
  private async dispatch<T>(models: string[], opts: CallOptions, attempts: Attempt[], call: (t: Target, o: { timeoutMs: number; signal?: AbortSignal }) => Promise<T>): Promise<{ target: Target; value: T }> {
    const maxRetries = opts.maxRetries ?? this.cfg.defaults.max_retries;
    const timeoutMs = opts.timeoutMs ?? this.cfg.defaults.timeout;
    let last: ProviderErrorInfo | undefined;
    const targets = models.map((m) => this.resolve(m));
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      if (!this.admit(t)) {
        attempts.push({ provider: t.providerName, model: t.model, ok: false, skipped: 'cooldown' });
        continue;
      }
      for (let attempt = 0; ; attempt++) {
        opts.signal?.throwIfAborted();
        const rate = this.rates.get(t.providerName);
        if (rate) {
          const wait = rate.take(this.now());
          if (wait > 0) {
            const others = targets.slice(i + 1).some((o) => o.providerName !== t.providerName);
            if (others) {
              attempts.push({ provider: t.providerName, model: t.model, ok: false, skipped: 'rate_limit' });
              this.h(t).probing = false;
              break;
            }
            await this.sleep(Math.min(wait, timeoutMs), opts.signal);
            rate.take(this.now());
          }
        }
        try {
          const value = await call(t, { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
          this.ok(t);
          attempts.push({ provider: t.providerName, model: t.model, ok: true });
          return { target: t, value };
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          if (err instanceof OpenClawError && !(err as { info?: unknown }).info) throw err;
          const info = errorInfo(err, t.providerName, t.model);
          last = info;
          attempts.push({ provider: t.providerName, model: t.model, ok: false, error: info.message, kind: info.kind });
          if (info.kind === 'bad_request') {
            this.h(t).probing = false;
            throw new NoModelAvailableError(`${t.providerName} refused the request for ${t.model} (${info.status ?? 400}): ${info.message}`, info, 400);
          }
          if (info.kind === 'context_length') {
            this.h(t).probing = false;
            break;
          }
          this.failed(t);
          if (RETRYABLE.has(info.kind) && attempt < maxRetries && this.h(t).openUntil === 0) {
            const backoff = Math.min(8000, 250 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
            const wait = info.retryAfterMs !== undefined ? info.retryAfterMs : backoff;
            if (wait <= this.cfg.defaults.max_retry_wait) {
              await this.sleep(wait, opts.signal);
              continue;
            }
          }
          break;
        }
      }
    }
    const tried = attempts.map((a) => `${a.provider}/${a.model}: ${a.skipped ? `skipped (${a.skipped})` : a.ok ? 'ok' : `${a.kind}: ${a.error}`}`).join('; ');
    if (!last) {
      const until = this.cooling().map((c) => `${c.provider}/${c.model} until ${new Date(c.until).toISOString()}`).join(', ');
      throw new NoModelAvailableError(`no model available: every model of the chain [${models.join(', ')}] is cooling down after repeated failures (${until}); retry later`, undefined, 503);
    }
    const status = last.kind === 'context_length' ? 400 : last.kind === 'rate_limited' ? 429 : last.kind === 'timeout' ? 504 : 502;
    throw new NoModelAvailableError(`every model of the chain [${models.join(', ')}] failed: ${tried}`, last, status);
  }

  /**
   * A streamed call. Yields 'start' (with the provider that answers) when the first chunk came,
   * then the chunks, then 'done' with usage and cost. Breaking out of the loop cancels upstream.
   */
  async *stream(req: ChatRequest, opts: CallOptions = {}): AsyncGenerator<RouterStreamEvent, void, undefined> {
    const b = await this.begin(req, opts, true);
    opts = this.scopeOf(opts, req);
    if (opts.cache !== false && this.deps.cache?.enabled === true) {
      const hit = await this.deps.cache.lookup(b.request, b.models[0]!);
      if (hit) {
        const r = hit.response;
        const rec = b.record({ model: r.model, provider: r.provider, inputTokens: r.usage.inputTokens, outputTokens: r.usage.outputTokens, cacheHit: true });
        await this.book.record(rec);
        this.deps.onRecord?.(rec, { crossed: [], attempts: [] });
        yield { type: 'start', provider: r.provider, model: r.model, cache: hit.kind };
        if (r.text) yield { type: 'text', text: r.text };
        yield { type: 'finish', finishReason: r.finishReason, usage: r.usage };
        yield { type: 'done', usage: r.usage, costUsd: 0, provider: r.provider, model: r.model, latencyMs: rec.latencyMs, ttftMs: rec.latencyMs };
        return;
      }
    }
    await this.reserve(b.id, opts, b.worst, b.inputTokens + b.request.maxTokens!, b.record, b.models);
    const attempts: Attempt[] = [];
    let target: Target | undefined;
    let text = '';
    let usage: Usage | undefined;
    let ttftMs: number | null = null;
    let error: Error | undefined;
    let iter: AsyncIterator<StreamChunk> | undefined;
    try {
      const opened = await this.dispatch(b.models, opts, attempts, async (t, o) => {
        const it = t.provider.stream({ ...b.request, model: t.upstream }, o)[Symbol.asyncIterator]();
        try {
          const first = await it.next();
          return { it, first };
        } catch (err) {
          await it.return?.().catch(() => undefined);
          throw err;
        }
      });
      target = opened.target;
      iter = opened.value.it;
      ttftMs = this.now() - b.started;
      yield { type: 'start', provider: target.providerName, model: target.model, cache: null };
      let step = opened.value.first;
      while (!step.done) {
        const c = step.value;
        if (c.type === 'text') text += c.text;
        if (c.type === 'finish' && c.usage) usage = c.usage;
        yield c;
        try {
          step = await iter.next();
        } catch (err) {
          if (opts.signal?.aborted) throw opts.signal.reason ?? err;
          const info = errorInfo(err, target.providerName, target.model);
          this.failed(target);
          throw new StreamInterruptedError(target.providerName, target.model, info.message);
        }
      }
      iter = undefined;
      const u = usage ?? { inputTokens: b.inputTokens, outputTokens: this.deps.countText(target.model, text), cachedInputTokens: 0, estimated: true };
      const costUsd = this.costOf(target.model, u);
      yield { type: 'done', usage: u, costUsd, provider: target.providerName, model: target.model, latencyMs: this.now() - b.started, ttftMs };
      usage = u;
    } catch (err) {
      error = err as Error;
      throw err;
    } finally {
      // Upstream closed when the consumer stopped early (return()) or the stream broke.
      if (iter) await iter.return?.().catch(() => undefined);
      let rec: UsageRecord;
      if (target) {
        const u = usage ?? { inputTokens: b.inputTokens, outputTokens: this.deps.countText(target.model, text), cachedInputTokens: 0, estimated: true };
        rec = b.record({
          model: target.model,
          provider: target.providerName,
          inputTokens: u.inputTokens,
          outputTokens: u.outputTokens,
          cachedTokens: u.cachedInputTokens,
          costUsd: this.costOf(target.model, u),
          ttftMs,
          estimated: u.estimated === true,
          status: error ? ((error as { code?: string }).code ?? 'error') : usage ? 'ok' : 'cancelled',
        });
      } else {
        rec = b.record({ status: (error as { code?: string } | undefined)?.code ?? 'cancelled', inputTokens: 0 });
      }
      await this.settle(b.id, rec, { ...(error ? { error } : {}), attempts }).catch(() => undefined);
    }
  }

  /** Embeddings: same routing (no fallback across models: vectors of two models do not mix). */
  async embed(req: EmbeddingRequest, opts: CallOptions = {}): Promise<EmbeddingResponse & { costUsd: number; latencyMs: number }> {
    const started = this.now();
    const t = this.resolve(req.model);
    if (!t.provider.embed) throw new OpenClawError('embeddings_unsupported', `provider '${t.providerName}' (${t.provider.kind}) does not serve embeddings`, { status: 400 });
    const id = randomUUID();
    const attempts: Attempt[] = [];
    const p = this.deps.price(req.model);
    const worst = p ? (req.input.reduce((n, s) => n + Math.ceil(s.length / 2), 0) * p.input) / 1e6 : 0;
    const base = { id, ts: started, agent: opts.agent ?? null, runId: opts.runId ?? null, keyId: opts.keyId ?? null, session: opts.session ?? null, user: opts.user ?? null, scope: opts.router?.scope ?? null, model: req.model, provider: t.providerName, outputTokens: 0, cachedTokens: 0, ttftMs: null, cacheHit: false, estimated: false, stream: false };
    await this.reserve(id, opts, worst, 0, (o) => ({ ...base, inputTokens: 0, costUsd: 0, latencyMs: 0, status: 'ok', ...o }), [req.model]);
    try {
      const { value } = await this.dispatch([req.model], { ...opts, strict: true }, attempts, (tt, o) => tt.provider.embed!({ ...req, model: tt.upstream }, o));
      const costUsd = p ? (value.usage.inputTokens * p.input) / 1e6 : 0;
      const rec: UsageRecord = { ...base, inputTokens: value.usage.inputTokens, costUsd, latencyMs: this.now() - started, status: 'ok' };
      await this.settle(id, rec, { attempts });
      return { ...value, model: req.model, costUsd, latencyMs: rec.latencyMs };
    } catch (err) {
      const rec: UsageRecord = { ...base, inputTokens: 0, costUsd: 0, latencyMs: this.now() - started, status: (err as { code?: string }).code ?? 'error' };
      await this.settle(id, rec, { error: err as Error, attempts }).catch(() => undefined);
      throw err;
    }
  }
}
