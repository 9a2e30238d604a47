// `new LLMRouter({ primary, fallback, budget, max_retries, timeout })` for agent code (seed 003 §10).
//
//   import { Agent, LLMRouter } from 'openclaw-runtime';
//   class SmartAnalyzer extends Agent {
//     router = new LLMRouter({ name: 'analysis', primary: 'gpt-4o', fallback: ['claude-3.5-sonnet'], budget: { daily_limit_usd: 50 } });
//     async run() { const a = await this.router.complete({ messages: [...], max_tokens: 2000 }); }
//   }
//
// Its calls go through the daemon's router like this.llm (same providers, global and agent budgets,
// the caller's identity taken from the RPC, never from the worker) and add the router's own budget,
// kept in the ledger as scope 'router:AGENT/NAME'. It only works inside an agent under the runtime.
import { checkOptions } from '../util/options.js';
import { OpenClawError } from '../util/errors.js';
import type { LlmApi, LlmCompletion, LlmRequest } from '../agents/context.js';

export interface LLMRouterBudget {
  daily_limit_usd?: number;
  monthly_limit_usd?: number;
  alert_at_pct?: number;
}

export interface LLMRouterOptions {
  /** Names the router's own budget scope (default 'default'); two routers with one name share it. */
  name?: string;
  primary: string;
  fallback?: string[];
  budget?: LLMRouterBudget;
  /** Retries of one model on 429 / 5xx / connection errors (default llm.defaults.max_retries). */
  max_retries?: number;
  /** Seconds (number) or a duration ('30s'). */
  timeout?: number | string;
  /** No fallback for any call of this router. */
  strict?: boolean;
}

interface WorkerLlm {
  llmComplete(prompt: unknown, router?: Record<string, unknown>): Promise<LlmCompletion>;
  llmStream(prompt: unknown, router?: Record<string, unknown>): AsyncIterable<string>;
}

function current(): WorkerLlm {
  const hook = (globalThis as Record<symbol, unknown>)[Symbol.for('openclaw.llm.current')] as (() => WorkerLlm | undefined) | undefined;
  const inst = hook?.();
  if (!inst) {
    throw new OpenClawError(
      'llm_no_agent',
      hook
        ? 'LLMRouter calls must happen inside a run (setup, run, an event handler): the daemon charges them to the agent whose run is in progress'
        : 'LLMRouter only works inside an agent run by the OpenClaw runtime (openclaw dev / openclaw daemon start)',
      { status: 400 },
    );
  }
  return inst;
}

/** A budget helper matching the seed's `Budget(daily_limit_usd=…)`. */
export function Budget(b: LLMRouterBudget): LLMRouterBudget {
  return { ...b };
}

const ROUTER_OPTIONS = Object.keys({ name: 1, primary: 1, fallback: 1, budget: 1, max_retries: 1, timeout: 1, strict: 1 } satisfies Record<keyof LLMRouterOptions, 1>);
const BUDGET_OPTIONS = Object.keys({ daily_limit_usd: 1, monthly_limit_usd: 1, alert_at_pct: 1 } satisfies Record<keyof LLMRouterBudget, 1>);

export class LLMRouter implements LlmApi {
  private readonly wire: Record<string, unknown>;

  constructor(readonly options: LLMRouterOptions) {
    checkOptions('new LLMRouter()', options, ROUTER_OPTIONS);
    checkOptions('new LLMRouter(): budget', options?.budget, BUDGET_OPTIONS);
    if (!options || typeof options.primary !== 'string' || options.primary === '') {
      throw new OpenClawError('llm_router_invalid', "new LLMRouter({ primary: 'gpt-4o', ... }): primary (a model name) is required", { status: 400 });
    }
    for (const k of ['daily_limit_usd', 'monthly_limit_usd'] as const) {
      const v = options.budget?.[k];
      if (v !== undefined && (typeof v !== 'number' || !(v >= 0))) throw new OpenClawError('llm_router_invalid', `new LLMRouter: budget.${k} must be a non-negative number of USD (got ${String(v)})`, { status: 400 });
    }
    this.wire = structuredClone({ ...options, fallback: options.fallback ?? [] }) as unknown as Record<string, unknown>;
  }

  private request(prompt: string | LlmRequest): LlmRequest {
    const r: LlmRequest = typeof prompt === 'string' ? { prompt } : { ...prompt };
    if (r.model === undefined) r.model = this.options.primary;
    if (r.strict === undefined && this.options.strict !== undefined) r.strict = this.options.strict;
    return r;
  }

  complete(prompt: string | LlmRequest): Promise<LlmCompletion> {
    return current().llmComplete(this.request(prompt), this.wire);
  }

  stream(prompt: string | LlmRequest): AsyncIterable<string> {
    return current().llmStream(this.request(prompt), this.wire);
  }
}
