// The LLM daemon module: builds providers (expanding ${secret:NAME} in api_key), the router, the
// ledger and the cache from the llm: section; serves the agent RPC ops (llm.complete, llm.stream and
// its pull/cancel ops), the /v1 API and /api/llm routes; installs ctx.services.llm for workflow
// steps; records metrics, audit entries (no prompt text), spans and budget alerts.
import { randomUUID } from 'node:crypto';
import { trace, SpanStatusCode } from '@opentelemetry/api';
import type { DaemonModule, ModuleContext, RpcCaller } from '../contracts/modules.js';
import { counter, gauge, llmMetrics } from '../observability/metrics.js';
import { OpenClawError } from '../util/errors.js';
import { parseDuration } from '../config/units.js';
import type { LlmConfig } from './config.js';
import { calendar } from './budget.js';
import { Ledger, fromNano, llmStoreModule, type Crossed, type UsageRecord } from './ledger.js';
import { SqlRunner } from './sql.js';
import { LlmRouter, type Attempt, type CallOptions, type RouterStreamEvent } from './router.js';
import { ResponseCache } from './cache.js';
import { KeyStore, managementRoutes, v1Routes } from './api.js';
import { PriceTable } from './prices.js';
import { effectivePrices } from './model-checks.js';
import { createProvider } from './providers/index.js';
import { capOutput, countMessages, countText, fitInput, inputLimitFor } from './tokens.js';
import type { ChatMessage, ChatRequest, Provider } from './types.js';
import type { LlmRequest } from '../agents/context.js';
import { refuseLlmOps } from './not-configured.js';

export { notConfigured } from './not-configured.js';

/** What an agent (or a workflow step) sends: a prompt or messages, options, maybe an LLMRouter's own settings. */
export interface AgentLlmRequest extends Omit<LlmRequest, 'messages'> {
  /** As sent over RPC: roles are checked here, not trusted from the worker's types. */
  messages?: Array<{ role: string; content: string }>;
  router?: { name?: string; primary?: string; fallback?: string[]; budget?: { daily_limit_usd?: number; monthly_limit_usd?: number; alert_at_pct?: number }; max_retries?: number; timeout?: number | string; strict?: boolean };
}

