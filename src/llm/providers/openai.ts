// OpenAI chat completions (and any OpenAI-compatible server): tools, JSON mode (response_format
// json_object), SSE streaming with stream_options.include_usage forced on so streams always carry
// usage, embeddings. Pure transforms; the transport is HttpProvider.
import type { ChatMessage, ChatRequest, ChatResponse, FinishReason, StreamChunk, ToolCall, Usage } from '../types.js';
import type { SseEvent } from '../http.js';
import { errorFromStreamPayload } from '../errors.js';
import { JSON_INSTRUCTION, mentionsJson, zeroUsage, type Adapter, type StreamParser, type WireRequest } from './base.js';

const FINISH: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
};

export function finishReason(r: unknown): FinishReason {
  return (typeof r === 'string' && FINISH[r]) || 'stop';
}

export function usageFromOpenAI(u: any): Usage | undefined {
  if (!u || typeof u !== 'object') return undefined;
  return {
    inputTokens: Number(u.prompt_tokens ?? 0),
    outputTokens: Number(u.completion_tokens ?? 0),
    cachedInputTokens: Number(u.prompt_tokens_details?.cached_tokens ?? 0),
  };
}

function messageToWire(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.name) out.name = m.name;
  if (m.role === 'tool' && m.toolCallId) out.tool_call_id = m.toolCallId;
  if (m.role === 'assistant' && m.toolCalls?.length) {
    out.tool_calls = m.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
    if (m.content === '') out.content = null;
  }
  return out;
}

export interface OpenAIAdapterOptions {
  kind: 'openai' | 'openai-compatible';
  /** Send max_completion_tokens (OpenAI; required by o-series) instead of max_tokens (most compatible servers). */
  maxCompletionTokens: boolean;
}

export function openaiAdapter(opts: OpenAIAdapterOptions = { kind: 'openai', maxCompletionTokens: true }): Adapter {
  return {
    kind: opts.kind,
    framing: 'sse',

    toWire(req: ChatRequest, model: string, stream: boolean): WireRequest {
      const messages = req.messages.map(messageToWire);
      // JSON mode is refused unless a message mentions JSON.
      if (req.json && !mentionsJson(req)) messages.unshift({ role: 'system', content: JSON_INSTRUCTION });
      const body: Record<string, unknown> = { model, messages };
      // OpenAI's reasoning models (o1, o3, o4-mini…) refuse sampling parameters.
      const reasoning = opts.kind === 'openai' && /^o\d/.test(model);
      if (req.temperature !== undefined && !reasoning) body.temperature = req.temperature;
      if (req.topP !== undefined && !reasoning) body.top_p = req.topP;
      if (req.stop?.length) body.stop = req.stop;
      if (req.maxTokens !== undefined) body[opts.maxCompletionTokens ? 'max_completion_tokens' : 'max_tokens'] = req.maxTokens;
      if (req.json) body.response_format = { type: 'json_object' };
      if (req.tools?.length) {
        body.tools = req.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters } }));
      }
      if (req.toolChoice !== undefined) {
        body.tool_choice = typeof req.toolChoice === 'string' ? req.toolChoice : { type: 'function', function: { name: req.toolChoice.name } };
      }
      if (req.user) body.user = req.user;
      if (stream) {
        body.stream = true;
        body.stream_options = { include_usage: true };
      }
      return { path: '/chat/completions', body };
    },

    fromWire(body: any): Omit<ChatResponse, 'provider'> {
      const choice = body?.choices?.[0] ?? {};
      const msg = choice.message ?? {};
      const toolCalls: ToolCall[] = Array.isArray(msg.tool_calls)
        ? msg.tool_calls.map((t: any) => ({ id: String(t.id ?? ''), name: String(t.function?.name ?? ''), arguments: String(t.function?.arguments ?? '') }))
        : [];
      return {
        model: String(body?.model ?? ''),
        text: typeof msg.content === 'string' ? msg.content : '',
        toolCalls,
        finishReason: toolCalls.length > 0 && choice.finish_reason === 'stop' ? 'tool_calls' : finishReason(choice.finish_reason),
        usage: usageFromOpenAI(body?.usage) ?? zeroUsage(),
        ...(body?.id ? { id: String(body.id) } : {}),
      };
    },

    streamParser(model: string, _req: ChatRequest, provider: string): StreamParser {
      let done = false;
      let finish: FinishReason | undefined;
      let usage: Usage | undefined;
      return {
        get done() {
          return done;
        },
        fromStreamEvent(ev): StreamChunk[] {
          const e = ev as SseEvent;
          if (done) return [];
          if (e.data.trim() === '[DONE]') {
            done = true;
            return [{ type: 'finish', finishReason: finish ?? 'stop', ...(usage ? { usage } : {}) }];
          }
          let obj: any;
          try {
            obj = JSON.parse(e.data);
          } catch {
            return []; // not JSON (some servers send status lines); ignore
          }
          if (obj?.error) throw errorFromStreamPayload(provider, model, obj, false);
          const out: StreamChunk[] = [];
          const u = usageFromOpenAI(obj?.usage);
          if (u) usage = u;
          const choice = obj?.choices?.[0];
          if (choice) {
            const delta = choice.delta ?? {};
            if (typeof delta.content === 'string' && delta.content.length > 0) out.push({ type: 'text', text: delta.content });
            if (Array.isArray(delta.tool_calls)) {
              for (const t of delta.tool_calls) {
                const c: StreamChunk = { type: 'tool_call', index: Number(t.index ?? 0), argumentsDelta: String(t.function?.arguments ?? '') };
                if (t.id) c.id = String(t.id);
                if (t.function?.name) c.name = String(t.function.name);
                out.push(c);
              }
            }
            if (choice.finish_reason) finish = finishReason(choice.finish_reason);
          }
          return out;
        },
        finishAtEnd(): StreamChunk | null {
          if (done || finish === undefined) return null;
          done = true;
          return { type: 'finish', finishReason: finish, ...(usage ? { usage } : {}) };
        },
      };
    },

    embeddingsToWire(req, model): WireRequest {
      return { path: '/embeddings', body: { model, input: req.input, encoding_format: 'float' } };
    },

    embeddingsFromWire(body: any, model: string) {
      const data = Array.isArray(body?.data) ? [...body.data].sort((a: any, b: any) => Number(a.index) - Number(b.index)) : [];
      return {
        model: String(body?.model ?? model),
        vectors: data.map((d: any) => d.embedding as number[]),
        usage: { inputTokens: Number(body?.usage?.prompt_tokens ?? 0) },
      };
    },
  };
}
