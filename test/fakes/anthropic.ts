// Fake Anthropic Messages API: POST /v1/messages (JSON and SSE with event: lines: message_start,
// content_block_start / delta / stop, ping, message_delta, message_stop, error), GET /v1/models.
// Usage: input_tokens (excluding cache reads), cache_read_input_tokens, output_tokens.
import type http from 'node:http';
import { contentText, sse, startFake, type Dialect, type FakeOptions, type FakeServer, type ReplyContext } from './common.js';

const ERRORS: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request (fake)' },
  401: { type: 'authentication_error', message: 'invalid x-api-key (fake)' },
  403: { type: 'permission_error', message: 'Your API key does not have permission (fake)' },
  404: { type: 'not_found_error', message: 'model not found (fake)' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum size (fake)' },
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit (fake)' },
  500: { type: 'api_error', message: 'Internal server error (fake)' },
  529: { type: 'overloaded_error', message: 'Overloaded (fake)' },
};

const STOP_REASON: Record<string, string> = { stop: 'end_turn', tool_calls: 'tool_use', length: 'max_tokens' };

function stopReason(ctx: ReplyContext): string {
  return STOP_REASON[ctx.finishReason] ?? ctx.finishReason;
}

function usageIn(ctx: ReplyContext) {
  const u = ctx.usage ?? { input: 0, output: 0, cached: 0 };
  return { input_tokens: Math.max(0, u.input - u.cached), cache_creation_input_tokens: 0, cache_read_input_tokens: u.cached, output_tokens: u.output };
}

function messagesOf(body: any): Array<{ role: string; content: string }> {
  const out: Array<{ role: string; content: string }> = [];
  if (body?.system !== undefined) out.push({ role: 'system', content: contentText(body.system) });
  if (Array.isArray(body?.messages)) for (const m of body.messages) out.push({ role: String(m.role), content: contentText(m.content) });
  return out;
}

export const anthropicDialect: Dialect = {
  name: 'anthropic',
  baseUrl: (origin) => origin,
  route(method, path) {
    if (method === 'POST' && path === '/v1/messages') return 'chat';
    if (method === 'GET' && path === '/v1/models') return 'models';
    return null;
  },
  isStream: (body) => body?.stream === true,
  messages: messagesOf,
  wantsJson: () => false,
  errorBody(status, step) {
    const d = ERRORS[status] ?? { type: status >= 500 ? 'api_error' : 'invalid_request_error', message: `HTTP ${status} (fake)` };
    return { status, body: { type: 'error', error: { type: step.error?.type ?? d.type, message: step.error?.message ?? d.message } } };
  },
  contextLengthError(step) {
    return {
      status: 400,
      body: { type: 'error', error: { type: 'invalid_request_error', message: step.error?.message ?? 'prompt is too long: 215000 tokens > 200000 maximum' } },
    };
  },
  completion(ctx) {
    const content: unknown[] = [];
    if (ctx.text !== '') content.push({ type: 'text', text: ctx.text });
    for (const t of ctx.toolCalls) content.push({ type: 'tool_use', id: t.id, name: t.name, input: JSON.parse(t.arguments) });
    return {
      id: `msg_${ctx.id}`,
      type: 'message',
      role: 'assistant',
      model: ctx.model,
      content,
      stop_reason: stopReason(ctx),
      stop_sequence: null,
      usage: usageIn(ctx),
    };
  },
  streamContentType: 'text/event-stream',
  streamStart(ctx) {
    const u = usageIn(ctx);
    const frames = [
      sse(
        {
          type: 'message_start',
          message: {
            id: `msg_${ctx.id}`,
            type: 'message',
            role: 'assistant',
            model: ctx.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: u.input_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: u.cache_read_input_tokens, output_tokens: 1 },
          },
        },
        'message_start',
      ),
    ];
    if (ctx.chunks.length > 0) frames.push(sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'));
    frames.push(sse({ type: 'ping' }, 'ping'));
    return frames;
  },
  streamText: (_ctx, text) => [sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }, 'content_block_delta')],
  streamTools(ctx) {
    const frames: string[] = [];
    const base = ctx.chunks.length > 0 ? 1 : 0;
    if (base === 1) frames.push(sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'));
    ctx.toolCalls.forEach((t, i) => {
      const index = base + i;
      frames.push(sse({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} } }, 'content_block_start'));
      const half = Math.ceil(t.arguments.length / 2);
      for (const piece of [t.arguments.slice(0, half), t.arguments.slice(half)]) {
        if (piece.length > 0) frames.push(sse({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }, 'content_block_delta'));
      }
      frames.push(sse({ type: 'content_block_stop', index }, 'content_block_stop'));
    });
    return frames;
  },
  streamEnd(ctx) {
    const frames: string[] = [];
    if (ctx.toolCalls.length === 0 && ctx.chunks.length > 0) frames.push(sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'));
    frames.push(sse({ type: 'message_delta', delta: { stop_reason: stopReason(ctx), stop_sequence: null }, usage: { output_tokens: usageIn(ctx).output_tokens } }, 'message_delta'));
    frames.push(sse({ type: 'message_stop' }, 'message_stop'));
    return frames;
  },
  streamError: (_ctx, step) => [sse({ type: 'error', error: { type: step.error?.type ?? 'overloaded_error', message: step.error?.message ?? 'Overloaded (fake)' } }, 'error')],
  keepAlive: ': keep-alive\n\n',
  embeddingInputs: () => [],
  embeddings: () => ({}),
  models: (list) => ({ data: list.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' })), has_more: false }),
  authorised: (headers: http.IncomingHttpHeaders, apiKey) => headers['x-api-key'] === apiKey,
};

export function startFakeAnthropic(opts: FakeOptions = {}): Promise<FakeServer> {
  return startFake(anthropicDialect, { models: ['claude-3-5-sonnet-latest', 'claude-3-5-haiku-latest'], ...opts });
}
