// Fake OpenAI (and OpenAI-compatible) server: /v1/chat/completions (JSON and SSE with
// stream_options.include_usage), /v1/embeddings, /v1/models. Paths without /v1 are accepted too, so
// the same fake serves as a vLLM / OpenRouter-style base URL.
import type http from 'node:http';
import { contentText, sse, startFake, type Dialect, type FakeOptions, type FakeServer, type ReplyContext } from './common.js';

const ERROR_TYPES: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request (fake)' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided (fake)' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden (fake)' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist (fake)' },
  429: { type: 'rate_limit_error', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests (fake)' },
  500: { type: 'server_error', code: null, message: 'The server had an error while processing your request (fake)' },
  502: { type: 'server_error', code: null, message: 'Bad gateway (fake)' },
  503: { type: 'server_error', code: null, message: 'The engine is currently overloaded (fake)' },
};

function usageOf(ctx: ReplyContext) {
  if (!ctx.usage) return undefined;
  return {
    prompt_tokens: ctx.usage.input,
    completion_tokens: ctx.usage.output,
    total_tokens: ctx.usage.input + ctx.usage.output,
    prompt_tokens_details: { cached_tokens: ctx.usage.cached },
  };
}

function chunk(ctx: ReplyContext, delta: Record<string, unknown>, finish: string | null = null) {
  return sse({
    id: ctx.id,
    object: 'chat.completion.chunk',
    created: ctx.created,
    model: ctx.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
}

export const openaiDialect: Dialect = {
  name: 'openai',
  baseUrl: (origin) => `${origin}/v1`,
  route(method, path) {
    const p = path.replace(/^\/v1/, '');
    if (method === 'POST' && p === '/chat/completions') return 'chat';
    if (method === 'POST' && p === '/embeddings') return 'embeddings';
    if (method === 'GET' && p === '/models') return 'models';
    return null;
  },
  isStream: (body) => body?.stream === true,
  messages: (body) => (Array.isArray(body?.messages) ? body.messages.map((m: any) => ({ role: String(m.role), content: contentText(m.content) })) : []),
  wantsJson: (body) => body?.response_format?.type === 'json_object' || body?.response_format?.type === 'json_schema',
  errorBody(status, step) {
    const d = ERROR_TYPES[status] ?? { type: status >= 500 ? 'server_error' : 'invalid_request_error', code: null, message: `HTTP ${status} (fake)` };
    return {
      status,
      body: { error: { message: step.error?.message ?? d.message, type: step.error?.type ?? d.type, param: null, code: step.error?.code ?? d.code } },
    };
  },
  contextLengthError(step) {
    return {
      status: 400,
      body: {
        error: {
          message:
            step.error?.message ??
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.",
          type: 'invalid_request_error',
          param: 'messages',
          code: 'context_length_exceeded',
        },
      },
    };
  },
  completion(ctx) {
    const message: Record<string, unknown> = { role: 'assistant', content: ctx.toolCalls.length > 0 && ctx.text === '' ? null : ctx.text, refusal: null };
    if (ctx.toolCalls.length > 0) {
      message.tool_calls = ctx.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
    }
    const out: Record<string, unknown> = {
      id: ctx.id,
      object: 'chat.completion',
      created: ctx.created,
      model: ctx.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: ctx.finishReason }],
    };
    const u = usageOf(ctx);
    if (u) out.usage = u;
    return out;
  },
  streamContentType: 'text/event-stream',
  streamStart: (ctx) => [chunk(ctx, { role: 'assistant', content: '' })],
  streamText: (ctx, text) => [chunk(ctx, { content: text })],
  streamTools(ctx) {
    const frames: string[] = [];
    ctx.toolCalls.forEach((t, index) => {
      frames.push(chunk(ctx, { tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }));
      const half = Math.ceil(t.arguments.length / 2);
      for (const piece of [t.arguments.slice(0, half), t.arguments.slice(half)]) {
        if (piece.length > 0) frames.push(chunk(ctx, { tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
    return frames;
  },
  streamEnd(ctx) {
    const frames = [chunk(ctx, {}, ctx.finishReason)];
    const u = usageOf(ctx);
    if (u && ctx.body?.stream_options?.include_usage === true) {
      frames.push(sse({ id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage: u }));
    }
    frames.push('data: [DONE]\n\n');
    return frames;
  },
  streamError: (_ctx, step) => [sse({ error: { message: step.error?.message ?? 'The server had an error while streaming (fake)', type: step.error?.type ?? 'server_error', code: step.error?.code ?? null } })],
  keepAlive: ': keep-alive\n\n',
  embeddingInputs: (body) => (Array.isArray(body?.input) ? body.input.map(String) : [String(body?.input ?? '')]),
  embeddings: (_body, vectors, model, tokens) => ({
    object: 'list',
    data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  }),
  models: (list) => ({ object: 'list', data: list.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' })) }),
  authorised: (headers: http.IncomingHttpHeaders, apiKey) => headers.authorization === `Bearer ${apiKey}`,
};

export function startFakeOpenAI(opts: FakeOptions = {}): Promise<FakeServer> {
  return startFake(openaiDialect, { models: ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'], ...opts });
}
