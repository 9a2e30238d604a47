// Fake Ollama: POST /api/chat (JSON, or NDJSON lines when "stream" is not false — Ollama streams by
// default), POST /api/embed, GET /api/tags. Usage in prompt_eval_count / eval_count.
import type http from 'node:http';
import { contentText, startFake, type Dialect, type FakeOptions, type FakeServer, type ReplyContext } from './common.js';

const line = (o: unknown): string => `${JSON.stringify(o)}\n`;

function doneLine(ctx: ReplyContext, message: Record<string, unknown>) {
  const out: Record<string, unknown> = {
    model: ctx.model,
    created_at: new Date(ctx.created * 1000).toISOString(),
    message,
    done: true,
    done_reason: ctx.finishReason === 'tool_calls' ? 'stop' : ctx.finishReason,
    total_duration: 1000,
    load_duration: 10,
    eval_duration: 500,
  };
  if (ctx.usage) {
    out.prompt_eval_count = ctx.usage.input;
    out.eval_count = ctx.usage.output;
  }
  return out;
}

const toolCalls = (ctx: ReplyContext) => ctx.toolCalls.map((t) => ({ function: { name: t.name, arguments: JSON.parse(t.arguments) } }));

export const ollamaDialect: Dialect = {
  name: 'ollama',
  baseUrl: (origin) => origin,
  route(method, path) {
    if (method === 'POST' && path === '/api/chat') return 'chat';
    if (method === 'POST' && (path === '/api/embed' || path === '/api/embeddings')) return 'embeddings';
    if (method === 'GET' && path === '/api/tags') return 'models';
    return null;
  },
  isStream: (body) => body?.stream !== false,
  messages: (body) => (Array.isArray(body?.messages) ? body.messages.map((m: any) => ({ role: String(m.role), content: contentText(m.content) })) : []),
  wantsJson: (body) => body?.format === 'json' || (typeof body?.format === 'object' && body.format !== null),
  errorBody: (status, step) => ({ status, body: { error: step.error?.message ?? (status === 404 ? 'model not found, try pulling it first (fake)' : `HTTP ${status} (fake)`) } }),
  contextLengthError: (step) => ({ status: 400, body: { error: step.error?.message ?? 'input length exceeds the context length (fake)' } }),
  completion(ctx) {
    const message: Record<string, unknown> = { role: 'assistant', content: ctx.text };
    if (ctx.toolCalls.length > 0) message.tool_calls = toolCalls(ctx);
    return doneLine(ctx, message);
  },
  streamContentType: 'application/x-ndjson',
  streamStart: () => [],
  streamText: (ctx, text) => [line({ model: ctx.model, created_at: new Date(ctx.created * 1000).toISOString(), message: { role: 'assistant', content: text }, done: false })],
  streamTools: (ctx) => [
    line({ model: ctx.model, created_at: new Date(ctx.created * 1000).toISOString(), message: { role: 'assistant', content: '', tool_calls: toolCalls(ctx) }, done: false }),
  ],
  streamEnd: (ctx) => [line(doneLine(ctx, { role: 'assistant', content: '' }))],
  streamError: (_ctx, step) => [line({ error: step.error?.message ?? 'an error was encountered while running the model (fake)' })],
  keepAlive: null,
  embeddingInputs: (body) => (Array.isArray(body?.input) ? body.input.map(String) : [String(body?.input ?? body?.prompt ?? '')]),
  embeddings: (_body, vectors, model, tokens) => ({ model, embeddings: vectors, total_duration: 1000, load_duration: 10, prompt_eval_count: tokens }),
  models: (list) => ({ models: list.map((name) => ({ name, model: name, modified_at: '2025-01-01T00:00:00Z', size: 1, digest: 'fake', details: {} })) }),
  authorised: (headers: http.IncomingHttpHeaders, apiKey) => headers.authorization === `Bearer ${apiKey}`,
};

export function startFakeOllama(opts: FakeOptions = {}): Promise<FakeServer> {
  return startFake(ollamaDialect, { models: ['llama3.1:8b', 'nomic-embed-text'], ...opts });
}
