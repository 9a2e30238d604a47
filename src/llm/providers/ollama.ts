// Ollama's native API: POST /api/chat (NDJSON stream, usage from prompt_eval_count / eval_count,
// format "json" for JSON mode, tools), POST /api/embed for embeddings.
import type { ChatRequest, ChatResponse, FinishReason, StreamChunk, ToolCall, Usage } from '../types.js';
import { errorFromStreamPayload } from '../errors.js';
import { parseArguments, zeroUsage, type Adapter, type StreamParser, type WireRequest } from './base.js';

function usageFromOllama(o: any): Usage | undefined {
  if (o?.prompt_eval_count === undefined && o?.eval_count === undefined) return undefined;
  return { inputTokens: Number(o.prompt_eval_count ?? 0), outputTokens: Number(o.eval_count ?? 0), cachedInputTokens: 0 };
}

const doneReason = (r: unknown): FinishReason => (r === 'length' ? 'length' : 'stop');

function toolCallsOf(msg: any, offset = 0): ToolCall[] {
  if (!Array.isArray(msg?.tool_calls)) return [];
  return msg.tool_calls.map((t: any, i: number) => ({
    id: String(t.id ?? `call_${offset + i}`),
    name: String(t.function?.name ?? ''),
    arguments: typeof t.function?.arguments === 'string' ? t.function.arguments : JSON.stringify(t.function?.arguments ?? {}),
  }));
}

export const ollamaAdapter: Adapter = {
  kind: 'ollama',
  framing: 'ndjson',

  toWire(req: ChatRequest, model: string, stream: boolean): WireRequest {
    const messages = req.messages.map((m) => {
      const out: Record<string, unknown> = { role: m.role, content: m.content };
      if (m.role === 'assistant' && m.toolCalls?.length) {
        out.tool_calls = m.toolCalls.map((t) => ({ function: { name: t.name, arguments: parseArguments('ollama', model, t.arguments) } }));
      }
      if (m.role === 'tool' && m.name) out.tool_name = m.name;
      return out;
    });
    const options: Record<string, unknown> = {};
    if (req.temperature !== undefined) options.temperature = req.temperature;
    if (req.topP !== undefined) options.top_p = req.topP;
    if (req.stop?.length) options.stop = req.stop;
    if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
    const body: Record<string, unknown> = { model, messages, stream };
    if (Object.keys(options).length > 0) body.options = options;
    if (req.json) body.format = 'json';
    if (req.tools?.length) {
      body.tools = req.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters } }));
    }
    return { path: '/api/chat', body };
  },

  fromWire(body: any): Omit<ChatResponse, 'provider'> {
    const toolCalls = toolCallsOf(body?.message);
    return {
      model: String(body?.model ?? ''),
      text: String(body?.message?.content ?? ''),
      toolCalls,
      finishReason: toolCalls.length > 0 ? 'tool_calls' : doneReason(body?.done_reason),
      usage: usageFromOllama(body) ?? zeroUsage(),
    };
  },

  streamParser(model: string, _req: ChatRequest, provider: string): StreamParser {
    let done = false;
    let tools = 0;
    return {
      get done() {
        return done;
      },
      fromStreamEvent(ev): StreamChunk[] {
        const o = ev as any;
        if (done) return [];
        if (o?.error) throw errorFromStreamPayload(provider, model, { error: { message: String(o.error) } }, false);
        const out: StreamChunk[] = [];
        const content = o?.message?.content;
        if (typeof content === 'string' && content.length > 0) out.push({ type: 'text', text: content });
        for (const t of toolCallsOf(o?.message, tools)) {
          out.push({ type: 'tool_call', index: tools++, id: t.id, name: t.name, argumentsDelta: t.arguments });
        }
        if (o?.done === true) {
          done = true;
          out.push({ type: 'finish', finishReason: tools > 0 ? 'tool_calls' : doneReason(o.done_reason), usage: usageFromOllama(o) ?? zeroUsage() });
        }
        return out;
      },
      finishAtEnd: () => null,
    };
  },

  embeddingsToWire(req, model): WireRequest {
    return { path: '/api/embed', body: { model, input: req.input } };
  },

  embeddingsFromWire(body: any, model: string) {
    return {
      model: String(body?.model ?? model),
      vectors: Array.isArray(body?.embeddings) ? (body.embeddings as number[][]) : [],
      usage: { inputTokens: Number(body?.prompt_eval_count ?? 0) },
    };
  },
};
