// HttpClient: fetch with what an always-on agent needs and usually forgets — a deadline on every
// request (AbortSignal.timeout), retries on network errors, 5xx and 429 with backoff that honours
// Retry-After, a body read completely within the deadline, and cancellation when the agent stops.
//
// Responses are buffered, so `json()` and `text()` are synchronous and can be called repeatedly;
// agents poll health endpoints and APIs, not multi-gigabyte downloads.
//
// Network policy (security.sandbox): every request goes through a guard when one applies — the
// `network` option, or in agent workers the isolate-wide hook the runtime installs (see
// src/security/guardrails/worker.ts). The guard's rate limit is charged once per request, and the
// request runs on an undici dispatcher whose connector checks the address each connection is
// opened to (redirects included); a refusal is a `network_blocked` error, never retried.
import { checkOptions } from '../util/options.js';
import { setTimeout as delay } from 'node:timers/promises';
import { HttpRequestError } from './errors.js';
import type { NetworkPolicyConfig } from '../security/guardrails/network-rules.js';

/** globalThis[HTTP_GUARD]: () => HttpGuard, installed in agent workers. */
export const HTTP_GUARD: unique symbol = Symbol.for('openclaw.http.guard') as never;

export interface HttpGuard {
  network: NetworkPolicyConfig;
  /** Called once per request, before the first attempt; throws to refuse (rate_limited). */
  before?(method: string, url: string): Promise<void> | void;
}

export interface HttpClientOptions {
  /** Prefix for relative URLs: new HttpClient({ baseUrl: 'https://api.example.com/v1' }).get('items'). */
  baseUrl?: string;
  /** Per-request deadline in SECONDS (the seed's `HttpClient(timeout=15)`). Default 15. */
  timeout?: number;
  /** Per-request deadline in milliseconds; wins over `timeout`. */
  timeoutMs?: number;
  /** Extra attempts after the first on network errors, timeouts, 5xx and 429. Default 2. */
  retries?: number;
  /** First delay between attempts in SECONDS (doubles each retry). Default 1. */
  retryDelay?: number;
  retryDelayMs?: number;
  /** Upper bound for a backoff step and for Retry-After; a longer Retry-After ends the retries. Default 30 s. */
  maxRetryDelayMs?: number;
  headers?: Record<string, string>;
  /** Cancels requests when aborted (the agent's this.signal). A function is read per request. */
  signal?: AbortSignal | (() => AbortSignal | undefined);
  /** How to wait between attempts. Injectable so tests can record delays instead of sleeping. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Network policy for this client (allow/block lists; cloud metadata is always blocked). In agent
   * workers the project's security.sandbox policy applies without this option.
   */
  network?: Partial<NetworkPolicyConfig>;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  /** Seconds; overrides the client's timeout for this request. */
  timeout?: number;
  timeoutMs?: number;
  retries?: number;
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  /** Sent as is. */
  body?: string | Uint8Array | URLSearchParams;
  signal?: AbortSignal;
}

/** Every option, so an unknown one is refused with a did-you-mean (the Record makes tsc keep it complete). */
const CLIENT_OPTIONS = Object.keys({ baseUrl: 1, timeout: 1, timeoutMs: 1, retries: 1, retryDelay: 1, retryDelayMs: 1, maxRetryDelayMs: 1, headers: 1, signal: 1, sleep: 1, network: 1 } satisfies Record<keyof HttpClientOptions, 1>);
const REQUEST_OPTIONS = Object.keys({ headers: 1, query: 1, timeout: 1, timeoutMs: 1, retries: 1, json: 1, body: 1, signal: 1 } satisfies Record<keyof RequestOptions, 1>);

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class HttpResponse {
  readonly status: number;
  /** Same as status (the seed's `response.status_code`). */
  readonly statusCode: number;
  readonly ok: boolean;
  readonly statusText: string;
  /** Lower-cased header names. */
  readonly headers: Record<string, string>;
  readonly url: string;
  readonly method: string;
  /** Time of the final attempt, from sending the request to the last byte of the body. */
  readonly latencyMs: number;
  /** How many attempts it took (1 = no retry). */
  readonly attempts: number;
  readonly body: Buffer;

  constructor(init: { status: number; statusText: string; headers: Record<string, string>; url: string; method: string; latencyMs: number; attempts: number; body: Buffer }) {
    this.status = init.status;
    this.statusCode = init.status;
    this.ok = init.status >= 200 && init.status < 300;
    this.statusText = init.statusText;
    this.headers = init.headers;
    this.url = init.url;
    this.method = init.method;
    this.latencyMs = init.latencyMs;
    this.attempts = init.attempts;
    this.body = init.body;
  }

  text(): string {
    return this.body.toString('utf8');
  }

  json<T = any>(): T {
    const text = this.text();
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
      throw new HttpRequestError('http_invalid_response', `${this.method} ${this.url} returned HTTP ${this.status} with a body that is not JSON: ${JSON.stringify(shown)}`, {
        method: this.method,
        url: this.url,
        attempts: this.attempts,
        cause: err,
      });
    }
  }
}

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal });
}

