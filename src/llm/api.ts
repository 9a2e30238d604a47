// The unified LLM API (R9): OpenAI-compatible /v1/chat/completions (streaming SSE and not),
// /v1/models and /v1/embeddings behind virtual keys (Bearer ock_…, hashed in the store, with their
// own budgets, tokens per minute and allowed models), plus the management routes /api/llm/keys and
// /api/llm/usage behind daemon tokens.
//
// /v1 routes declare permission 'public' (daemon tokens do not apply) and check the virtual key
// themselves. Errors are OpenAI-shaped ({error:{message,type,param,code}}) with the statuses the
// official client maps to its APIError subclasses.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { defineFastRoute, defineRoute, LARGE_BODY_LIMIT, type FastReply } from '../contracts/route.js';
import { parseDuration } from '../config/units.js';
import { NotFoundError, OpenClawError } from '../util/errors.js';
import type { ChatMessage, ChatRequest, ToolSpec, Usage } from './types.js';
import type { KeyRow, Ledger } from './ledger.js';
import type { LlmRouter, CallOptions, RouterStreamEvent } from './router.js';

// ---- virtual keys ------------------------------------------------------------------------------

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export class KeyStore {
  private readonly cache = new Map<string, { row: KeyRow | undefined; at: number }>();
  private readonly byId = new Map<string, KeyRow>();
  constructor(private readonly ledger: Ledger, private readonly now: () => number = Date.now) {}

  /** Without a name the key is named after its id (`key-3f9a1c2b`), as a token is named after its role. */
  async create(opts: { name?: string | null; budgetDailyUsd?: number | null; budgetMonthlyUsd?: number | null; tpm?: number | null; models?: string[] | null }): Promise<KeyRow & { key: string }> {
    const key = `ock_${randomBytes(24).toString('base64url')}`;
    const id = `key_${randomBytes(4).toString('hex')}`;
    const row: KeyRow = {
      id,
      name: opts.name || `key-${id.slice(4)}`,
      prefix: key.slice(0, 10),
      createdAt: this.now(),
      revokedAt: null,
      budgetDailyUsd: opts.budgetDailyUsd ?? null,
      budgetMonthlyUsd: opts.budgetMonthlyUsd ?? null,
      tpm: opts.tpm ?? null,
      models: opts.models && opts.models.length > 0 ? opts.models : null,
    };
    await this.ledger.createKey({ ...row, hash: hashKey(key) });
    return { ...row, key };
  }

  /** A key seen by this daemon (for the budget-remaining gauge). */
  seen(id: string): KeyRow | undefined {
    return this.byId.get(id);
  }

  async revoke(id: string): Promise<void> {
    if (!(await this.ledger.revokeKey(id, this.now()))) {
      const exists = (await this.ledger.listKeys()).some((k) => k.id === id);
      if (!exists) throw new NotFoundError('key', id, 'list keys with `openclaw keys list`');
    }
    this.cache.clear();
  }

  /** The key a request authenticates with; throws a 401 with OpenAI's wording otherwise. */
  async authenticate(req: { headers: IncomingHttpHeaders }): Promise<KeyRow> {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    if (!m) throw new V1Error(401, 'missing API key: send Authorization: Bearer ock_… (create one with `openclaw keys create --name NAME`)', 'invalid_request_error', 'invalid_api_key');
    const hash = hashKey(m[1]!);
    const now = this.now();
    let c = this.cache.get(hash);
    if (!c || now - c.at > 2000) {
      c = { row: await this.ledger.keyByHash(hash), at: now };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, c);
    }
    if (c.row) this.byId.set(c.row.id, c.row);
    if (!c.row) throw new V1Error(401, `incorrect API key provided: ${m[1]!.slice(0, 10)}…; virtual keys start with ock_ (see \`openclaw keys list\`)`, 'invalid_request_error', 'invalid_api_key');
    if (c.row.revokedAt !== null) throw new V1Error(401, `API key ${c.row.id} was revoked on ${new Date(c.row.revokedAt).toISOString()}`, 'invalid_request_error', 'invalid_api_key');
    return c.row;
  }
}

