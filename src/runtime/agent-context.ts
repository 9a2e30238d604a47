// Worker side: the AgentRuntimeContext one agent instance sees (this.state, this.emit, …).
//
// A run is a transaction (ARCHITECTURE.md): writes and emits go to a per-run buffer that reads see,
// and come back in the InvocationResult for the daemon to commit. The buffer belongs to the run, not
// to the instance, because an instance may handle several events at once: AsyncLocalStorage carries
// the current run through awaits and timers started inside it.
import { checkOptions } from '../util/options.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { uuidv7 } from '../util/ids.js';
import { format } from 'node:util';
import type {
  AgentRuntimeContext,
  JobsApi,
  StreamsApi,
  LlmApi,
  LlmCompletion,
  LlmRequest,
  Logger,
  Metrics,
  ReadOnlyState,
  SharedStateApi,
  StateApi,
} from '../agents/context.js';
import type { AgentSpec, EmittedEvent, Invocation, LogLine, MetricSample, RpcRequest, RpcTrace, RunIntent } from './protocol.js';
import { normalizeEnqueue } from '../jobs/options.js';
import type { EnqueueRequest } from '../jobs/types.js';
import { SHARED_NAMESPACE, type StateEntry, type StateRead, type StateWrite } from '../store/types.js';
import { OpenClawError } from '../util/errors.js';
import { parseDuration } from '../agents/schedule.js';
import { DEFAULT_MAX_LOG_LINES_PER_SECOND, LogRateLimiter, truncateLine } from './log-flood.js';
import { InstanceGuard } from '../security/guardrails/worker.js';

/** One invocation in progress: its buffer and what it read. */
export class RunScope {
  /** Latest write per namespace/key; Map order keeps first-write order, last value wins. */
  readonly writes = new Map<string, StateWrite>();
  readonly reads = new Map<string, StateRead>();
  emits: EmittedEvent[] = [];
  /** Subsystem work committed with the run (job enqueues). */
  intents: RunIntent[] = [];

  private composed: AbortSignal | null = null;

  constructor(
    readonly instance: InstanceContext,
    readonly inv: Invocation,
    /** The run's abort sources (instance, deadline, run); combined only when agent code asks. */
    private readonly sources: AbortSignal[],
  ) {}

  /**
   * The run's signal. Built on first use: most runs never look at it, and AbortSignal.any() per
   * run was measurable CPU per event (bench/events). A source aborted before that shows as aborted.
   */
  get signal(): AbortSignal {
    return (this.composed ??= this.sources.length === 1 ? this.sources[0]! : AbortSignal.any(this.sources));
  }

  clear(): void {
    this.writes.clear();
    this.reads.clear();
    this.emits = [];
    this.intents = [];
  }
}

export const runStorage = new AsyncLocalStorage<RunScope>();

/** What the context needs from the worker: a way to call the daemon and to ship output. */
export interface WorkerLink {
  rpc(instanceId: string, req: RpcRequest): Promise<unknown>;
  log(line: LogLine): void;
  metric(instanceId: string, agent: string, sample: MetricSample): void;
  /** Called when a line was dropped, so the drop count is reported on the next flush. */
  dropped(): void;
}

