// Anthropic Messages API: system split out, tool_use / tool_result blocks, max_tokens always sent,
// SSE events (message_start, content_block_start / delta / stop, message_delta, message_stop, ping,
// error), usage with cache reads. Anthropic's input_tokens excludes cache reads and writes; we report
// inputTokens as their sum and cachedInputTokens as the reads, like OpenAI's prompt_tokens.
import type { ChatRequest, ChatResponse, FinishReason, StreamChunk, ToolCall, Usage } from '../types.js';
import type { SseEvent } from '../http.js';
import { errorFromStreamPayload } from '../errors.js';
import { modelInfo } from '../prices.js';
import { JSON_INSTRUCTION, parseArguments, zeroUsage, type Adapter, type StreamParser, type WireRequest } from './base.js';

export const ANTHROPIC_VERSION = '2023-06-01';
/** max_tokens when neither the request nor the price table gives one. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

const STOP: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

const stopReason = (r: unknown): FinishReason => (typeof r === 'string' && STOP[r]) || 'stop';

export function usageFromAnthropic(u: any): Usage | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const reads = Number(u.cache_read_input_tokens ?? 0);
  const writes = Number(u.cache_creation_input_tokens ?? 0);
  return { inputTokens: Number(u.input_tokens ?? 0) + reads + writes, outputTokens: Number(u.output_tokens ?? 0), cachedInputTokens: reads };
}

type Block = Record<string, unknown>;

export const anthropicAdapter: Adapter = {
  kind: 'anthropic',
  framing: 'sse',

  toWire(req: ChatRequest, model: string, stream: boolean): WireRequest {
    const system: string[] = [];
    const messages: Array<{ role: 'user' | 'assistant'; content: Block[] }> = [];
    const push = (role: 'user' | 'assistant', blocks: Block[]) => {
      const last = messages.at(-1);
      // Consecutive turns of one role (e.g. several tool results) become one message.
      if (last && last.role === role) last.content.push(...blocks);
      else messages.push({ role, content: blocks });
    };
    for (const m of req.messages) {
      if (m.role === 'system') system.push(m.content);
      else if (m.role === 'tool') push('user', [{ type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: m.content }]);
      else if (m.role === 'assistant') {
        const blocks: Block[] = m.content !== '' ? [{ type: 'text', text: m.content }] : [];
        for (const t of m.toolCalls ?? []) blocks.push({ type: 'tool_use', id: t.id, name: t.name, input: parseArguments('anthropic', model, t.arguments) });
        if (blocks.length > 0) push('assistant', blocks);
      } else push('user', [{ type: 'text', text: m.content }]);
    }
    if (req.json) system.push(JSON_INSTRUCTION);
    const body: Record<string, unknown> = {
      model,
      max_tokens: req.maxTokens ?? modelInfo(req.model)?.maxOutput ?? modelInfo(model)?.maxOutput ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
      messages,
    };
    if (system.length > 0) body.system = system.join('\n\n');
    if (req.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, req.temperature));
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.stop?.length) body.stop_sequences = req.stop;
    if (req.tools?.length) body.tools = req.tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), input_schema: t.parameters }));
    if (req.toolChoice !== undefined && req.tools?.length) {
      const c = req.toolChoice;
      body.tool_choice = c === 'auto' ? { type: 'auto' } : c === 'required' ? { type: 'any' } : c === 'none' ? { type: 'none' } : { type: 'tool', name: c.name };
    }
    if (req.user) body.metadata = { user_id: req.user };
    if (stream) body.stream = true;
    return { path: '/v1/messages', body };
  },

  fromWire(body: any): Omit<ChatResponse, 'provider'> {
    const blocks: any[] = Array.isArray(body?.content) ? body.content : [];
    const text = blocks.filter((b) => b?.type === 'text').map((b) => String(b.text ?? '')).join('');
    const toolCalls: ToolCall[] = blocks
      .filter((b) => b?.type === 'tool_use')
      .map((b) => ({ id: String(b.id ?? ''), name: String(b.name ?? ''), arguments: JSON.stringify(b.input ?? {}) }));
    return {
      model: String(body?.model ?? ''),
      text,
      toolCalls,
      finishReason: stopReason(body?.stop_reason),
      usage: usageFromAnthropic(body?.usage) ?? zeroUsage(),
      ...(body?.id ? { id: String(body.id) } : {}),
    };
  },

  streamParser(model: string, _req: ChatRequest, provider: string): StreamParser {
    let done = false;
    let finish: FinishReason | undefined;
    let usage: Usage = zeroUsage();
    // content block index → tool call ordinal
    const tools = new Map<number, number>();
    return {
      get done() {
        return done;
      },
      fromStreamEvent(ev): StreamChunk[] {
        const e = ev as SseEvent;
        if (done) return [];
        let obj: any;
        try {
          obj = JSON.parse(e.data);
        } catch {
          return [];
        }
        const type = e.event ?? obj?.type;
        switch (type) {
          case 'message_start': {
            const u = usageFromAnthropic(obj?.message?.usage);
            if (u) usage = { ...u, outputTokens: 0 };
            return [];
          }
          case 'content_block_start': {
            const b = obj?.content_block;
            if (b?.type === 'tool_use') {
              const ordinal = tools.size;
              tools.set(Number(obj.index), ordinal);
              return [{ type: 'tool_call', index: ordinal, id: String(b.id ?? ''), name: String(b.name ?? ''), argumentsDelta: '' }];
            }
            if (b?.type === 'text' && typeof b.text === 'string' && b.text.length > 0) return [{ type: 'text', text: b.text }];
            return [];
          }
          case 'content_block_delta': {
            const d = obj?.delta;
            if (d?.type === 'text_delta' && typeof d.text === 'string' && d.text.length > 0) return [{ type: 'text', text: d.text }];
            if (d?.type === 'input_json_delta') {
              const ordinal = tools.get(Number(obj.index));
              if (ordinal !== undefined) return [{ type: 'tool_call', index: ordinal, argumentsDelta: String(d.partial_json ?? '') }];
            }
            return [];
          }
          case 'message_delta': {
            if (obj?.delta?.stop_reason) finish = stopReason(obj.delta.stop_reason);
            if (obj?.usage?.output_tokens !== undefined) usage = { ...usage, outputTokens: Number(obj.usage.output_tokens) };
            if (obj?.usage?.input_tokens !== undefined) {
              const u = usageFromAnthropic({ ...obj.usage });
              if (u && u.inputTokens > 0) usage = { ...usage, inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens };
            }
            return [];
          }
          case 'message_stop':
            done = true;
            return [{ type: 'finish', finishReason: finish ?? 'stop', usage }];
          case 'error':
            throw errorFromStreamPayload(provider, model, obj, false);
          default:
            return []; // ping, content_block_stop, unknown future events
        }
      },
      finishAtEnd(): StreamChunk | null {
        return null; // a Messages stream without message_stop is cut
      },
    };
  },
};