// ---- OpenAI-shaped errors ----------------------------------------------------------------------

export class V1Error extends OpenClawError {
  constructor(status: number, message: string, readonly type: string, code: string | null, readonly param: string | null = null) {
    super(code ?? 'invalid_request', message, { status });
    this.v1code = code;
  }
  readonly v1code: string | null;
}

function v1Body(err: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string | null } }; retry: boolean } {
  if (err instanceof V1Error) return { status: err.status, body: { error: { message: err.message, type: err.type, param: err.param, code: err.v1code } }, retry: false };
  if (err instanceof OpenClawError) {
    const status = err.status;
    let type = status >= 500 ? 'api_error' : 'invalid_request_error';
    let retry = status >= 500;
    if (err.code === 'budget_exceeded') type = 'insufficient_quota';
    else if (err.code === 'rate_limit_exceeded' || err.code === 'token_limit_exceeded') type = 'tokens';
    else if (status === 429) {
      type = 'rate_limit_error';
      retry = true;
    }
    const param = err.code === 'model_not_found' ? 'model' : err.code === 'context_length_exceeded' || err.code === 'llm_input_too_long' ? 'messages' : null;
    return { status, body: { error: { message: err.message, type, param, code: err.code } }, retry };
  }
  return { status: 500, body: { error: { message: 'internal error; the daemon log has the details', type: 'api_error', param: null, code: 'internal' } }, retry: true };
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body, retry } = v1Body(err);
  if (status >= 500) reply.log.warn({ err }, 'v1 request failed');
  // The official clients retry 429 and 5xx unless told not to: a spent budget will not come back in a second.
  return reply.code(status).header('x-should-retry', retry ? 'true' : 'false').send(body);
}

function fail(reply: FastReply, err: unknown): void {
  const { status, body, retry } = v1Body(err);
  reply.json(status, { 'x-should-retry': retry ? 'true' : 'false' }, body);
}

// ---- request mapping ---------------------------------------------------------------------------

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).passthrough();
const messageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
    name: z.string().optional(),
    tool_call_id: z.string().optional(),
    tool_calls: z.array(z.object({ id: z.string(), type: z.literal('function').optional(), function: z.object({ name: z.string(), arguments: z.string() }) })).optional(),
  })
  .passthrough();

const chatBody = z
  .object({
    model: z.string({ required_error: 'you must provide a model parameter' }).min(1),
    messages: z.array(messageSchema).min(1, 'must hold at least one message'),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    max_tokens: z.number().int().positive().nullish(),
    max_completion_tokens: z.number().int().positive().nullish(),
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullish(),
    response_format: z.object({ type: z.enum(['text', 'json_object', 'json_schema']) }).passthrough().nullish(),
    tools: z.array(z.object({ type: z.literal('function'), function: z.object({ name: z.string(), description: z.string().optional(), parameters: z.record(z.unknown()).optional() }) })).nullish(),
    tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })]).nullish(),
    user: z.string().nullish(),
    n: z.number().int().min(1).max(1, 'only n = 1 is supported').nullish(),
  })
  .passthrough();

const embeddingsBody = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.string()).min(1)]),
    encoding_format: z.enum(['float', 'base64']).optional(),
  })
  .passthrough();

function parse<S extends z.ZodTypeAny>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.join('.') || null;
  const msg = issue.code === 'invalid_type' && issue.received === 'undefined' ? `'${param}' is a required property` : `${param ? `${param}: ` : ''}${issue.message}`;
  throw new V1Error(400, msg, 'invalid_request_error', null, param);
}

