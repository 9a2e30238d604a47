// The LLM layer's shared types: what an agent (or /v1 caller) asks, what a provider adapter turns
// it into and back. Adapters are pure request / response / stream-chunk transforms over
// src/llm/http.ts; the router (fallback, retries, budgets, caching) works only with these types.

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: Role;
  content: string;
  name?: string;
  /** role 'tool': the call this answers. */
  toolCallId?: string;
  /** role 'assistant': calls the model made. */
  toolCalls?: ToolCall[];
}

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text, as the model produced it. */
  arguments: string;
}

export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
}

export interface ChatRequest {
  /** The model as the user names it ("gpt-4o", "claude-3.5-sonnet"); the router maps it to a provider. */
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  stop?: string[];
  /** Ask for a JSON object answer (OpenAI JSON mode; other providers by instruction). */
  json?: boolean;
  tools?: ToolSpec[];
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
  /** End-user / session ids, for per-user and per-session token limits and usage records. */
  user?: string;
  session?: string;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (cheaper). */
  cachedInputTokens: number;
  /** True when counted by us (estimate or tokenizer), not reported by the provider. */
  estimated?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error';

export interface ChatResponse {
  /** The provider model id that answered. */
  model: string;
  provider: string;
  text: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  /** The provider's response id, if any. */
  id?: string;
}

/** One streamed piece, already normalised across providers. */
export type StreamChunk =
  | { type: 'text'; text: string }
  | { type: 'tool_call'; index: number; id?: string; name?: string; argumentsDelta: string }
  | { type: 'finish'; finishReason: FinishReason; usage?: Usage };

export interface EmbeddingRequest {
  model: string;
  input: string[];
}

export interface EmbeddingResponse {
  model: string;
  provider: string;
  vectors: number[][];
  usage: { inputTokens: number };
}

/** Why a provider call failed, normalised: the router decides on retries and fallback from this. */
export type ProviderErrorKind =
  | 'rate_limited' // 429
  | 'server' // 5xx
  | 'timeout'
  | 'connection' // refused, reset, DNS
  | 'auth' // 401/403
  | 'bad_request' // 400/404/422: the same request will fail anywhere
  | 'context_length'
  | 'stream_interrupted'; // cut after the first token

export interface ProviderErrorInfo {
  kind: ProviderErrorKind;
  status?: number;
  /** From Retry-After (seconds or HTTP date) or provider-specific headers, in ms. */
  retryAfterMs?: number;
  provider: string;
  model: string;
  message: string;
}

export interface ProviderCallOptions {
  signal?: AbortSignal;
  /** Whole-call timeout (non-streaming) or time-to-first-byte plus idle timeout (streaming), ms. */
  timeoutMs?: number;
}

/** A configured provider instance (openai, anthropic, ollama, openai-compatible, echo). */
export interface Provider {
  readonly name: string; // the key in llm.providers
  readonly kind: 'openai' | 'anthropic' | 'ollama' | 'openai-compatible' | 'echo';
  complete(req: ChatRequest, opts?: ProviderCallOptions): Promise<ChatResponse>;
  /** Yields normalised chunks; throws a ProviderError (kind 'stream_interrupted' once text went out). */
  stream(req: ChatRequest, opts?: ProviderCallOptions): AsyncIterable<StreamChunk>;
  embed?(req: EmbeddingRequest, opts?: ProviderCallOptions): Promise<EmbeddingResponse>;
  close(): Promise<void>;
}
