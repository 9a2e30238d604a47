// The base class of every module agent. It holds no logic of its own: each service (`this.state`,
// `this.emit`, `this.llm`, …) is a thin view of the AgentRuntimeContext the runtime attaches
// before setup(). The runtime constructs the class with no arguments, calls `__attach(ctx)`, then
// setup(), run() on schedule or trigger, @on handlers per event, and teardown() on stop.
import { checkOptions } from '../util/options.js';
import { randomUUID } from 'node:crypto';
import type { AgentRuntimeContext, EmitOptions, JobsApi, StreamsApi, LlmApi, Logger, Metrics, SharedStateApi, StateApi } from './context.js';
import { HttpClient } from '../tools/http.js';
import { OpenClawError } from '../util/errors.js';

/** Marks Agent subclasses, across copies of the SDK (src/ vs dist/, two installs). */
export const AGENT_CLASS_BRAND: unique symbol = Symbol.for('openclaw.agent.class') as never;

/** An event delivered to an @on handler. */
export interface AgentEvent<T = any> {
  id: string;
  name: string;
  data: T;
  /** The emitting agent, or null for events published through the API/CLI. */
  source: string | null;
  createdAt: number;
  /** 1 on first delivery; higher when redelivered after a failure. */
  attempt: number;
}

/** What started the invocation in progress. */
export interface TriggerInfo {
  runId: string;
  kind: string;
  payload?: unknown;
  scheduledAt?: number | null;
}

/**
 * `this.config`: the agent's `config:` block from openclaw.yaml, read-only.
 * Both `this.config.get('targets', [])` and `this.config.slack_webhook` work.
 */
export type AgentConfigView = {
  /** The value at `key` (dots walk into objects: 'slack.channel'), or `fallback` when absent or null. */
  get<T = any>(key: string, fallback?: T): T;
  has(key: string): boolean;
  toJSON(): Record<string, unknown>;
  readonly [key: string]: any;
};

export type HandlerMap = Record<string, string | string[]>;