type ChatBody = z.output<typeof chatBody>;

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const optNum = (v: unknown, min: number, max: number) => v === undefined || v === null || (typeof v === 'number' && v >= min && v <= max);
const optInt = (v: unknown) => v === undefined || v === null || (typeof v === 'number' && Number.isInteger(v) && v > 0);
const optStr = (v: unknown) => v === undefined || typeof v === 'string';
const optBool = (v: unknown) => v === undefined || typeof v === 'boolean';

function fastMessage(m: unknown): boolean {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  if (typeof o.role !== 'string' || !ROLES.has(o.role) || !optStr(o.name) || !optStr(o.tool_call_id) || o.tool_calls !== undefined) return false;
  const c = o.content;
  if (c === undefined || c === null || typeof c === 'string') return true;
  if (!Array.isArray(c)) return false;
  for (const p of c) if (typeof p !== 'object' || p === null || typeof p.type !== 'string' || !optStr(p.text)) return false;
  return true;
}

/**
 * The chat body checked by hand, once per request with no allocation: the shapes clients send every
 * time (messages without tool calls, sampling options, stream). Anything else — tools, tool calls,
 * and every invalid body — goes through the zod schema, which gives the error its wording.
 */
export function parseChatBody(body: unknown): ChatBody {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    const msgs = b.messages;
    if (
      typeof b.model === 'string' && b.model.length > 0 && Array.isArray(msgs) && msgs.length > 0 && msgs.every(fastMessage) &&
      optNum(b.temperature, 0, 2) && optNum(b.top_p, 0, 1) && optInt(b.max_tokens) && optInt(b.max_completion_tokens) &&
      (b.stop === undefined || b.stop === null || typeof b.stop === 'string' || (Array.isArray(b.stop) && b.stop.every((x) => typeof x === 'string'))) &&
      (b.stream === undefined || b.stream === null || typeof b.stream === 'boolean') &&
      (b.stream_options === undefined || b.stream_options === null || (typeof b.stream_options === 'object' && optBool((b.stream_options as Record<string, unknown>).include_usage))) &&
      (b.response_format === undefined || b.response_format === null || (typeof b.response_format === 'object' && ['text', 'json_object', 'json_schema'].includes((b.response_format as { type?: unknown }).type as string))) &&
      (b.user === undefined || b.user === null || typeof b.user === 'string') &&
      (b.n === undefined || b.n === null || b.n === 1) &&
      (b.tools === undefined || b.tools === null) && (b.tool_choice === undefined || b.tool_choice === null)
    ) {
      return b as ChatBody;
    }
  }
  return parse(chatBody, body);
}
function text(content: z.infer<typeof messageSchema>['content']): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? p.text ?? '' : '')).join('');
}

export function toChatRequest(b: ChatBody): ChatRequest {
  const messages: ChatMessage[] = b.messages.map((m) => {
    const out: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content: text(m.content) };
    if (m.name) out.name = m.name;
    if (m.tool_call_id) out.toolCallId = m.tool_call_id;
    if (m.tool_calls) out.toolCalls = m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    return out;
  });
  const req: ChatRequest = { model: b.model, messages };
  if (b.temperature != null) req.temperature = b.temperature;
  if (b.top_p != null) req.topP = b.top_p;
  const max = b.max_completion_tokens ?? b.max_tokens;
  if (max != null) req.maxTokens = max;
  if (b.stop != null) req.stop = typeof b.stop === 'string' ? [b.stop] : b.stop;
  if (b.response_format && b.response_format.type !== 'text') req.json = true;
  if (b.tools?.length) req.tools = b.tools.map((t): ToolSpec => ({ name: t.function.name, ...(t.function.description ? { description: t.function.description } : {}), parameters: t.function.parameters ?? { type: 'object', properties: {} } }));
  if (b.tool_choice != null) req.toolChoice = typeof b.tool_choice === 'string' ? b.tool_choice : { name: b.tool_choice.function.name };
  if (b.user) req.user = b.user;
  return req;
}