function seconds(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`HttpClient: ${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return v;
}

export class HttpClient {
  private readonly baseUrl: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly headers: Record<string, string>;
  private readonly externalSignal: HttpClientOptions['signal'];
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly closer = new AbortController();
  private readonly network: NetworkPolicyConfig | undefined;

  constructor(opts: HttpClientOptions = {}) {
    checkOptions('new HttpClient()', opts, CLIENT_OPTIONS);
    this.baseUrl = opts.baseUrl;
    this.timeoutMs = seconds(opts.timeoutMs, 'timeoutMs') ?? (seconds(opts.timeout, 'timeout') ?? 15) * 1000;
    this.retries = Math.floor(seconds(opts.retries, 'retries') ?? 2);
    this.retryDelayMs = seconds(opts.retryDelayMs, 'retryDelayMs') ?? (seconds(opts.retryDelay, 'retryDelay') ?? 1) * 1000;
    this.maxRetryDelayMs = seconds(opts.maxRetryDelayMs, 'maxRetryDelayMs') ?? 30_000;
    this.headers = { ...(opts.headers ?? {}) };
    this.externalSignal = opts.signal;
    this.sleep = opts.sleep ?? defaultSleep;
    if (opts.network) this.network = { allowed: [...(opts.network.allowed ?? [])], blocked: [...(opts.network.blocked ?? [])], dnsServers: [...(opts.network.dnsServers ?? [])] };
  }

  /** The guard for a request: this client's own policy, else the agent worker's hook. */
  private guard(): HttpGuard | undefined {
    if (this.network) return { network: this.network };
    const hook = (globalThis as Record<symbol, unknown>)[HTTP_GUARD];
    return typeof hook === 'function' ? (hook as () => HttpGuard | undefined)() : undefined;
  }

  get closed(): boolean {
    return this.closer.signal.aborted;
  }

  get(url: string, opts?: RequestOptions): Promise<HttpResponse> {
    return this.request('GET', url, opts);
  }

  /** `body`: a plain object or array is sent as JSON; a string, bytes or URLSearchParams as is. */
  post(url: string, body?: unknown, opts?: RequestOptions): Promise<HttpResponse> {
    return this.request('POST', url, withBody(body, opts));
  }

  put(url: string, body?: unknown, opts?: RequestOptions): Promise<HttpResponse> {
    return this.request('PUT', url, withBody(body, opts));
  }

  patch(url: string, body?: unknown, opts?: RequestOptions): Promise<HttpResponse> {
    return this.request('PATCH', url, withBody(body, opts));
  }

  delete(url: string, opts?: RequestOptions): Promise<HttpResponse> {
    return this.request('DELETE', url, opts);
  }

  async request(method: string, url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    checkOptions(`HttpClient.${method.toLowerCase()}()`, opts, REQUEST_OPTIONS);
    method = method.toUpperCase();
    const target = this.resolve(url, opts.query);
    const timeoutMs = seconds(opts.timeoutMs, 'timeoutMs') ?? (opts.timeout !== undefined ? seconds(opts.timeout, 'timeout')! * 1000 : this.timeoutMs);
    const maxAttempts = 1 + Math.floor(seconds(opts.retries, 'retries') ?? this.retries);
    const headers: Record<string, string> = { 'user-agent': 'openclaw-agent', ...this.headers, ...(opts.headers ?? {}) };
    let body: string | Uint8Array | URLSearchParams | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }

    const external = typeof this.externalSignal === 'function' ? this.externalSignal() : this.externalSignal;
    const cancel = AbortSignal.any([this.closer.signal, ...(external ? [external] : []), ...(opts.signal ? [opts.signal] : [])]);
    const fail = (code: 'http_closed' | 'http_aborted', attempts: number, cause?: unknown) =>
      new HttpRequestError(code, code === 'http_closed' ? `${method} ${target}: the HttpClient was closed` : `${method} ${target} was cancelled (the agent is stopping or the caller aborted)`, {
        method,
        url: target,
        attempts,
        cause,
      });

    const guard = this.guard();
    let doFetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => Promise<Response> = fetch;
    if (guard) {
      await guard.before?.(method, target);
      const [{ dispatcherFor }, undici] = await Promise.all([import('../security/guardrails/network.js'), import('undici')]);
      const dispatcher = dispatcherFor(guard.network);
      doFetch = (url, init) => undici.fetch(url, { ...(init as object), dispatcher } as never) as unknown as Promise<Response>;
    }

    let lastError: HttpRequestError | null = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (this.closed) throw fail('http_closed', attempt - 1);
      if (cancel.aborted) throw fail('http_aborted', attempt - 1);
      const deadline = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([deadline, cancel]);
      const started = performance.now();
      let waitMs: number;
      try {
        const res = await doFetch(target, { method, headers, body, signal, redirect: 'follow' });
        const buf = Buffer.from(await res.arrayBuffer());
        const response = new HttpResponse({
          status: res.status,
          statusText: res.statusText,
          headers: Object.fromEntries(res.headers),
          url: target,
          method,
          latencyMs: Math.round(performance.now() - started),
          attempts: attempt,
          body: buf,
        });
        if (!RETRY_STATUSES.has(res.status) || attempt === maxAttempts) return response;
        const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
        if (retryAfter !== null && retryAfter > this.maxRetryDelayMs) return response; // the server asks for longer than we wait
        waitMs = retryAfter ?? this.backoff(attempt);
      } catch (err) {
        const blocked = networkBlocked(err);
        if (blocked) throw blocked;
        if (this.closed) throw fail('http_closed', attempt, err);
        if (cancel.aborted) throw fail('http_aborted', attempt, err);
        if (deadline.aborted) {
          lastError = new HttpRequestError('http_timeout', `${method} ${target} timed out after ${timeoutMs} ms (attempt ${attempt} of ${maxAttempts})`, {
            method,
            url: target,
            attempts: attempt,
            cause: err,
          });
        } else {
          lastError = new HttpRequestError('http_network', `${method} ${target} failed: ${describeNetworkError(err)} (attempt ${attempt} of ${maxAttempts})`, {
            method,
            url: target,
            attempts: attempt,
            cause: err,
          });
        }
        if (attempt === maxAttempts) throw lastError;
        waitMs = this.backoff(attempt);
      }
      try {
        await this.sleep(waitMs, cancel);
      } catch (err) {
        throw fail(this.closed ? 'http_closed' : 'http_aborted', attempt, err);
      }
    }
    // Unreachable: the loop returns or throws on its last attempt.
    throw lastError ?? new Error('HttpClient: no attempt made');
  }

  /** Cancels requests in flight; later requests fail with code http_closed. */
  async close(): Promise<void> {
    if (!this.closed) this.closer.abort(new Error('HttpClient closed'));
  }

  private backoff(attempt: number): number {
    return Math.min(this.maxRetryDelayMs, this.retryDelayMs * 2 ** (attempt - 1));
  }

  private resolve(url: string, query: RequestOptions['query']): string {
    let full: string;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) full = url;
    else if (this.baseUrl) full = `${this.baseUrl.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`;
    else throw new TypeError(`HttpClient: '${url}' is not an absolute URL and the client has no baseUrl`);
    let u: URL;
    try {
      u = new URL(full);
    } catch {
      throw new TypeError(`HttpClient: invalid URL '${full}'`);
    }
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.append(k, String(v));
    return u.toString();
  }
}

function withBody(body: unknown, opts: RequestOptions | undefined): RequestOptions {
  if (body === undefined) return opts ?? {};
  if (typeof body === 'string' || body instanceof Uint8Array || body instanceof URLSearchParams) return { ...opts, body };
  return { ...opts, json: body };
}

/** A network-policy refusal somewhere in the cause chain (fetch wraps the connector's error). */
function networkBlocked(err: unknown): Error | null {
  for (let e = err as { cause?: unknown; code?: unknown } | undefined, i = 0; e && typeof e === 'object' && i < 6; e = e.cause as typeof e, i++) {
    if (e.code === 'network_blocked' && e instanceof Error) return e;
  }
  return null;
}

function describeNetworkError(err: unknown): string {
  // fetch wraps the socket error: TypeError('fetch failed', { cause: Error('connect ECONNREFUSED …') }).
  const e = err as { message?: string; cause?: { message?: string } };
  return e?.cause?.message || e?.message || String(err);
}