function notAttached(what: string): OpenClawError {
  return new OpenClawError(
    'agent_not_attached',
    `this.${what}: agent services are available from setup() on; do not use them in the constructor or in field initialisers`,
    { status: 500 },
  );
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

function lookup(obj: Record<string, unknown>, key: string): unknown {
  if (Object.prototype.hasOwnProperty.call(obj, key)) return obj[key];
  if (!key.includes('.')) return undefined;
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Builds the read-only config view. Exported for tests and the runtime's own use. */
export function createConfigView(config: Record<string, unknown>): AgentConfigView {
  // A private deep copy: agent code cannot change what the daemon holds, nor see later changes.
  const data = deepFreeze(structuredClone(config ?? {})) as Record<string, unknown>;
  const methods = {
    get: (key: string, fallback?: unknown) => {
      const v = lookup(data, key);
      return v === undefined || v === null ? fallback : v;
    },
    has: (key: string) => lookup(data, key) !== undefined,
    toJSON: () => data,
  };
  const readOnly = (): never => {
    throw new OpenClawError('config_read_only', 'this.config is read-only (it is the agent\'s config: block in openclaw.yaml); keep changing values in fields or this.state', {
      status: 500,
    });
  };
  return new Proxy(data, {
    get(target, prop) {
      if (prop === 'get' || prop === 'has' || prop === 'toJSON') return methods[prop];
      return Reflect.get(target, prop);
    },
    has(target, prop) {
      return Reflect.has(target, prop);
    },
    set: readOnly,
    defineProperty: readOnly,
    deleteProperty: readOnly,
    setPrototypeOf: readOnly,
  }) as unknown as AgentConfigView;
}

export abstract class Agent {
  static readonly [AGENT_CLASS_BRAND] = true;

  #ctx: AgentRuntimeContext | null = null;
  #config: AgentConfigView | null = null;
  #http: HttpClient | null = null;

  /**
   * Called by the runtime once, before setup(). Not part of the agent author's API.
   * @internal
   */
  __attach(ctx: AgentRuntimeContext): void {
    if (!ctx || typeof ctx !== 'object' || !ctx.state || typeof ctx.emit !== 'function') {
      throw new OpenClawError('agent_invalid_context', 'Agent.__attach(): expected an AgentRuntimeContext', { status: 500 });
    }
    this.#ctx = ctx;
    this.#config = createConfigView(ctx.config);
  }

  #need(what: string): AgentRuntimeContext {
    if (!this.#ctx) throw notAttached(what);
    return this.#ctx;
  }

  // ---- identity -------------------------------------------------------------------------------

  /** The agent's name in openclaw.yaml. */
  get name(): string {
    return this.#need('name').agentName;
  }

  /** 0-based replica index. */
  get replica(): number {
    return this.#need('replica').replica;
  }

  /** "analyzer#0" */
  get instanceId(): string {
    return this.#need('instanceId').instanceId;
  }

  // ---- services --------------------------------------------------------------------------------

  /** This agent's persistent key–value state; a run's writes commit with its emits. */
  get state(): StateApi {
    return this.#need('state').state;
  }

  /** The shared namespace, writable by every agent. */
  get sharedState(): SharedStateApi {
    return this.#need('sharedState').sharedState;
  }

  get config(): AgentConfigView {
    this.#need('config');
    return this.#config!;
  }

  get logger(): Logger {
    return this.#need('logger').logger;
  }

  get metrics(): Metrics {
    return this.#need('metrics').metrics;
  }

  get llm(): LlmApi {
    return this.#llm ?? this.#need('llm').llm;
  }

  /** `this.llm = new LLMRouter({...})` (seed 003 §10) replaces the default for this agent. */
  set llm(api: LlmApi) {
    this.#llm = api;
  }

  #llm: LlmApi | null = null;

  /**
   * Background jobs: `await this.jobs.enqueue('resize-image', { file }, { priority: 5 })`. An
   * enqueue is part of the run: it commits with the run's state writes, or not at all.
   */
  get jobs(): JobsApi {
    const j = this.#need('jobs').jobs;
    if (!j) throw new OpenClawError('jobs_unavailable', 'this.jobs is not available in this context (the runtime provides it to agents run by the daemon)', { status: 500 });
    return j;
  }

  /**
   * Streams: `await this.streams.append('logs', [{ service, level, ts }])`. The append is part of
   * the run: it commits with the run's state writes, or not at all.
   */
  get streams(): StreamsApi {
    const s = this.#need('streams').streams;
    if (!s) throw new OpenClawError('streams_unavailable', 'this.streams is not available in this context (the runtime provides it to agents run by the daemon)', { status: 500 });
    return s;
  }

  /** Aborted when the agent is asked to stop or the current invocation passes its deadline. */
  get signal(): AbortSignal {
    return this.#need('signal').signal;
  }

  /**
   * An HttpClient made on first use (15 s timeout, 2 retries) whose requests are cancelled when
   * the agent stops. Assign your own in setup() to change its settings.
   */
  get http(): HttpClient {
    if (!this.#http) {
      const ctx = this.#need('http');
      this.#http = new HttpClient({ signal: () => ctx.signal });
    }
    return this.#http;
  }

  set http(client: HttpClient) {
    this.#http = client;
  }

  /** The invocation in progress (run id, what triggered it, a manual trigger's payload), or null. */
  get trigger(): TriggerInfo | null {
    return this.#need('trigger').current();
  }

  /**
   * Publishes an event on the bus. Committed with the run's state writes, delivered after.
   * `key`: consumers with `events.ordering: key` handle events of one key one at a time, in order.
   */
  emit(name: string, data?: unknown, opts?: EmitOptions): Promise<void> {
    // Not `async`: an emit is buffered synchronously, and each async frame is a promise (with the
    // async hooks of the run's context, a costly one) per emitted event. Errors still reject.
    try {
      if (typeof name !== 'string' || name.trim() === '') {
        throw new OpenClawError('bad_request', `this.emit(): the event name must be a non-empty string, got ${JSON.stringify(name)}`, { status: 400 });
      }
      if (opts !== undefined) checkOptions(`this.emit('${name}', data, options)`, opts, ['key']);
      if (opts?.key !== undefined && (typeof opts.key !== 'string' || opts.key === '')) {
        throw new OpenClawError('bad_request', `this.emit('${name}'): the ordering key must be a non-empty string, got ${JSON.stringify(opts.key)}`, { status: 400 });
      }
      return this.#need('emit').emit(name, data, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- time and ids -------------------------------------------------------------------------

  /** Epoch milliseconds from the runtime's clock. */
  now(): number {
    return this.#need('now').now();
  }

  nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  generateId(): string {
    return randomUUID();
  }

  // ---- lifecycle (override what you need) --------------------------------------------------

  /** Once per start, before the first run or event. Throwing fails the start (and the restart policy applies). */
  async setup(): Promise<void> {}

  /** One scheduled or triggered run. */
  async run(): Promise<void> {}

  /** On graceful stop, after in-flight work drained. */
  async teardown(): Promise<void> {}

  /** Called with an error thrown by run() or a handler, before the runtime records it. */
  async onError(_error: unknown): Promise<void> {}

  /** Liveness probe: false (or a throw) counts as a failure; the supervisor restarts after the threshold. */
  liveness(): boolean | Promise<boolean> {
    return true;
  }

  /** Readiness probe: false pauses event delivery to this instance. */
  readiness(): boolean | Promise<boolean> {
    return true;
  }
}

/** A concrete Agent subclass, as the runtime sees it. */
export type AgentClass = (new () => Agent) & {
  schedule?: unknown;
  handlers?: HandlerMap;
  /** `static jobs = { 'resize-image': 'resize' }` or `{ 'resize-image': { method: 'resize', concurrency: 4 } }`. */
  jobs?: Record<string, string | ({ method: string } & Record<string, unknown>)>;
};