function usageBody(u: Usage) {
  return { prompt_tokens: u.inputTokens, completion_tokens: u.outputTokens, total_tokens: u.inputTokens + u.outputTokens, prompt_tokens_details: { cached_tokens: u.cachedInputTokens } };
}

// ---- routes ------------------------------------------------------------------------------------

export interface ApiDeps {
  router: LlmRouter;
  keys: KeyStore;
  ledger: Ledger;
  now?: () => number;
}

function keyScope(key: KeyRow, req: { headers: IncomingHttpHeaders }): CallOptions {
  const session = req.headers['x-openclaw-session'];
  const cacheHeader = String(req.headers['x-openclaw-cache'] ?? req.headers['cache-control'] ?? '').toLowerCase();
  const opts: CallOptions = {
    keyId: key.id,
    key: { budget: { daily_limit_usd: key.budgetDailyUsd ?? undefined, monthly_limit_usd: key.budgetMonthlyUsd ?? undefined }, tpm: key.tpm },
  };
  if (typeof session === 'string' && session) opts.session = session;
  if (cacheHeader.includes('bypass') || cacheHeader.includes('no-cache') || cacheHeader.includes('no-store')) opts.cache = false;
  if (String(req.headers['x-openclaw-strict'] ?? '') === 'true') opts.strict = true;
  return opts;
}

function checkModel(key: KeyRow, model: string): void {
  if (key.models && !key.models.includes(model)) {
    throw new V1Error(403, `key ${key.id} may not use model '${model}' (allowed: ${key.models.join(', ')})`, 'invalid_request_error', 'model_not_allowed', 'model');
  }
}

export function v1Routes(app: FastifyInstance, deps: ApiDeps): void {
  const { router, keys } = deps;

  defineRoute(app, {
    method: 'GET',
    url: '/v1/models',
    permission: 'public',
    handler: async ({ req, reply }) => {
      try {
        const key = await keys.authenticate(req);
        const data = router
          .models()
          .filter((m) => !key.models || key.models.includes(m.id))
          .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.provider }));
        return { object: 'list', data };
      } catch (err) {
        return sendError(reply, err);
      }
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/v1/embeddings',
    bodyLimit: LARGE_BODY_LIMIT,
    permission: 'public',
    auditedAs: 'llm.call',
    handler: async ({ req, reply }) => {
      try {
        const key = await keys.authenticate(req);
        const b = parse(embeddingsBody, req.body);
        checkModel(key, b.model);
        const input = typeof b.input === 'string' ? [b.input] : b.input;
        const res = await router.embed({ model: b.model, input }, keyScope(key, req));
        reply.header('x-openclaw-cost-usd', res.costUsd.toFixed(8)).header('x-openclaw-provider', res.provider).header('x-openclaw-model', b.model).header('x-openclaw-tokens-input', String(res.usage.inputTokens));
        return {
          object: 'list',
          data: res.vectors.map((v, index) => ({ object: 'embedding', index, embedding: b.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v })),
          model: b.model,
          usage: { prompt_tokens: res.usage.inputTokens, total_tokens: res.usage.inputTokens },
        };
      } catch (err) {
        return sendError(reply, err);
      }
    },
  });

  // Most calls skip Fastify's routing and hooks (≈ 10 % of a call's CPU): see src/api/fast-path.ts.
  defineFastRoute(app, { url: '/v1/chat/completions', bodyLimit: LARGE_BODY_LIMIT, auditedAs: 'llm.call', handler: chatHandler(deps) });
}

