// The machinery shared by the fake OpenAI, Anthropic and Ollama servers: a real node:http server on
// loopback, a script queue of steps, a bounded request log with connection ids, delays that end when
// the server closes, deterministic replies, usage and embeddings. Each dialect (openai.ts,
// anthropic.ts, ollama.ts) only formats bodies, stream frames and errors. See index.ts for the API.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash } from 'node:crypto';

/** One scripted behaviour for one request. Every field is optional; unset fields take the default. */
export interface FakeStep {
  /** Answer with this HTTP error status (429, 500, 503, 529, 401, 400, …) and the dialect's error body. */
  status?: number;
  /** Retry-After header: seconds (number) or an HTTP date (string). */
  retryAfter?: number | string;
  /** Error message / type / code for error statuses and in-stream errors. */
  error?: { message?: string; type?: string; code?: string };
  /** Answer with the dialect's context-length error (400). */
  contextLength?: boolean;
  /** Fixed reply text. */
  reply?: string;
  /** Reply with the last user message. */
  echo?: boolean;
  /** Reply with JSON.stringify(json). */
  json?: unknown;
  /** The model calls these tools instead of answering in text. */
  toolCalls?: Array<{ name: string; arguments: unknown; id?: string }>;
  /** Reported usage; defaults are computed from the request and the reply. */
  usage?: { input?: number; output?: number; cached?: number };
  /** Leave usage out of the response (provider that does not report it). */
  noUsage?: boolean;
  finishReason?: string;
  /** Answer as this model id (default: the requested model). */
  model?: string;
  /** Delay before the response headers, ms. */
  latencyMs?: number;
  /** Streaming: delay between the headers and the first chunk, ms (non-streaming: added to latency). */
  firstTokenMs?: number;
  /** Streaming: delay between chunks, ms. */
  chunkDelayMs?: number;
  /** Streaming: the reply split into exactly these text chunks. */
  chunks?: string[];
  /** Never answer (the connection stays open until the client gives up or the fake closes). */
  hang?: boolean;
  /** Streaming: send this many content chunks, then stall forever (idle timeout). */
  hangAfterChunks?: number;
  /** Streaming: send this many content chunks, then destroy the socket (mid-stream disconnect). */
  disconnectAfterChunks?: number;
  /** Streaming: send this many content chunks, then an in-band error event, then end. */
  streamErrorAfterChunks?: number;
  /** Destroy the socket as soon as the request arrives (connection reset, no response). */
  destroy?: boolean;
  /** Streaming: send SSE comment lines (keep-alives) before and between events (SSE dialects). */
  keepAliveComments?: boolean;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

export interface FakeRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined when empty or not JSON). */
  body: any;
  rawBody: string;
  /** Date.now() when the request arrived. */
  at: number;
  /** Increments per TCP connection accepted: equal ids mean keep-alive reuse. */
  connectionId: number;
  /** The step that answered it (after defaults). */
  step: FakeStep;
}

/** What a dialect must produce: everything provider-specific. */
export interface Dialect {
  name: string;
  /** Base URL to configure a provider with, from the server origin. */
  baseUrl(origin: string): string;
  /** Route a request: which kind of endpoint it is, or null for 404. */
  route(method: string, path: string): 'chat' | 'embeddings' | 'models' | null;
  /** Is this chat request streaming? */
  isStream(body: any): boolean;
  /** Extract the messages as plain {role, content} text for echo / usage. */
  messages(body: any): Array<{ role: string; content: string }>;
  wantsJson(body: any): boolean;
  errorBody(status: number, step: FakeStep): { status: number; body: unknown };
  contextLengthError(step: FakeStep): { status: number; body: unknown };
  completion(ctx: ReplyContext): unknown;
  /** Streaming content type and framing. */
  streamContentType: string;
  /** Frames before the first content chunk (e.g. message_start). */
  streamStart(ctx: ReplyContext): string[];
  /** One content text chunk. */
  streamText(ctx: ReplyContext, text: string, index: number): string[];
  /** Tool-call frames (whole calls; a dialect may split arguments). */
  streamTools(ctx: ReplyContext): string[];
  streamEnd(ctx: ReplyContext): string[];
  streamError(ctx: ReplyContext, step: FakeStep): string[];
  /** An SSE comment, or null when the framing has none (NDJSON). */
  keepAlive: string | null;
  embeddings(body: any, vectors: number[][], model: string, inputTokens: number): unknown;
  embeddingInputs(body: any): string[];
  models(list: string[]): unknown;
  /** Is the request authorised with `apiKey`? */
  authorised(headers: http.IncomingHttpHeaders, apiKey: string): boolean;
}

