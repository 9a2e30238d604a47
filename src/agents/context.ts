// The services an Agent instance sees as `this.state`, `this.emit`, `this.logger`, ...
// The runtime (src/runtime/worker) builds one per instance inside the worker thread and hands it to
// the Agent before setup(); the SDK (src/agents/agent.ts) exposes it. Tests may build their own.

import type { EnqueueOptions, EnqueueRequest } from '../jobs/types.js';

/** Options of `this.emit`. */
export interface EmitOptions {
  /** Ordering key: consumers with `events.ordering: key` handle one key's events one at a time, in order. */
  key?: string;
}

export interface StateApi {
  /** Returns `fallback` when the key is absent or expired. Sees this run's own buffered writes. */
  get<T = unknown>(key: string, fallback?: T): Promise<T>;
  /** Buffered until the run commits. `ttl`: '10m' | seconds as number | { ms }. */
  set(key: string, value: unknown, opts?: { ttl?: string | number }): Promise<void>;
  delete(key: string): Promise<void>;
  has(key: string): Promise<boolean>;
  keys(prefix?: string): Promise<string[]>;
  /** Read-only snapshot of another agent's committed state. */
  readFrom(agent: string): Promise<ReadOnlyState>;
  /** Commits this run's writes and emits so far, in one transaction, before the run ends. */
  checkpoint(): Promise<void>;
}

export interface ReadOnlyState {
  get<T = unknown>(key: string, fallback?: T): T;
  keys(): string[];
  toJSON(): Record<string, unknown>;
}

export interface SharedStateApi {
  get<T = unknown>(key: string, fallback?: T): Promise<T>;
  set(key: string, value: unknown, opts?: { ttl?: string | number }): Promise<void>;
  delete(key: string): Promise<void>;
  keys(prefix?: string): Promise<string[]>;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warning(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface Metrics {
  counter(name: string, inc?: number, labels?: Record<string, string>): void;
  gauge(name: string, value: number, labels?: Record<string, string>): void;
  histogram(name: string, value: number, labels?: Record<string, string>): void;
}

/** What `this.llm.complete()` returns (seed 003 §10). `String(completion)` is the text. */
export interface LlmCompletion {
  text: string;
  /** The parsed answer when the call asked for `json: true` and the model answered with JSON. */
  json?: unknown;
  model: string;
  provider: string;
  usage: { input_tokens: number; output_tokens: number; cached_tokens: number; total_tokens: number; cost_usd: number; estimated?: boolean };
  latency_ms: number;
  /** 'exact' | 'semantic' when answered from the response cache. */
  cache?: 'exact' | 'semantic' | null;
  toString(): string;
}

export interface LlmMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** A prompt, or messages with options. Unset options take llm.defaults / llm.limits. */
export interface LlmRequest {
  prompt?: string;
  messages?: LlmMessage[];
  model?: string;
  temperature?: number;
  max_tokens?: number;
  /** Ask for a JSON object; the parsed value is on `.json`. */
  json?: boolean;
  /** No fallback to other models for this call. */
  strict?: boolean;
  /** false: bypass the response cache. */
  cache?: boolean;
  /** For per-session and per-user token limits and usage records. */
  session?: string;
  user?: string;
}

export interface LlmApi {
  complete(prompt: string | LlmRequest): Promise<LlmCompletion>;
  /** Text chunks as they arrive; stop iterating (break) to cancel the call. */
  stream(prompt: string | LlmRequest): AsyncIterable<string>;
}

/**
 * `this.jobs`: enqueue background jobs. An enqueue is part of the run: it is buffered like an emit
 * and commits with the run's state writes (or not at all if the run fails).
 */
export interface JobsApi {
  enqueue(name: string, payload?: unknown, opts?: EnqueueOptions): Promise<{ id: string }>;
  enqueueBatch(jobs: EnqueueRequest[]): Promise<Array<{ id: string }>>;
}

/**
 * `this.streams`: append events to a declared stream. Like an emit, the append is part of the run:
 * it commits with the run's state writes (or not at all if the run fails). Events failing the
 * stream's validation go to its dead-letter queue at commit.
 */
export interface StreamsApi {
  append(stream: string, events: unknown[]): Promise<{ buffered: number }>;
}

export interface AgentRuntimeContext {
  agentName: string;
  instanceId: string;
  replica: number;
  config: Record<string, unknown>;
  state: StateApi;
  sharedState: SharedStateApi;
  emit(name: string, data?: unknown, opts?: EmitOptions): Promise<void>;
  logger: Logger;
  metrics: Metrics;
  llm: LlmApi;
  /** Optional so hand-built test contexts need not provide it; the runtime always does. */
  jobs?: JobsApi;
  /** Optional like jobs; the runtime always provides it. */
  streams?: StreamsApi;
  /** Aborted when the instance is asked to stop (drain) or the current invocation's deadline passes. */
  signal: AbortSignal;
  now(): number;
  /** The invocation in progress (run id, trigger), or null between invocations. */
  current(): { runId: string; kind: string; payload?: unknown; scheduledAt?: number | null } | null;
}
