// An in-memory AgentRuntimeContext: AgentRuntimeContext is our own interface (the runtime builds
// the real one), so the SDK's behaviour over it can be pinned without a worker or a database.
import type { AgentRuntimeContext, ReadOnlyState } from '../../../src/agents/context.js';

export interface FakeContext extends AgentRuntimeContext {
  store: Map<string, unknown>;
  shared: Map<string, unknown>;
  others: Record<string, Record<string, unknown>>;
  emitted: Array<{ name: string; data: unknown }>;
  logs: Array<{ level: string; msg: string; fields?: Record<string, unknown> }>;
  samples: Array<{ kind: string; name: string; value: number }>;
  prompts: unknown[];
  controller: AbortController;
  clock: { t: number };
  currentRun: ReturnType<AgentRuntimeContext['current']>;
}

export function fakeContext(init: { agentName?: string; config?: Record<string, unknown>; replica?: number } = {}): FakeContext {
  const store = new Map<string, unknown>();
  const shared = new Map<string, unknown>();
  const others: Record<string, Record<string, unknown>> = {};
  const emitted: FakeContext['emitted'] = [];
  const logs: FakeContext['logs'] = [];
  const samples: FakeContext['samples'] = [];
  const prompts: unknown[] = [];
  const controller = new AbortController();
  const clock = { t: Date.UTC(2026, 3, 18, 14, 30, 0) };
  const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => void logs.push({ level, msg, fields });

  const ctx: FakeContext = {
    agentName: init.agentName ?? 'test-agent',
    instanceId: `${init.agentName ?? 'test-agent'}#${init.replica ?? 0}`,
    replica: init.replica ?? 0,
    config: init.config ?? {},
    store,
    shared,
    others,
    emitted,
    logs,
    samples,
    prompts,
    controller,
    clock,
    currentRun: null,
    state: {
      async get(key, fallback) {
        return (store.has(key) ? clone(store.get(key)) : fallback) as never;
      },
      async set(key, value) {
        store.set(key, clone(value));
      },
      async delete(key) {
        store.delete(key);
      },
      async has(key) {
        return store.has(key);
      },
      async keys(prefix = '') {
        return [...store.keys()].filter((k) => k.startsWith(prefix));
      },
      async readFrom(agent): Promise<ReadOnlyState> {
        const snap = clone(others[agent] ?? {});
        return {
          get: (key, fallback) => (key in snap ? snap[key] : fallback) as never,
          keys: () => Object.keys(snap),
          toJSON: () => snap,
        };
      },
      async checkpoint() {},
    },
    sharedState: {
      async get(key, fallback) {
        return (shared.has(key) ? clone(shared.get(key)) : fallback) as never;
      },
      async set(key, value) {
        shared.set(key, clone(value));
      },
      async delete(key) {
        shared.delete(key);
      },
      async keys(prefix = '') {
        return [...shared.keys()].filter((k) => k.startsWith(prefix));
      },
    },
    async emit(name, data) {
      emitted.push({ name, data: clone(data) });
    },
    logger: { debug: log('debug'), info: log('info'), warning: log('warning'), warn: log('warning'), error: log('error') },
    metrics: {
      counter: (name, inc = 1) => void samples.push({ kind: 'counter', name, value: inc }),
      gauge: (name, value) => void samples.push({ kind: 'gauge', name, value }),
      histogram: (name, value) => void samples.push({ kind: 'histogram', name, value }),
    },
    llm: {
      async complete(prompt) {
        prompts.push(prompt);
        const text = `summary of ${typeof prompt === 'string' ? prompt.length : 0} chars`;
        return {
          text,
          model: 'fake-model',
          provider: 'fake',
          usage: { input_tokens: 10, output_tokens: 5, cached_tokens: 0, total_tokens: 15, cost_usd: 0 },
          latency_ms: 1,
          toString: () => text,
        };
      },
      async *stream() {
        yield 'x';
      },
    },
    get signal() {
      return controller.signal;
    },
    now: () => clock.t,
    current() {
      return ctx.currentRun;
    },
  };
  return ctx;
}