/** POST /v1/chat/completions on the request as Node gives it (the fast path) or through Fastify. */
function chatHandler(deps: ApiDeps): (req: IncomingMessage, raw: unknown, reply: FastReply) => Promise<void> {
  const { router, keys } = deps;
  return async (req, raw, reply) => {
    let key: KeyRow;
    let body: ChatBody;
    try {
      key = await keys.authenticate(req);
      body = parseChatBody(raw);
      checkModel(key, body.model);
    } catch (err) {
      return fail(reply, err);
    }
    const request = toChatRequest(body);
    const opts = keyScope(key, req);
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor((deps.now ?? Date.now)() / 1000);
    if (body.stream) return streamChat(reply, router, request, opts, { id, created, includeUsage: body.stream_options?.include_usage === true });
    let r: Awaited<ReturnType<LlmRouter['complete']>>;
    try {
      r = await router.complete(request, opts);
    } catch (err) {
      return fail(reply, err);
    }
    const message: Record<string, unknown> = { role: 'assistant', content: r.toolCalls.length > 0 && !r.text ? null : r.text, refusal: null };
    if (r.toolCalls.length > 0) message.tool_calls = r.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
    reply.json(
      200,
      {
        'x-openclaw-cost-usd': r.costUsd.toFixed(8),
        'x-openclaw-tokens-input': String(r.usage.inputTokens),
        'x-openclaw-tokens-output': String(r.usage.outputTokens),
        'x-openclaw-provider': r.provider,
        'x-openclaw-model': r.model,
        'x-openclaw-cache': r.cache ?? 'miss',
      },
      {
        id: r.id ?? id,
        object: 'chat.completion',
        created,
        model: r.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: r.finishReason === 'error' ? 'stop' : r.finishReason }],
        usage: usageBody(r.usage),
      },
    );
  };
}

async function streamChat(reply: FastReply, router: LlmRouter, request: ChatRequest, opts: CallOptions, o: { id: string; created: number; includeUsage: boolean }): Promise<void> {
  const abort = new AbortController();
  const gen = router.stream(request, { ...opts, signal: abort.signal });
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort(new Error('client disconnected'));
  };
  reply.raw.on('close', onClose);
  let started = false;
  let model = request.model;
  // Every chunk of the stream shares its head and tail: built once, around each delta's own JSON.
  let head = '';
  const frame = (delta: string, finish: string | null = null) => `${head}${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : JSON.stringify(finish)}}]}\n\n`;
  // The writes of one event-loop turn leave in one socket write (one chunk from upstream often
  // holds several events); the first one carries the headers with it.
  const raw = reply.raw;
  let corked = false;
  const write = (s: string) => {
    if (!corked) {
      corked = true;
      raw.cork();
      setImmediate(() => {
        corked = false;
        raw.uncork();
      });
    }
    raw.write(s);
  };
  try {
    for await (const ev of gen as AsyncGenerator<RouterStreamEvent>) {
      if (ev.type === 'text') {
        write(frame(`{"content":${JSON.stringify(ev.text)}}`));
      } else if (ev.type === 'start') {
        model = ev.model;
        head = `data: {"id":${JSON.stringify(o.id)},"object":"chat.completion.chunk","created":${o.created},"model":${JSON.stringify(model)},"choices":[{"index":0,"delta":`;
        reply.hijack();
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-openclaw-provider': ev.provider,
          'x-openclaw-model': ev.model,
          'x-openclaw-cache': ev.cache ?? 'miss',
        });
        started = true;
        write(frame('{"role":"assistant","content":""}'));
      } else if (ev.type === 'tool_call') {
        const call: Record<string, unknown> = { index: ev.index, function: { arguments: ev.argumentsDelta, ...(ev.name ? { name: ev.name } : {}) } };
        if (ev.id) Object.assign(call, { id: ev.id, type: 'function' });
        write(frame(JSON.stringify({ tool_calls: [call] })));
      } else if (ev.type === 'finish') {
        write(frame('{}', ev.finishReason === 'error' ? 'stop' : ev.finishReason));
      } else if (ev.type === 'done') {
        if (o.includeUsage) {
          write(`data: ${JSON.stringify({ id: o.id, object: 'chat.completion.chunk', created: o.created, model, choices: [], usage: usageBody(ev.usage), openclaw: { cost_usd: ev.costUsd, provider: ev.provider } })}\n\n`);
        }
        write('data: [DONE]\n\n');
      }
    }
    if (started) reply.raw.end();
    else fail(reply, new Error('the stream ended before it started'));
  } catch (err) {
    if (!started) return fail(reply, err);
    // After the first token: an explicit error event, then the end — never a silent success.
    const { body } = v1Body(err);
    if (!reply.raw.destroyed) {
      reply.raw.write(`data: ${JSON.stringify(body)}\n\n`);
      reply.raw.end();
    }
  } finally {
    reply.raw.off('close', onClose);
  }
}

