// The HTTP layer under the provider adapters: one undici Pool per provider base URL (keep-alive
// connections reused across calls), per-provider timeouts (connect, first byte, idle between stream
// chunks, whole call) enforced by our own watchdog so the error says which one fired, caller
// AbortSignals, and incremental SSE / NDJSON parsers. Every failure leaves here as a ProviderError
// (or LlmAbortedError when the caller cancelled).
import { createRequire } from 'node:module';
import type { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { DEFAULT_TIMEOUTS, type ProviderTimeouts } from './providers/config.js';
import { errorFromException, errorFromResponse, LlmAbortedError, ProviderError } from './errors.js';

export interface HttpClientOptions {
  /** The provider name (the key in llm.providers), for error messages. */
  provider: string;
  /** Base URL; its path is prefixed to every request path ("https://api.openai.com/v1"). */
  baseUrl: string;
  /** Headers sent on every request (auth, versions, config `headers`). */
  headers?: Record<string, string>;
  timeouts?: Partial<ProviderTimeouts>;
  /** Most concurrent connections to the origin (default 128). */
  connections?: number;
}

export interface CallOptions {
  model: string;
  signal?: AbortSignal;
  /** Overrides: non-streaming → the whole call; streaming → first byte and idle. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Body bytes as they arrive; the idle watchdog runs between chunks. Errors are ProviderErrors. */
  chunks: AsyncIterable<Uint8Array>;
  /** Release the connection (destroys the body when it was not read to the end). */
  close(): void;
}

/**
 * One call's deadlines and cancellation: the timer or the caller's signal fires it once (a listener
 * rather than AbortSignal.any, which retains signals on Node 20). A JSON call hands it undici's own
 * abort function (`bind`); a streaming call takes an AbortSignal (`signal`, made on first use).
 */
class Watchdog {
  private ctl: AbortController | undefined;
  private abortFn: ((err: Error) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** What fired it (the caller's cancellation or a deadline), once it fired. */
  private fired: Error | undefined;
  /** Why the watchdog fired, for the error message (deadlines only). */
  reason: string | undefined;
  private readonly onCallerAbort = () => this.fire(new Error('cancelled by the caller'));

  constructor(private readonly callerSignal?: AbortSignal) {
    callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /** An AbortSignal that aborts when the watchdog fires. */
  get signal(): AbortSignal {
    if (!this.ctl) {
      this.ctl = new AbortController();
      if (this.fired) this.ctl.abort(this.fired);
    }
    return this.ctl.signal;
  }

  /** The transport's abort for this call (undici's onConnect): called at once if it already fired. */
  bind(abort: (err: Error) => void): void {
    this.abortFn = abort;
    if (this.fired) abort(this.fired);
  }

  /** Also told when it fires (a JSON call fails at once, even while its request still waits for a connection). */
  onFire: ((err: Error) => void) | undefined;

  private fire(err: Error): void {
    if (this.fired) return;
    this.fired = err;
    this.ctl?.abort(err);
    this.abortFn?.(err);
    this.onFire?.(err);
  }

  /** Stop the timer and forget the caller's signal (the call is over). */
  dispose(): void {
    this.clear();
    this.abortFn = undefined;
    this.onFire = undefined;
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  arm(ms: number, reason: string): void {
    this.clear();
    if (!Number.isFinite(ms) || ms <= 0) return;
    this.timer = setTimeout(() => {
      this.reason = reason;
      this.fire(new Error(reason));
    }, ms);
    this.timer.unref?.();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A good JSON answer; its headers (rarely read) are parsed when they are. */
class JsonAnswer<T> implements JsonResponse<T> {
  private parsed: Record<string, string | string[] | undefined> | undefined;
  constructor(readonly status: number, readonly body: T, private readonly raw: Buffer[]) {}
  get headers(): Record<string, string | string[] | undefined> {
    return (this.parsed ??= parseHeaders(this.raw));
  }
}

/** undici's raw-header parser, loaded with undici (see the constructor). */
let parseHeaders: (raw: Buffer[]) => Record<string, string | string[]>;

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)}s` : `${ms}ms`);

export class HttpClient {
  readonly provider: string;
  readonly timeouts: ProviderTimeouts;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;
  private readonly postHeaders: Record<string, string>;
  private closed = false;

  constructor(opts: HttpClientOptions) {
    this.provider = opts.provider;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...(opts.timeouts ?? {}) };
    const url = new URL(opts.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headers = { ...(opts.headers ?? {}) };
    // undici is loaded with the first provider, not with the daemon (idle-memory target).
    const undici = createRequire(import.meta.url)('undici') as typeof import('undici');
    const UndiciPool = undici.Pool;
    parseHeaders ??= undici.util.parseHeaders;
    // The headers of every JSON POST, built once (a call's own headers are added on top).
    this.postHeaders = { 'content-type': 'application/json', accept: 'application/json', ...this.headers };
    this.pool = new UndiciPool(url.origin, {
      connections: opts.connections ?? 128,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connect: { timeout: this.timeouts.connectMs },
      // Our watchdog enforces first-byte, idle and total deadlines; undici's own are off.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  private async send(method: 'GET' | 'POST', path: string, body: unknown, call: CallOptions, dog: Watchdog): Promise<Dispatcher.ResponseData> {
    if (this.closed) throw new ProviderError({ kind: 'connection', provider: this.provider, model: call.model, message: `${this.provider}: the provider was closed` });
    if (call.signal?.aborted) throw new LlmAbortedError(this.provider, call.model);
    try {
      return await this.pool.request({
        method,
        path: `${this.basePath}${path}`,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), accept: 'application/json', ...this.headers, ...(call.headers ?? {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: dog.signal,
      });
    } catch (err) {
      throw this.mapError(err, call, dog, false);
    }
  }

  private mapError(err: unknown, call: CallOptions, dog: Watchdog, delivered: boolean): Error {
    dog.clear();
    if (err instanceof ProviderError || err instanceof LlmAbortedError) return delivered ? errorFromException(this.provider, call.model, err, { delivered }) : err;
    if (dog.reason) return errorFromException(this.provider, call.model, err, { timeout: dog.reason, delivered });
    if (call.signal?.aborted) return new LlmAbortedError(this.provider, call.model);
    return errorFromException(this.provider, call.model, err, { delivered });
  }

  /**
   * A JSON request; a non-2xx answer throws the normalised ProviderError. Dispatched with a handler
   * that gathers the body's bytes (no response stream, AbortSignal or header object per call: this
   * is the /v1 hot path); the watchdog aborts through undici's own abort.
   */
  async json<T = unknown>(method: 'GET' | 'POST', path: string, body: unknown, call: CallOptions): Promise<JsonResponse<T>> {
    if (this.closed) throw new ProviderError({ kind: 'connection', provider: this.provider, model: call.model, message: `${this.provider}: the provider was closed` });
    if (call.signal?.aborted) throw new LlmAbortedError(this.provider, call.model);
    const dog = new Watchdog(call.signal);
    const total = call.timeoutMs ?? this.timeouts.totalMs;
    dog.arm(total, `no complete response within ${fmt(total)} (timeout)`);
    let status = 0;
    let rawHeaders: Buffer[] = [];
    let text: string;
    try {
      text = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        dog.onFire = reject;
        const handler: Dispatcher.DispatchHandler = {
          onConnect: (abort) => dog.bind(abort as (err: Error) => void),
          onHeaders: (statusCode, headers) => {
            status = statusCode;
            rawHeaders = headers;
            return true;
          },
          onData: (chunk) => {
            chunks.push(chunk);
            return true;
          },
          onComplete: () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')),
          onError: reject,
        };
        const headers = body !== undefined ? (call.headers ? { ...this.postHeaders, ...call.headers } : this.postHeaders) : { accept: 'application/json', ...this.headers, ...(call.headers ?? {}) };
        this.pool.dispatch({ method, path: `${this.basePath}${path}`, headers, body: body !== undefined ? JSON.stringify(body) : undefined }, handler);
      });
    } catch (err) {
      throw this.mapError(err, call, dog, false);
    } finally {
      dog.dispose();
    }
    if (status < 200 || status >= 300) throw errorFromResponse(this.provider, call.model, status, parseHeaders(rawHeaders), text);
    try {
      return new JsonAnswer<T>(status, JSON.parse(text) as T, rawHeaders);
    } catch {
      throw new ProviderError({
        kind: 'server',
        status,
        provider: this.provider,
        model: call.model,
        message: `${this.provider} (${call.model}): HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`,
      });
    }
  }

  /**
   * A streaming request. Resolves once 2xx headers arrived (else throws the normalised error). The
   * first-byte deadline runs from the request until the first body chunk; the idle deadline between
   * chunks after that. Errors while reading are plain transport ProviderErrors; the adapter turns
   * them into stream_interrupted once it has delivered output.
   */
  async stream(path: string, body: unknown, call: CallOptions): Promise<StreamResponse> {
    const dog = new Watchdog(call.signal);
    const firstByte = call.timeoutMs ?? this.timeouts.firstByteMs;
    const idle = call.timeoutMs ?? this.timeouts.idleMs;
    dog.arm(firstByte, `no first byte within ${fmt(firstByte)} (first-byte timeout)`);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.send('POST', path, body, call, dog);
    } catch (err) {
      dog.dispose();
      throw err;
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      let text = '';
      try {
        text = await res.body.text();
      } catch {
        // the status says enough
      }
      dog.dispose();
      throw errorFromResponse(this.provider, call.model, res.statusCode, res.headers, text);
    }
    let ended = false;
    const self = this;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      try {
        for await (const c of res.body as AsyncIterable<Uint8Array>) {
          dog.arm(idle, `no data for ${fmt(idle)} between stream chunks (idle timeout)`);
          yield c;
        }
        ended = true;
      } catch (err) {
        throw self.mapError(err, call, dog, false);
      } finally {
        dog.clear();
      }
    }
    return {
      status: res.statusCode,
      headers: res.headers,
      chunks: chunks(),
      close: () => {
        dog.dispose();
        if (!ended && !res.body.destroyed) res.body.destroy();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close().catch(() => this.pool.destroy());
  }
}

// ---- SSE --------------------------------------------------------------------------------------

export interface SseEvent {
  /** The `event:` field; undefined for unnamed events (OpenAI). */
  event?: string;
  /** `data:` lines joined with "\n". */
  data: string;
  id?: string;
}

/**
 * Incremental Server-Sent Events parser (WHATWG rules): lines end in \n, \r\n or \r; a blank line
 * dispatches; `:` lines are comments (keep-alives); multi-line data is joined with \n; one leading
 * space after the colon is dropped. Events without data are not dispatched.
 */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private readonly decoder = new TextDecoder();
  private sawCR = false;

  push(chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.sawCR && text.startsWith('\n')) text = text.slice(1);
    this.sawCR = false;
    this.buf += text;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const ch = this.buf.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.line(this.buf.slice(start, i), out);
      if (ch === 13) {
        if (i + 1 < this.buf.length) {
          if (this.buf.charCodeAt(i + 1) === 10) i++;
        } else this.sawCR = true;
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** End of a cleanly finished stream: dispatches a last event left without its blank line. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const rest = this.buf + this.decoder.decode();
    this.buf = '';
    if (rest.length > 0) this.line(rest, out);
    this.line('', out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) {
        const ev: SseEvent = { data: this.data.join('\n') };
        if (this.event !== undefined) ev.event = this.event;
        if (this.id !== undefined) ev.id = this.id;
        out.push(ev);
      }
      this.data = [];
      this.event = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
  }
}

/** Incremental NDJSON parser (Ollama): one JSON value per line; blank lines skipped. */
export class NdjsonParser {
  private buf = '';
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array | string): unknown[] {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const out: unknown[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line.length > 0) out.push(JSON.parse(line));
    }
    return out;
  }

  end(): unknown[] {
    const line = (this.buf + this.decoder.decode()).trim();
    this.buf = '';
    return line.length > 0 ? [JSON.parse(line)] : [];
  }
}