export interface ReplyContext {
  body: any;
  model: string;
  text: string;
  chunks: string[];
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finishReason: string;
  usage: { input: number; output: number; cached: number } | null;
  id: string;
  created: number;
  wantsUsage: boolean;
}

export interface FakeOptions {
  /** Require this API key (401 otherwise). */
  apiKey?: string;
  /** Models listed by the models endpoint. */
  models?: string[];
  /** Keep at most this many requests in the log (default 10,000; oldest dropped). */
  logLimit?: number;
  /** Port (default: any free port). */
  port?: number;
}

export interface FakeServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** What to put in the provider's base_url (OpenAI: url + '/v1'; Anthropic and Ollama: url). */
  readonly baseUrl: string;
  readonly requests: FakeRequest[];
  /** Chat requests only (the log filtered by endpoint). */
  readonly chatRequests: FakeRequest[];
  /** Number of TCP connections accepted so far. */
  readonly connections: number;
  /** Append steps for the next chat requests (one step per request, in order). */
  script(steps: FakeStep[]): this;
  /** Append steps for the next embeddings requests. */
  scriptEmbeddings(steps: FakeStep[]): this;
  /** Defaults merged under every step (e.g. { latencyMs: 5 } for all requests). */
  setDefault(step: FakeStep): this;
  /** Steps not consumed yet. */
  pending(): number;
  /** Forget the log and unconsumed steps (keeps the defaults). */
  reset(): this;
  /** Resolves when at least n requests were logged. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const STOP = new Set(
  'a an the of in on at to for is are was were be what whats what\'s which who whom how do does did tell me please can could would you your i my it its this that and or city'.split(' '),
);

export function words(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 0);
}

/** A deterministic token count stand-in: words plus punctuation, at least 1. */
export function fakeTokens(text: string): number {
  const n = (text.match(/[A-Za-z0-9]+|[^\sA-Za-z0-9]/g) ?? []).length;
  return Math.max(1, n);
}

export const EMBEDDING_DIM = 256;

/**
 * Hashed bag of content words, L2-normalised: paraphrases that share content words are close
 * ("capital of France?" vs "what's the capital city of France" → cosine 1.0 after stop words;
 * "capital of France" vs "capital of Germany" → 0.5). Plural 's' is stripped.
 */