// ---- management (/api/llm) ---------------------------------------------------------------------

const createKeyBody = z
  .object({
    name: z.string().min(1, 'must not be empty').max(200).optional(),
    budget_daily_usd: z.number().nonnegative().nullish(),
    budget_monthly_usd: z.number().nonnegative().nullish(),
    tpm: z.number().int().positive().nullish(),
    models: z.array(z.string().min(1)).nullish(),
  })
  .strict();

const usageQuery = z.object({
  by: z.enum(['agent', 'model', 'key', 'provider', 'user', 'session']).default('agent'),
  since: z
    .string()
    .default('7d')
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a duration such as 24h or 7d (got '${v}')` });
        return z.NEVER;
      }
    }),
});

function keyView(k: KeyRow) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    createdAt: k.createdAt,
    revokedAt: k.revokedAt,
    budgetDailyUsd: k.budgetDailyUsd,
    budgetMonthlyUsd: k.budgetMonthlyUsd,
    tpm: k.tpm,
    models: k.models,
  };
}

export function managementRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const now = deps.now ?? Date.now;
  defineRoute(app, {
    method: 'POST',
    url: '/api/llm/keys',
    permission: 'llm:keys',
    body: createKeyBody,
    status: 201,
    handler: async ({ body }) => {
      const k = await deps.keys.create({ name: body.name, budgetDailyUsd: body.budget_daily_usd ?? null, budgetMonthlyUsd: body.budget_monthly_usd ?? null, tpm: body.tpm ?? null, models: body.models ?? null });
      return { ...keyView(k), key: k.key };
    },
  });
  defineRoute(app, {
    method: 'GET',
    url: '/api/llm/keys',
    permission: 'llm:keys',
    handler: async () => ({ keys: (await deps.ledger.listKeys()).map(keyView) }),
  });
  defineRoute(app, {
    method: 'DELETE',
    url: '/api/llm/keys/:id',
    permission: 'llm:keys',
    params: z.object({ id: z.string().min(1).max(100) }),
    handler: async ({ params }) => {
      await deps.keys.revoke(params.id);
      return { id: params.id, revoked: true };
    },
  });
  defineRoute(app, {
    method: 'GET',
    url: '/api/llm/usage',
    permission: 'usage:read',
    query: usageQuery,
    handler: async ({ query }) => {
      const since = now() - query.since;
      const grouped = await deps.ledger.usage({ since, by: query.by });
      // By key, each row also carries the key's name (ids alone say nothing to a reader).
      const names = query.by === 'key' ? new Map((await deps.ledger.listKeys()).map((k) => [k.id, k.name])) : null;
      const rows = grouped.map((r) => (names ? { ...r, name: r.group === null ? null : (names.get(r.group) ?? null) } : r));
      const total = rows.reduce(
        (t, r) => ({ requests: t.requests + r.requests, inputTokens: t.inputTokens + r.inputTokens, outputTokens: t.outputTokens + r.outputTokens, costUsd: t.costUsd + r.costUsd }),
        { requests: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
      );
      return { by: query.by, since, rows, total };
    },
  });
  defineRoute(app, {
    method: 'GET',
    url: '/api/llm/status',
    permission: 'usage:read',
    handler: async () => ({ models: deps.router.models(), cooling: deps.router.cooling() }),
  });
}