const LEVELS = { debug: 10, info: 20, warning: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

const k = (ns: string, key: string) => `${ns}\u0000${key}`;

/** TTL as accepted by state.set: '10m' | seconds as a number | { ms }. Returns milliseconds. */
export function parseTtl(ttl: unknown): number {
  if (typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0) return ttl * 1000;
  if (typeof ttl === 'string') {
    const ms = parseDuration(ttl);
    if (ms !== null && ms > 0) return ms;
  }
  if (ttl && typeof ttl === 'object' && typeof (ttl as { ms?: unknown }).ms === 'number' && (ttl as { ms: number }).ms > 0) {
    return (ttl as { ms: number }).ms;
  }
  throw new OpenClawError('state_ttl_invalid', `invalid ttl ${JSON.stringify(ttl)}: use a duration such as '30s', '10m', '1h', or a number of seconds`, { status: 400 });
}

function cloneValue(what: string, value: unknown): unknown {
  if (value === undefined) throw new OpenClawError('state_value_invalid', `${what}: value is undefined; use state.delete() to remove a key`, { status: 400 });
  try {
    if (JSON.stringify(value) === undefined) throw new Error('not representable as JSON');
    return structuredClone(value);
  } catch (err) {
    throw new OpenClawError('state_value_invalid', `${what}: value must be JSON-serialisable (${(err as Error).message})`, { status: 400 });
  }
}

function isLive(e: StateEntry | null | undefined, now: number): e is StateEntry {
  return !!e && (e.expiresAt == null || e.expiresAt > now);
}

/** Writes of finished runs kept until the daemon says whether (and at which version) they committed. */
const MAX_UNCONFIRMED_RUNS = 512;

/** What a buffered emit returns: one settled promise, shared. */
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Per-namespace read cache, valid while the namespace's committed version does not move — except
 * by this instance's own commits: a commit that moved a namespace from exactly the version the
 * cache holds to the next one was the only change, so its writes are folded in (item 4 of issue 9:
 * reading back what the run just wrote or checkpointed costs no RPC).
 */
class ReadCache {
  private readonly namespaces = new Map<string, { version: number; entries: Map<string, StateEntry | null> }>();
  private readonly unconfirmed = new Map<string, StateWrite[]>();

  /** A run finished with these writes; they apply if the daemon later reports its commit. */
  finished(runId: string, writes: StateWrite[]): void {
    if (writes.length === 0) return;
    this.unconfirmed.set(runId, writes);
    if (this.unconfirmed.size > MAX_UNCONFIRMED_RUNS) this.unconfirmed.delete(this.unconfirmed.keys().next().value!);
  }

  /** Applies own commits (in commit order): the run's writes at the version its commit produced. */
  committed(commits: Array<{ runId: string; versions: Record<string, number> }>): void {
    for (const c of commits) {
      const writes = this.unconfirmed.get(c.runId) ?? [];
      this.unconfirmed.delete(c.runId);
      this.applyOwn(writes, c.versions);
    }
  }

  /** Folds committed writes in where the commit was the namespace's next version; drops it otherwise. */
  applyOwn(writes: StateWrite[], versions: Record<string, number>): void {
    for (const [ns, v] of Object.entries(versions)) {
      const cur = this.namespaces.get(ns);
      if (!cur || cur.version !== v - 1) {
        this.namespaces.delete(ns);
        continue;
      }
      cur.version = v;
      for (const w of writes) {
        if (w.namespace !== ns) continue;
        cur.entries.set(w.key, w.deleted ? null : { key: w.key, value: structuredClone(w.value), version: v, expiresAt: w.expiresAt ?? null });
      }
    }
  }

  /** Called at each invocation with the committed versions the daemon knows. */
  sync(versions: Record<string, number>): void {
    for (const [ns, v] of Object.entries(versions)) {
      const cur = this.namespaces.get(ns);
      if (!cur || cur.version !== v) this.namespaces.set(ns, { version: v, entries: new Map() });
    }
  }

  get(ns: string, key: string): StateEntry | null | undefined {
    return this.namespaces.get(ns)?.entries.get(key);
  }

  put(ns: string, key: string, entry: StateEntry | null): void {
    this.namespaces.get(ns)?.entries.set(key, entry);
  }

  drop(ns: string): void {
    this.namespaces.delete(ns);
  }
}

/** The per-instance half: identity, cache, logger, metrics, abort; runs come and go. */
export class InstanceContext {
  readonly cache = new ReadCache();
  readonly abortController = new AbortController();
  readonly limiter: LogRateLimiter;
  readonly context: AgentRuntimeContext;
  /** Rate limits and network policy (security guardrails), enforced at the call site. */
  readonly guard: InstanceGuard;
  private readonly minLevel: number;

  constructor(
    readonly spec: AgentSpec,
    private readonly link: WorkerLink,
  ) {
    this.limiter = new LogRateLimiter(spec.maxLogLinesPerSecond ?? DEFAULT_MAX_LOG_LINES_PER_SECOND);
    this.minLevel = LEVELS[spec.logLevel] ?? LEVELS.info;
    this.guard = new InstanceGuard(spec.agent, spec.guardrails, async (limit, call) => void (await this.rpc({ op: 'guardrails.take', limit, call })));
    this.context = this.build();
  }

  /** The run in progress for this instance (from AsyncLocalStorage), if any. */
  scope(): RunScope | undefined {
    const s = runStorage.getStore();
    return s && s.instance === this ? s : undefined;
  }

  private requireScope(what: string): RunScope {
    const s = this.scope();
    if (!s) {
      throw new OpenClawError(
        'no_run_in_progress',
        `${what} was called outside a run (setup, run, an event handler or teardown); state changes and events belong to a run`,
        { status: 400 },
      );
    }
    return s;
  }

  log(level: Level, msg: unknown, fields?: Record<string, unknown>, stream?: 'stdout' | 'stderr'): void {
    if (LEVELS[level] < this.minLevel) return;
    const now = Date.now();
    if (!this.limiter.admit(now)) {
      this.link.dropped();
      return;
    }
    const line: LogLine = {
      time: now,
      level,
      agent: this.spec.agent,
      instance: this.spec.instanceId,
      msg: truncateLine(typeof msg === 'string' ? msg : format(msg)),
    };
    const inv = this.scope()?.inv;
    if (inv?.runId) line.runId = inv.runId;
    if (inv?.traceparent) {
      line.traceId = inv.traceparent.slice(3, 35);
      line.spanId = inv.traceparent.slice(36, 52);
    }
    if (fields !== undefined) line.fields = cloneableFields(fields);
    if (stream) line.stream = stream;
    this.link.log(line);
  }

  private rpc(req: RpcRequest): Promise<unknown> {
    // A traced run's state reads join its trace on the daemon side (RpcTrace).
    const traceparent = this.scope()?.inv.traceparent;
    return this.link.rpc(this.spec.instanceId, traceparent ? ({ ...req, traceparent } as RpcRequest & RpcTrace) : req);
  }

  // ---- state -----------------------------------------------------------------------------

  private async getEntry(ns: string, key: string, cacheable: boolean): Promise<StateEntry | null> {
    let entry = cacheable ? this.cache.get(ns, key) : undefined;
    if (entry === undefined) {
      entry = ((await this.rpc({ op: 'state.get', namespace: ns, key })) as StateEntry | undefined) ?? null;
      if (cacheable) this.cache.put(ns, key, entry);
    }
    return entry;
  }

  private async stateGet(ns: string, key: string, fallback: unknown): Promise<unknown> {
    const scope = this.scope();
    const buffered = scope?.writes.get(k(ns, key));
    const now = Date.now();
    if (buffered) {
      const live = !buffered.deleted && (buffered.expiresAt == null || buffered.expiresAt > now);
      return live ? structuredClone(buffered.value) : fallback;
    }
    const entry = await this.getEntry(ns, key, true);
    if (scope && !scope.reads.has(k(ns, key))) scope.reads.set(k(ns, key), { namespace: ns, key, version: entry?.version ?? 0 });
    return isLive(entry, now) ? structuredClone(entry.value) : fallback;
  }

  private stateSet(ns: string, key: string, value: unknown, opts?: { ttl?: unknown }): void {
    const scope = this.requireScope('state.set');
    if (typeof key !== 'string' || key === '') throw new OpenClawError('state_key_invalid', 'state keys must be non-empty strings', { status: 400 });
    checkOptions(`${ns === SHARED_NAMESPACE ? 'this.sharedState' : 'this.state'}.set('${key}', value, options)`, opts, STATE_SET_KEYS);
    this.guard.wrote('set', key, ns === SHARED_NAMESPACE);
    const write: StateWrite = { namespace: ns, key, value: cloneValue(`state.set('${key}')`, value) };
    if (opts?.ttl !== undefined && opts.ttl !== null) write.expiresAt = Date.now() + parseTtl(opts.ttl);
    const id = k(ns, key);
    scope.writes.delete(id); // keep the last write at the end: "applied in order, last wins"
    scope.writes.set(id, write);
  }

  private stateDelete(ns: string, key: string): void {
    const scope = this.requireScope('state.delete');
    this.guard.wrote('delete', key, ns === SHARED_NAMESPACE);
    const id = k(ns, key);
    scope.writes.delete(id);
    scope.writes.set(id, { namespace: ns, key, deleted: true });
  }

  private async stateKeys(ns: string, prefix?: string): Promise<string[]> {
    const entries = (await this.rpc({ op: 'state.list', namespace: ns, ...(prefix ? { prefix } : {}) })) as StateEntry[];
    const now = Date.now();
    const keys = new Set<string>();
    for (const e of entries) {
      this.cache.put(ns, e.key, e);
      if (isLive(e, now)) keys.add(e.key);
    }
    for (const w of this.scope()?.writes.values() ?? []) {
      if (w.namespace !== ns || (prefix && !w.key.startsWith(prefix))) continue;
      if (w.deleted || (w.expiresAt != null && w.expiresAt <= now)) keys.delete(w.key);
      else keys.add(w.key);
    }
    return [...keys].sort();
  }

  private async readFrom(agent: string): Promise<ReadOnlyState> {
    const entries = (await this.rpc({ op: 'state.list', namespace: agent })) as StateEntry[];
    const now = Date.now();
    const snapshot: Record<string, unknown> = {};
    for (const e of entries) if (isLive(e, now)) snapshot[e.key] = e.value;
    Object.freeze(snapshot);
    return {
      get: <T>(key: string, fallback?: T) => (Object.hasOwn(snapshot, key) ? (structuredClone(snapshot[key]) as T) : (fallback as T)),
      keys: () => Object.keys(snapshot).sort(),
      toJSON: () => structuredClone(snapshot),
    };
  }

  private async checkpoint(): Promise<void> {
    const scope = this.requireScope('state.checkpoint');
    const writes = [...scope.writes.values()];
    const res = (await this.rpc({ op: 'state.checkpoint', runId: scope.inv.runId, writes, reads: [...scope.reads.values()], emits: scope.emits, ...(scope.intents.length ? { intents: scope.intents } : {}) })) as
      | { versions?: Record<string, number> }
      | undefined;
    // What we wrote is committed now: fold it into the cache at the version the commit produced
    // (where nobody else committed in between), so reading it back costs no RPC.
    if (res?.versions) this.cache.applyOwn(writes, res.versions);
    else for (const ns of new Set(writes.map((w) => w.namespace))) this.cache.drop(ns);
    scope.clear();
  }

  /** Buffers the event in the run; resolved at once (not `async`: no promise of its own per emit). */
  private emit(name: string, data?: unknown, opts?: { key?: string }): Promise<void> {
    try {
      this.bufferEmit(name, data, opts);
      return RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private bufferEmit(name: string, data?: unknown, opts?: { key?: string }): void {
    const scope = this.requireScope('emit');
    if (typeof name !== 'string' || name.trim() === '') {
      throw new OpenClawError('event_name_invalid', `emit(name, data): the event name must be a non-empty string, got ${JSON.stringify(name)}`, { status: 400 });
    }
    let cloned: unknown;
    try {
      cloned = structuredClone(data ?? null);
    } catch (err) {
      throw new OpenClawError('event_data_invalid', `emit('${name}'): data cannot be serialised (${(err as Error).message}); send plain data (objects, arrays, strings, numbers)`, { status: 400 });
    }
    this.guard.emitted(name);
    scope.emits.push({ id: uuidv7(), name, data: cloned, ...(opts?.key ? { key: opts.key } : {}) });
  }

  // ---- llm ---------------------------------------------------------------------------------

  /** this.llm.complete / an SDK LLMRouter: one RPC; the daemon knows who is calling. */
  async llmComplete(prompt: unknown, router?: Record<string, unknown>): Promise<LlmCompletion> {
    const request = llmRequest(prompt, 'llm.complete', router);
    const runId = this.scope()?.inv.runId;
    const res = (await this.rpc({ op: 'llm.complete', request, ...(runId ? { runId } : {}) })) as Omit<LlmCompletion, 'toString'>;
    return Object.defineProperty({ ...res }, 'toString', { value: () => res.text, enumerable: false }) as LlmCompletion;
  }

  /**
   * this.llm.stream: the daemon opens the stream and buffers its chunks; the worker pulls what has
   * arrived with one RPC per batch. Leaving the loop early (break, return, throw) cancels the call.
   */
  llmStream(prompt: unknown, router?: Record<string, unknown>): AsyncIterable<string> {
    const self = this;
    return {
      [Symbol.asyncIterator]() {
        let streamId: string | null = null;
        let buffered: string[] = [];
        let finished = false;
        const open = async () => {
          if (streamId === null) {
            const request = llmRequest(prompt, 'llm.stream', router);
            const runId = self.scope()?.inv.runId;
            streamId = ((await self.rpc({ op: 'llm.stream', request, ...(runId ? { runId } : {}) })) as { streamId: string }).streamId;
          }
          return streamId;
        };
        return {
          async next(): Promise<IteratorResult<string>> {
            while (buffered.length === 0) {
              if (finished) return { done: true, value: undefined };
              const id = await open();
              const res = (await self.rpc({ op: 'llm.stream.next', streamId: id })) as { chunks: string[]; done: boolean };
              buffered = res.chunks;
              if (res.done) finished = true;
            }
            return { done: false, value: buffered.shift()! };
          },
          async return(): Promise<IteratorResult<string>> {
            if (!finished && streamId !== null) {
              finished = true;
              await self.rpc({ op: 'llm.stream.cancel', streamId }).catch(() => undefined);
            }
            finished = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  // ---- jobs --------------------------------------------------------------------------------

  /** Validated here (a bad option throws at the call site), committed with the run by the daemon. */
  private enqueue(reqs: EnqueueRequest[], what: string): Array<{ id: string }> {
    const scope = this.requireScope(what);
    const jobs = reqs.map((r, i) => normalizeEnqueue(r, reqs.length > 1 ? `${what}[${i}]` : what));
    for (const j of jobs) scope.intents.push({ kind: 'jobs.enqueue', data: j });
    return jobs.map((j) => ({ id: j.id }));
  }

  private build(): AgentRuntimeContext {
    const self = this;
    const own = this.spec.agent;
    const state: StateApi = {
      get: <T>(key: string, fallback?: T) => self.stateGet(own, key, fallback) as Promise<T>,
      set: async (key, value, opts) => self.stateSet(own, key, value, opts),
      delete: async (key) => self.stateDelete(own, key),
      has: async (key) => {
        const none = Symbol('none');
        return (await self.stateGet(own, key, none)) !== none;
      },
      keys: (prefix) => self.stateKeys(own, prefix),
      readFrom: (agent) => self.readFrom(agent),
      checkpoint: () => self.checkpoint(),
    };
    const sharedState: SharedStateApi = {
      get: <T>(key: string, fallback?: T) => self.stateGet(SHARED_NAMESPACE, key, fallback) as Promise<T>,
      set: async (key, value, opts) => self.stateSet(SHARED_NAMESPACE, key, value, opts),
      delete: async (key) => self.stateDelete(SHARED_NAMESPACE, key),
      keys: (prefix) => self.stateKeys(SHARED_NAMESPACE, prefix),
    };
    const logger: Logger = {
      debug: (msg, fields) => self.log('debug', msg, fields),
      info: (msg, fields) => self.log('info', msg, fields),
      warning: (msg, fields) => self.log('warning', msg, fields),
      warn: (msg, fields) => self.log('warning', msg, fields),
      error: (msg, fields) => self.log('error', msg, fields),
    };
    const metric = (kind: MetricSample['kind'], name: string, value: number, labels?: Record<string, string>) => {
      const s: MetricSample = { kind, name, value };
      if (labels) s.labels = { ...labels };
      self.link.metric(self.spec.instanceId, own, s);
    };
    const metrics: Metrics = {
      counter: (name, inc = 1, labels) => metric('counter', name, inc, labels),
      gauge: (name, value, labels) => metric('gauge', name, value, labels),
      histogram: (name, value, labels) => metric('histogram', name, value, labels),
    };
    const llm: LlmApi = {
      complete: (prompt) => self.llmComplete(prompt),
      stream: (prompt) => self.llmStream(prompt),
    };
    const jobs: JobsApi = {
      enqueue: async (name, payload, opts) => self.enqueue([{ name, payload, ...(opts ? { opts } : {}) }], 'this.jobs.enqueue')[0]!,
      enqueueBatch: async (list) => {
        if (!Array.isArray(list)) throw new OpenClawError('invalid_job', 'this.jobs.enqueueBatch(jobs): jobs must be an array of { name, payload, opts }', { status: 400 });
        return self.enqueue(list, 'this.jobs.enqueueBatch');
      },
    };
    const streams: StreamsApi = {
      append: async (stream, events) => {
        if (typeof stream !== 'string' || !Array.isArray(events)) throw new OpenClawError('invalid_request', 'this.streams.append(stream, events): give a stream name and an array of events', { status: 400 });
        const scope = self.requireScope('this.streams.append');
        // A structured clone now, so later mutation by the caller does not change what commits.
        scope.intents.push({ kind: 'streams.append', data: { stream, events: structuredClone(events) } });
        return { buffered: events.length };
      },
    };
    return {
      agentName: own,
      instanceId: this.spec.instanceId,
      replica: this.spec.replica,
      config: this.spec.config,
      state,
      sharedState,
      emit: (name, data, opts) => self.emit(name, data, opts),
      logger,
      metrics,
      llm,
      jobs,
      streams,
      get signal() {
        return self.scope()?.signal ?? self.abortController.signal;
      },
      now: () => Date.now(),
      current: () => {
        const s = self.scope();
        if (!s) return null;
        const c: { runId: string; kind: string; payload?: unknown; scheduledAt?: number | null } = { runId: s.inv.runId, kind: s.inv.kind };
        if (s.inv.payload !== undefined) c.payload = s.inv.payload;
        if (s.inv.scheduledAt !== undefined) c.scheduledAt = s.inv.scheduledAt;
        return c;
      },
    };
  }
}

const LLM_REQUEST_KEYS = Object.keys({ prompt: 1, messages: 1, model: 1, temperature: 1, max_tokens: 1, json: 1, strict: 1, cache: 1, session: 1, user: 1 } satisfies Record<keyof LlmRequest, 1>);
const STATE_SET_KEYS = ['ttl'];

function llmRequest(prompt: unknown, what: string, router?: Record<string, unknown>): Record<string, unknown> {
  let request: Record<string, unknown>;
  if (typeof prompt === 'string') request = { prompt };
  else if (prompt && typeof prompt === 'object' && !Array.isArray(prompt)) {
    checkOptions(`this.${what}()`, prompt, LLM_REQUEST_KEYS);
    request = { ...(prompt as Record<string, unknown>) };
  }
  else throw new OpenClawError('llm_request_invalid', `this.${what}(prompt): pass a string or { messages: [...], temperature, max_tokens, ... }`, { status: 400 });
  if (router) request.router = router;
  try {
    return structuredClone(request);
  } catch (err) {
    throw new OpenClawError('llm_request_invalid', `this.${what}: the request cannot be sent (${(err as Error).message}); pass plain data`, { status: 400 });
  }
}

/** The LLM of the instance whose run is in progress (an SDK LLMRouter calls through it). */
(globalThis as Record<symbol, unknown>)[Symbol.for('openclaw.llm.current')] = (): InstanceContext | undefined => runStorage.getStore()?.instance;

/** Log fields must cross a MessagePort: keep what structured clone accepts, stringify the rest. */
function cloneableFields(fields: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(fields);
  } catch {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(fields)) {
      try {
        out[key] = structuredClone(v);
      } catch {
        out[key] = format(v);
      }
    }
    return out;
  }
}