export function fakeEmbedding(text: string, dim = EMBEDDING_DIM): number[] {
  const v = new Array<number>(dim).fill(0);
  for (let w of words(text)) {
    if (w.length < 2 || STOP.has(w)) continue;
    if (w.length > 3 && w.endsWith('s')) w = w.slice(0, -1);
    const h = createHash('sha1').update(w).digest();
    const i = h.readUInt32BE(0) % dim;
    v[i] += h[4]! & 1 ? 1 : -1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  if (norm === 0) {
    v[0] = 1;
    return v;
  }
  return v.map((x) => x / norm);
}

export function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Split text into word chunks that keep their leading space: "Hello big world" → ["Hello", " big", " world"]. */
export function splitChunks(text: string): string[] {
  const parts = text.match(/\s*\S+/g);
  return parts && parts.length > 0 ? parts : [text];
}

let idCounter = 0;

export async function startFake(dialect: Dialect, opts: FakeOptions = {}): Promise<FakeServer> {
  const chatQueue: FakeStep[] = [];
  const embedQueue: FakeStep[] = [];
  let defaults: FakeStep = {};
  const log: FakeRequest[] = [];
  const logLimit = opts.logLimit ?? 10_000;
  const models = opts.models ?? [];
  const closing = new AbortController();
  const connIds = new WeakMap<Socket, number>();
  let connCount = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];

  const sleep = (ms: number | undefined): Promise<void> => {
    if (!ms || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      if (closing.signal.aborted) return resolve();
      const t = setTimeout(() => {
        closing.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      closing.signal.addEventListener('abort', onAbort, { once: true });
    });
  };
  const forever = (): Promise<void> => new Promise((resolve) => closing.signal.addEventListener('abort', () => resolve(), { once: true }));

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: `fake server bug: ${String(err)}` } }));
        } else res.destroy();
      });
    });
  });
  server.keepAliveTimeout = 10_000;
  server.on('connection', (socket: Socket) => {
    connIds.set(socket, ++connCount);
  });

  function record(entry: FakeRequest): void {
    log.push(entry);
    if (log.length > logLimit) log.splice(0, log.length - logLimit);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (log.length >= waiters[i]!.n || totalSeen >= waiters[i]!.n) {
        waiters[i]!.resolve();
        waiters.splice(i, 1);
      }
    }
  }
  let totalSeen = 0;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    let body: any;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const kind = dialect.route(method, path);
    const queued = kind === 'chat' ? chatQueue.shift() : kind === 'embeddings' ? embedQueue.shift() : undefined;
    const step: FakeStep = { ...defaults, ...(queued ?? {}) };
    totalSeen++;
    record({ method, path, headers: req.headers, body, rawBody: raw, at: Date.now(), connectionId: connIds.get(req.socket) ?? 0, step });

    if (step.destroy) {
      req.socket.destroy();
      return;
    }
    const json = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...extra, ...(step.headers ?? {}) });
      res.end(JSON.stringify(payload));
    };
    if (opts.apiKey !== undefined && !dialect.authorised(req.headers, opts.apiKey)) {
      const e = dialect.errorBody(401, { error: { message: 'Incorrect API key provided (fake)', type: 'authentication_error', code: 'invalid_api_key' } });
      return json(e.status, e.body);
    }
    if (kind === null) return json(404, { error: { message: `fake ${dialect.name}: no route ${method} ${path}`, type: 'not_found' } });
    if (kind === 'models') return json(200, dialect.models(models));

    await sleep(step.latencyMs);
    if (step.hang) {
      await forever();
      res.destroy();
      return;
    }
    if (step.contextLength) {
      const e = dialect.contextLengthError(step);
      return json(e.status, e.body);
    }
    if (step.status !== undefined && step.status >= 400) {
      const e = dialect.errorBody(step.status, step);
      const extra: Record<string, string> = {};
      if (step.retryAfter !== undefined) extra['retry-after'] = String(step.retryAfter);
      return json(e.status, e.body, extra);
    }

    if (kind === 'embeddings') {
      const inputs = dialect.embeddingInputs(body);
      const vectors = inputs.map((t) => fakeEmbedding(t));
      const tokens = inputs.reduce((s, t) => s + fakeTokens(t), 0);
      return json(200, dialect.embeddings(body, vectors, step.model ?? body?.model ?? 'fake-embedding', tokens));
    }

    const ctx = replyContext(dialect, body, step);
    if (!dialect.isStream(body)) {
      await sleep(step.firstTokenMs);
      return json(200, dialect.completion(ctx));
    }

    // Streaming.
    res.writeHead(200, { 'content-type': dialect.streamContentType, 'cache-control': 'no-cache', ...(step.headers ?? {}) });
    res.flushHeaders();
    const write = (frames: string[]) => {
      for (const f of frames) {
        if (!res.destroyed) res.write(f);
      }
    };
    const ka = step.keepAliveComments && dialect.keepAlive ? [dialect.keepAlive] : [];
    await sleep(step.firstTokenMs);
    write([...ka, ...dialect.streamStart(ctx)]);
    // After `sent` content chunks: cut, stall or fail as scripted. True when the response is over.
    const fault = async (sent: number): Promise<boolean> => {
      if (step.disconnectAfterChunks === sent) {
        // Let the bytes reach the client, then cut the connection without a clean end.
        await sleep(20);
        res.socket?.destroy();
        return true;
      }
      if (step.hangAfterChunks === sent) {
        await forever();
        res.destroy();
        return true;
      }
      if (step.streamErrorAfterChunks === sent) {
        write(dialect.streamError(ctx, step));
        res.end();
        return true;
      }
      return false;
    };
    if (await fault(0)) return;
    for (let i = 0; i < ctx.chunks.length; i++) {
      if (i > 0) await sleep(step.chunkDelayMs);
      if (res.destroyed) return;
      write([...dialect.streamText(ctx, ctx.chunks[i]!, i), ...(i > 0 ? ka : [])]);
      if (await fault(i + 1)) return;
    }
    if (ctx.toolCalls.length > 0) write(dialect.streamTools(ctx));
    write(dialect.streamEnd(ctx));
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const fake: FakeServer = {
    url,
    baseUrl: dialect.baseUrl(url),
    get requests() {
      return log;
    },
    get chatRequests() {
      return log.filter((r) => dialect.route(r.method, r.path) === 'chat');
    },
    get connections() {
      return connCount;
    },
    script(steps) {
      chatQueue.push(...steps);
      return this;
    },
    scriptEmbeddings(steps) {
      embedQueue.push(...steps);
      return this;
    },
    setDefault(step) {
      defaults = { ...step };
      return this;
    },
    pending() {
      return chatQueue.length + embedQueue.length;
    },
    reset() {
      log.length = 0;
      totalSeen = 0;
      chatQueue.length = 0;
      embedQueue.length = 0;
      return this;
    },
    waitForRequests(n, timeoutMs = 10_000) {
      if (totalSeen >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`fake ${dialect.name}: ${totalSeen} requests after ${timeoutMs} ms, waited for ${n}`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      });
    },
    async close() {
      closing.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

function replyContext(dialect: Dialect, body: any, step: FakeStep): ReplyContext {
  const messages = dialect.messages(body);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  let text: string;
  if (step.json !== undefined) text = JSON.stringify(step.json);
  else if (step.reply !== undefined) text = step.reply;
  else if (step.echo) text = lastUser;
  else if (dialect.wantsJson(body)) text = JSON.stringify({ reply: 'fake', echo: lastUser });
  else text = `fake ${dialect.name} reply to: ${lastUser}`;
  const toolCalls = (step.toolCalls ?? []).map((t, i) => ({
    id: t.id ?? `call_${i}_${(++idCounter).toString(36)}`,
    name: t.name,
    arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments ?? {}),
  }));
  if (toolCalls.length > 0 && step.reply === undefined && step.json === undefined && !step.echo) text = '';
  const chunks = step.chunks ?? (text.length > 0 ? splitChunks(text) : []);
  const inputTokens = messages.reduce((s, m) => s + fakeTokens(m.content) + 4, 0);
  const outputTokens = chunks.length + toolCalls.reduce((s, t) => s + fakeTokens(t.arguments) + 2, 0);
  const usage = step.noUsage
    ? null
    : { input: step.usage?.input ?? inputTokens, output: step.usage?.output ?? Math.max(1, outputTokens), cached: step.usage?.cached ?? 0 };
  return {
    body,
    model: step.model ?? body?.model ?? 'fake-model',
    text: step.chunks ? step.chunks.join('') : text,
    chunks,
    toolCalls,
    finishReason: step.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    usage,
    id: `fake-${(++idCounter).toString(36)}`,
    created: Math.floor(Date.now() / 1000),
    wantsUsage: true,
  };
}

/** Plain text of a message content that may be a string or an array of parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p: any) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : typeof p?.content === 'string' ? p.content : p?.input ? JSON.stringify(p.input) : ''))
      .join('');
  }
  return content == null ? '' : JSON.stringify(content);
}

export const sse = (data: unknown, event?: string): string => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