export interface AgentLlmCompletion {
  text: string;
  json?: unknown;
  usage: { input_tokens: number; output_tokens: number; cached_tokens: number; total_tokens: number; cost_usd: number; estimated?: boolean };
  model: string;
  provider: string;
  latency_ms: number;
  cache: 'exact' | 'semantic' | null;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

/** The run an agent's llm.* RPC names (the worker sends its current run's id); the usage row keeps it. */
function runIdOf(req: Record<string, unknown>): string | null {
  return typeof req.runId === 'string' && req.runId.length > 0 && req.runId.length <= 200 ? req.runId : null;
}

function toRequest(r: AgentLlmRequest, where: string): { req: ChatRequest; opts: CallOptions } {
  if (!r || typeof r !== 'object') throw new OpenClawError('llm_request_invalid', `${where}: pass a prompt string or { messages: [...] }`, { status: 400 });
  let messages: ChatMessage[];
  if (typeof r.prompt === 'string') messages = [{ role: 'user', content: r.prompt }];
  else if (Array.isArray(r.messages) && r.messages.length > 0) {
    messages = r.messages.map((m, i) => {
      if (!m || !ROLES.has(m.role) || typeof m.content !== 'string') throw new OpenClawError('llm_request_invalid', `${where}: messages[${i}] must be { role: system|user|assistant|tool, content: string }`, { status: 400 });
      return { role: m.role as ChatMessage['role'], content: m.content };
    });
  } else throw new OpenClawError('llm_request_invalid', `${where}: pass a prompt string or { messages: [...] } with at least one message`, { status: 400 });
  const req: ChatRequest = { model: r.model ?? r.router?.primary ?? '', messages };
  if (typeof r.temperature === 'number') req.temperature = r.temperature;
  if (typeof r.max_tokens === 'number') req.maxTokens = r.max_tokens;
  if (r.json === true) req.json = true;
  if (typeof r.session === 'string') req.session = r.session;
  if (typeof r.user === 'string') req.user = r.user;
  const opts: CallOptions = {};
  if (typeof r.strict === 'boolean') opts.strict = r.strict;
  else if (typeof r.router?.strict === 'boolean') opts.strict = r.router.strict;
  if (r.cache === false) opts.cache = false;
  if (r.router) {
    if (Array.isArray(r.router.fallback)) opts.fallback = r.router.fallback;
    if (typeof r.router.max_retries === 'number') opts.maxRetries = r.router.max_retries;
    if (r.router.timeout !== undefined) opts.timeoutMs = typeof r.router.timeout === 'number' ? r.router.timeout * 1000 : parseDuration(r.router.timeout);
  }
  return { req, opts };
}

function routerScope(agent: string, r: AgentLlmRequest): CallOptions['router'] {
  if (!r.router?.budget) return null;
  const name = (r.router.name ?? 'default').replace(/[^\w.-]/g, '_').slice(0, 64);
  return { scope: `router:${agent}/${name}`, budget: r.router.budget };
}

interface StreamSession {
  owner: string;
  gen: AsyncGenerator<RouterStreamEvent>;
  chunks: string[];
  done: boolean;
  error: Error | null;
  final: AgentLlmCompletion | null;
  wake: (() => void) | null;
  space: (() => void) | null;
  lastPull: number;
  abort: AbortController;
}

export function llmModule(): DaemonModule {
  let router: LlmRouter | null = null;
  let providers: Provider[] = [];
  const timers: NodeJS.Timeout[] = [];
  const streams = new Map<string, StreamSession>();
  /** Ends a stream: aborts the upstream call (the router settles the budget with what was generated). */
  const cancel = (id: string, s: StreamSession, why: string) => {
    streams.delete(id);
    s.abort.abort(new OpenClawError('llm_stream_cancelled', `stream cancelled: ${why}`));
    s.space?.();
  };

  return {
    name: 'llm',
    async start(ctx: ModuleContext): Promise<void> {
      const cfg = ctx.config.extensions?.llm as LlmConfig | undefined;
      if (!cfg) {
        refuseLlmOps(ctx);
        return;
      }
      await ctx.store.migrateModule(llmStoreModule);
      const ledger = new Ledger(new SqlRunner(ctx.store.handle()));
      const now = () => ctx.clock.now();
      await ledger.expireReservations(now());
      const prices = new PriceTable(effectivePrices(cfg));
      const byName = new Map<string, Provider>();
      for (const [name, pc] of Object.entries(cfg.providers)) {
        const apiKey = pc.api_key && pc.api_key.includes('${secret:') ? await ctx.services.secrets.expand(pc.api_key, `llm.providers.${name}`) : pc.api_key;
        byName.set(name, createProvider(name, { ...pc, ...(apiKey !== undefined ? { api_key: apiKey } : {}) }, { prices }));
      }
      providers = [...byName.values()];
      // Build the tokenizer's rank tables now, not on the first call (≈ 100 ms of CPU).
      if (cfg.defaults.primary) countText('warm up', cfg.defaults.primary);

      const keys = new KeyStore(ledger, now);
      const m = llmMetrics(ctx.metrics);
      const requests = counter(ctx.metrics, { name: 'openclaw_llm_requests_total', help: 'LLM requests by outcome', labelNames: ['provider', 'model', 'status'] as const });
      const remaining = gauge(ctx.metrics, { name: 'openclaw_llm_budget_remaining_usd', help: 'USD left in a budget window', labelNames: ['scope', 'window'] as const });
      const alerts = counter(ctx.metrics, { name: 'openclaw_llm_budget_alerts_total', help: 'Budget alert thresholds crossed', labelNames: ['scope', 'window'] as const });
      const tracer = trace.getTracer('openclaw');

      // Budget remaining per bounded scope: global, configured agents, keys. Refreshed after calls,
      // at most once per REFRESH_MS per scope (one query in flight; calls that settle meanwhile get
      // a trailing refresh), so a busy router does not pay a ledger read per request.
      const REFRESH_MS = 250;
      const refreshing = new Map<string, { again: boolean; last: number }>();
      const refresh = (scope: string, limits: { daily_limit_usd?: number | undefined; monthly_limit_usd?: number | undefined } | undefined) => {
        if (!limits || (limits.daily_limit_usd === undefined && limits.monthly_limit_usd === undefined)) return;
        const busy = refreshing.get(scope);
        if (busy) {
          busy.again = true;
          return;
        }
        const st = { again: false, last: lastRefresh.get(scope) ?? 0 };
        refreshing.set(scope, st);
        const run = async () => {
          do {
            const wait = st.last + REFRESH_MS - performance.now();
            if (wait > 0) await new Promise<void>((res) => setTimeout(res, wait).unref());
            st.again = false;
            st.last = performance.now();
            const cal = calendar(now(), cfg.budgets.timezone);
            for (const [window, limit, win] of [['daily', limits.daily_limit_usd, cal.day.win], ['monthly', limits.monthly_limit_usd, cal.month.win]] as const) {
              if (limit === undefined) continue;
              const b = router?.book.peek(scope, win, 'usd') ?? (await ledger.bucket(scope, win, 'usd'));
              remaining.set({ scope, window }, Math.max(0, limit - fromNano(b.used + b.reserved)));
            }
          } while (st.again);
        };
        void run()
          .catch(() => undefined)
          .finally(() => {
            lastRefresh.set(scope, st.last);
            refreshing.delete(scope);
          });
      };
      const lastRefresh = new Map<string, number>();
      refresh('global', cfg.budgets.global);
      for (const [agent, b] of Object.entries(cfg.budgets.per_agent)) refresh(`agent:${agent}`, b);

      const onAlert = (c: Crossed, rec: UsageRecord) => {
        const window = c.win.startsWith('d:') ? 'daily' : 'monthly';
        const msg = `LLM budget alert: ${c.scope} has used $${fromNano(c.used).toFixed(4)} of its ${window} $${fromNano(c.limit).toFixed(2)} (≥ ${c.pct}%); it resets at ${new Date(c.resetsAt).toISOString()}`;
        ctx.log('warning', msg, { scope: c.scope, window: c.win });
        alerts.inc({ scope: c.scope.startsWith('router:') || c.scope.startsWith('key:') || c.scope.startsWith('agent:') || c.scope === 'global' ? c.scope : 'other', window });
        void ctx.store
          .publish([{ id: `llm.budget_alert:${c.scope}:${c.win}`, name: 'llm.budget_alert', payload: { scope: c.scope, window, period: c.win.slice(2), used_usd: fromNano(c.used), limit_usd: fromNano(c.limit), alert_at_pct: c.pct, resets_at: new Date(c.resetsAt).toISOString(), agent: rec.agent, key: rec.keyId }, source: null, createdAt: now() }])
          .catch((err: Error) => ctx.log('warning', `could not publish llm.budget_alert: ${err.message}`));
      };

      const onRecord = (rec: UsageRecord, info: { crossed: Crossed[]; error?: Error; attempts: Attempt[] }) => {
        const agent = rec.agent ?? (rec.keyId ? `key:${rec.keyId}` : 'api');
        requests.inc({ provider: rec.provider ?? 'none', model: rec.model, status: rec.cacheHit ? 'cache_hit' : rec.status });
        if (rec.inputTokens) m.tokens.inc({ agent, model: rec.model, direction: 'input' }, rec.inputTokens);
        if (rec.outputTokens) m.tokens.inc({ agent, model: rec.model, direction: 'output' }, rec.outputTokens);
        if (rec.costUsd) m.cost.inc({ agent, model: rec.model }, rec.costUsd);
        if (rec.provider && !rec.cacheHit && rec.status === 'ok') m.latency.observe({ provider: rec.provider, model: rec.model }, rec.latencyMs / 1000);
        for (const c of info.crossed) onAlert(c, rec);
        ctx.services.audit.record({
          actor: rec.agent ? `agent:${rec.agent}` : rec.keyId ? `key:${rec.keyId}` : 'daemon',
          action: 'llm.call',
          target: rec.model,
          detail: { provider: rec.provider, status: rec.status, input_tokens: rec.inputTokens, output_tokens: rec.outputTokens, cost_usd: rec.costUsd, cache_hit: rec.cacheHit, stream: rec.stream, attempts: info.attempts.length },
        });
        const span = tracer.startSpan('llm.call', {
          startTime: rec.ts,
          attributes: {
            'gen_ai.request.model': rec.model,
            'gen_ai.system': rec.provider ?? 'none',
            'gen_ai.usage.input_tokens': rec.inputTokens,
            'gen_ai.usage.output_tokens': rec.outputTokens,
            'openclaw.agent': rec.agent ?? '',
            'openclaw.llm.cost_usd': rec.costUsd,
            'openclaw.llm.status': rec.status,
            'openclaw.llm.cache_hit': rec.cacheHit,
          },
        });
        if (info.error) span.setStatus({ code: SpanStatusCode.ERROR, message: info.error.message });
        span.end(rec.ts + rec.latencyMs);
        refresh('global', cfg.budgets.global);
        if (rec.agent) refresh(`agent:${rec.agent}`, cfg.budgets.per_agent[rec.agent]);
        const k = rec.keyId ? keys.seen(rec.keyId) : undefined;
        if (k) refresh(`key:${k.id}`, { daily_limit_usd: k.budgetDailyUsd ?? undefined, monthly_limit_usd: k.budgetMonthlyUsd ?? undefined });
      };

      let r!: LlmRouter;
      const cache = new ResponseCache(
        cfg.cache,
        ledger,
        cfg.cache.semantic.enabled ? async (model, text) => (await r.embed({ model, input: [text] }, { cache: false })).vectors[0]! : null,
        now,
      );
      r = router = new LlmRouter({
        config: cfg,
        providers: byName,
        ledger,
        price: (model) => prices.info(model),
        prepareInput: (req) => {
          const maxOut = capOutput(req.maxTokens, prices.info(req.model)?.maxOutput || undefined, cfg.limits.max_output_tokens);
          const limit = cfg.limits.max_input_tokens ?? inputLimitFor(req.model, maxOut);
          if (limit === undefined) {
            const c = countMessages(req.messages, req.model, req.tools);
            return { request: req, inputTokens: c.tokens, estimated: c.estimated };
          }
          const fit = fitInput(req.messages, { model: req.model, maxInputTokens: limit, policy: cfg.limits.input_policy, ...(cfg.limits.upgrade_model ? { upgradeModel: cfg.limits.upgrade_model } : {}), ...(req.tools ? { tools: req.tools } : {}) });
          return { request: { ...req, messages: fit.messages, model: fit.model }, inputTokens: fit.count.tokens, estimated: fit.count.estimated };
        },
        countText: (model, text) => countText(text, model).tokens,
        cache,
        now,
        onRecord,
      });

      ctx.routes((app) => {
        v1Routes(app, { router: r, keys, ledger, now });
        managementRoutes(app, { router: r, keys, ledger, now });
      });

      const complete = async (request: AgentLlmRequest, agent: string | null, where: string, runId: string | null = null): Promise<AgentLlmCompletion> => {
        const { req, opts } = toRequest(request, where);
        const res = await r.complete(req, { ...opts, agent, runId, router: agent ? routerScope(agent, request) : null });
        const out: AgentLlmCompletion = {
          text: res.text,
          usage: {
            input_tokens: res.usage.inputTokens,
            output_tokens: res.usage.outputTokens,
            cached_tokens: res.usage.cachedInputTokens,
            total_tokens: res.usage.inputTokens + res.usage.outputTokens,
            cost_usd: res.costUsd,
            ...(res.estimated ? { estimated: true } : {}),
          },
          model: res.model,
          provider: res.provider,
          latency_ms: res.latencyMs,
          cache: res.cache,
        };
        if (req.json) {
          try {
            out.json = JSON.parse(res.text.trim().replace(/^```(?:json)?\s*|\s*```$/g, ''));
          } catch {
            // Left undefined: the text is there for the agent to inspect.
          }
        }
        return out;
      };

      ctx.services.llm = {
        complete: async (request, caller) => {
          const res = await complete(request as AgentLlmRequest, caller.agent ?? null, caller.workflow ? `workflow '${caller.workflow}'` : 'llm');
          return { text: res.text, json: res.json, model: res.model, usage: res.usage };
        },
      };

      // ---- agent RPC ----------------------------------------------------------------------
      const owner = (c: RpcCaller) => c.instanceId;
      ctx.rpc('llm.complete', async (req, caller) => complete(req.request as AgentLlmRequest, caller.agent, `agent '${caller.agent}': this.llm.complete`, runIdOf(req)));

      ctx.rpc('llm.stream', async (req, caller) => {
        const request = req.request as AgentLlmRequest;
        const { req: chat, opts } = toRequest(request, `agent '${caller.agent}': this.llm.stream`);
        const id = randomUUID();
        const abort = new AbortController();
        const gen = r.stream(chat, { ...opts, agent: caller.agent, runId: runIdOf(req), router: routerScope(caller.agent, request), signal: abort.signal });
        const s: StreamSession = { owner: owner(caller), gen, chunks: [], done: false, error: null, final: null, wake: null, space: null, lastPull: now(), abort };
        streams.set(id, s);
        void (async () => {
          try {
            for await (const ev of s.gen) {
              if (ev.type === 'text' && ev.text) s.chunks.push(ev.text);
              else if (ev.type === 'done') {
                s.final = { text: '', usage: { input_tokens: ev.usage.inputTokens, output_tokens: ev.usage.outputTokens, cached_tokens: ev.usage.cachedInputTokens, total_tokens: ev.usage.inputTokens + ev.usage.outputTokens, cost_usd: ev.costUsd }, model: ev.model, provider: ev.provider, latency_ms: ev.latencyMs, cache: null };
              }
              s.wake?.();
              // Backpressure: an agent that reads slowly holds the upstream stream, not the daemon's memory.
              if (s.chunks.length >= 256) await new Promise<void>((res) => (s.space = res));
              if (s.abort.signal.aborted) break;
            }
          } catch (err) {
            s.error = err as Error;
          } finally {
            s.done = true;
            s.wake?.();
          }
        })();
        return { streamId: id };
      });

      ctx.rpc('llm.stream.next', async (req, caller) => {
        const s = streams.get(String(req.streamId));
        if (!s || s.owner !== owner(caller)) throw new OpenClawError('llm_stream_not_found', `stream ${String(req.streamId)} is not open (it ended, was cancelled, or idled out after 60 s without a read)`, { status: 404 });
        s.lastPull = now();
        if (s.chunks.length === 0 && !s.done) await new Promise<void>((res) => (s.wake = res));
        s.wake = null;
        const chunks = s.chunks.splice(0);
        s.space?.();
        s.space = null;
        if (chunks.length === 0 && s.done) {
          streams.delete(String(req.streamId));
          if (s.error) throw s.error;
          return { chunks, done: true, final: s.final };
        }
        return { chunks, done: false };
      });

      ctx.rpc('llm.stream.cancel', async (req, caller) => {
        const id = String(req.streamId);
        const s = streams.get(id);
        if (!s || s.owner !== owner(caller)) return { cancelled: false };
        cancel(id, s, 'the agent stopped reading');
        return { cancelled: true };
      });

      timers.push(
        setInterval(() => {
          void r.book
            .sweep(now())
            .catch((err: Error) => ctx.log('warning', `LLM ledger sweep failed: ${err.message}`));
        }, 60_000),
        setInterval(() => {
          const t = now();
          for (const [id, s] of streams) {
            if (t - s.lastPull > 60_000) cancel(id, s, 'no read for 60 s');
          }
        }, 10_000),
      );
      for (const t of timers) t.unref();
      ctx.log('info', `LLM router: ${byName.size} provider(s), ${r.models().length} model(s)${cfg.defaults.primary ? `, primary ${cfg.defaults.primary}` : ''}`);
    },
    async stop(): Promise<void> {
      for (const t of timers.splice(0)) clearInterval(t);
      for (const [id, s] of streams) cancel(id, s, 'the daemon is stopping');
      await Promise.all(providers.map((p) => p.close().catch(() => undefined)));
      await router?.book.close().catch(() => undefined);
      router = null;
      void router;
    },
  };
}
