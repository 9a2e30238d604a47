// Provider failures normalised to ProviderErrorInfo (src/llm/types.ts): the router decides retries,
// cooldowns and fallback from `kind` and `retryAfterMs` alone, never from provider-specific bodies.
//   429 (+ Retry-After seconds / HTTP date / retry-after-ms)  → rate_limited
//   5xx, 529 overloaded, 409                                  → server
//   408, connect / first-byte / idle / whole-call timeouts     → timeout
//   ECONNREFUSED, ECONNRESET, socket closed, DNS              → connection
//   401 / 403                                                 → auth
//   400 / 404 / 413 / 422                                     → bad_request (context_length when the provider says so)
//   any failure after the first streamed chunk                → stream_interrupted
import { OpenClawError } from '../util/errors.js';
import type { ProviderErrorInfo, ProviderErrorKind } from './types.js';

const STATUS: Record<ProviderErrorKind, number> = {
  rate_limited: 429,
  server: 502,
  timeout: 504,
  connection: 502,
  auth: 502,
  bad_request: 400,
  context_length: 400,
  stream_interrupted: 502,
};

const RETRYABLE = new Set<ProviderErrorKind>(['rate_limited', 'server', 'timeout', 'connection']);

export class ProviderError extends OpenClawError {
  readonly info: ProviderErrorInfo;

  constructor(info: ProviderErrorInfo, cause?: unknown) {
    super(`llm_${info.kind}`, info.message, { status: STATUS[info.kind], details: { ...info }, cause });
    this.info = info;
  }

  get kind(): ProviderErrorKind {
    return this.info.kind;
  }

  /** Worth retrying (same or another provider): rate limits, 5xx, timeouts, connection failures. */
  get retryable(): boolean {
    return RETRYABLE.has(this.info.kind);
  }
}

/** The caller aborted the call (its AbortSignal fired): not a provider failure, never retried. */
export class LlmAbortedError extends OpenClawError {
  constructor(provider: string, model: string) {
    super('llm_aborted', `${provider} (${model}): the call was cancelled by the caller`, { status: 499 });
  }
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}

type HeaderBag = Record<string, string | string[] | undefined> | Headers;

function header(headers: HeaderBag | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v[0] : v;
}

/** OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s" → ms. */
function goDuration(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(v.trim())) !== null) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  return end > 0 && end === v.trim().length ? Math.round(total) : undefined;
}

/**
 * Retry-After in ms: `retry-after-ms`, `retry-after` as seconds or an HTTP date; without those,
 * OpenAI's `x-ratelimit-reset-{requests,tokens}` of the exhausted limit. Undefined when absent or invalid.
 */
export function parseRetryAfter(headers: HeaderBag | undefined, now = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const ra = header(headers, 'retry-after')?.trim();
  if (!ra) {
    const resets = (['requests', 'tokens'] as const)
      .filter((k) => header(headers, `x-ratelimit-remaining-${k}`)?.trim() === '0')
      .map((k) => goDuration(header(headers, `x-ratelimit-reset-${k}`)))
      .filter((x): x is number => x !== undefined);
    return resets.length > 0 ? Math.max(...resets) : undefined;
  }
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.round(Number(ra) * 1000);
  const at = Date.parse(ra);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const CONTEXT_PATTERNS = [
  /context[_ ]length/i,
  /maximum context/i,
  /context window/i,
  /prompt is too long/i,
  /too many tokens/i,
  /exceeds the context/i,
  /input (length|is too long)/i,
  /reduce the length of the (messages|prompt)/i,
];

/** Provider error message and code from a JSON error body of any of the dialects. */
export function errorDetails(bodyText: string): { message: string; code?: string; type?: string } {
  try {
    const b = JSON.parse(bodyText) as any;
    const e = b?.error ?? b;
    if (typeof e === 'string') return { message: e };
    const message = typeof e?.message === 'string' ? e.message : typeof b?.message === 'string' ? b.message : bodyText.slice(0, 300);
    const code = typeof e?.code === 'string' ? e.code : undefined;
    const type = typeof e?.type === 'string' ? e.type : undefined;
    return { message, code, type };
  } catch {
    return { message: bodyText.slice(0, 300) || '(empty body)' };
  }
}

export function isContextLengthMessage(message: string, code?: string): boolean {
  if (code === 'context_length_exceeded' || code === 'string_above_max_length') return true;
  return CONTEXT_PATTERNS.some((p) => p.test(message));
}

export function kindForStatus(status: number): ProviderErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  if (status === 408) return 'timeout';
  if (status === 409 || status >= 500) return 'server';
  return 'bad_request';
}

/** A non-2xx HTTP answer → ProviderError. */
export function errorFromResponse(provider: string, model: string, status: number, headers: HeaderBag | undefined, bodyText: string): ProviderError {
  const d = errorDetails(bodyText);
  let kind = kindForStatus(status);
  if ((kind === 'bad_request' || status === 413) && isContextLengthMessage(d.message, d.code)) kind = 'context_length';
  const retryAfterMs = kind === 'rate_limited' || kind === 'server' ? parseRetryAfter(headers) : undefined;
  const what = [d.type, d.code].filter(Boolean).join('/');
  const hint: Record<ProviderErrorKind, string> = {
    rate_limited: retryAfterMs !== undefined ? `; the provider asks to retry after ${(retryAfterMs / 1000).toFixed(1)}s` : '; retry later or add a fallback model',
    server: '; the provider failed, retry or add a fallback model',
    timeout: '',
    connection: '',
    auth: `; check llm.providers.${provider}.api_key`,
    bad_request: '; the request itself was refused and will fail on retry',
    context_length: '; shorten the prompt, set max_input_tokens with policy truncate, or use a model with a larger context',
    stream_interrupted: '',
  };
  return new ProviderError({
    kind,
    status,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    provider,
    model,
    message: `${provider} (${model}): HTTP ${status}${what ? ` ${what}` : ''}: ${d.message}${hint[kind]}`,
  });
}

/** An in-band error inside a 200 stream (OpenAI-compatible `data: {"error"}`, Anthropic `event: error`, Ollama `{"error"}`). */
export function errorFromStreamPayload(provider: string, model: string, payload: unknown, delivered: boolean): ProviderError {
  const d = errorDetails(typeof payload === 'string' ? payload : JSON.stringify(payload));
  let kind: ProviderErrorKind = 'server';
  const t = `${d.type ?? ''} ${d.code ?? ''}`;
  if (/rate_limit/.test(t)) kind = 'rate_limited';
  else if (/authentication|permission/.test(t)) kind = 'auth';
  else if (/invalid_request/.test(t)) kind = isContextLengthMessage(d.message, d.code) ? 'context_length' : 'bad_request';
  if (delivered) kind = 'stream_interrupted';
  return new ProviderError({
    kind,
    provider,
    model,
    message: `${provider} (${model}): the stream reported an error${delivered ? ' after output had started' : ''}: ${d.type ? `${d.type}: ` : ''}${d.message}`,
  });
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function codeOf(err: unknown): string | undefined {
  let e: any = err;
  for (let i = 0; i < 4 && e; i++) {
    if (typeof e.code === 'string' && (CONNECTION_CODES.has(e.code) || TIMEOUT_CODES.has(e.code))) return e.code;
    if (Array.isArray(e.errors)) {
      const inner = e.errors.map(codeOf).find(Boolean);
      if (inner) return inner;
    }
    e = e.cause;
  }
  return undefined;
}

/** A thrown transport error (connect failure, reset, socket closed, timeout) → ProviderError. */
export function errorFromException(provider: string, model: string, err: unknown, opts: { delivered?: boolean; timeout?: string } = {}): ProviderError | LlmAbortedError {
  if (err instanceof LlmAbortedError) return err;
  if (err instanceof ProviderError) {
    if (opts.delivered && err.kind !== 'stream_interrupted') {
      return new ProviderError({ ...err.info, kind: 'stream_interrupted', message: `${err.message} (after output had started)` }, err);
    }
    return err;
  }
  const code = codeOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  let kind: ProviderErrorKind;
  let message: string;
  if (opts.timeout) {
    kind = 'timeout';
    message = `${provider} (${model}): ${opts.timeout}`;
  } else if (code && TIMEOUT_CODES.has(code)) {
    kind = 'timeout';
    message = `${provider} (${model}): timed out (${code}): ${detail}`;
  } else if (code && CONNECTION_CODES.has(code)) {
    kind = 'connection';
    message = `${provider} (${model}): connection failed (${code}): ${detail}`;
  } else {
    kind = 'connection';
    message = `${provider} (${model}): transport error: ${detail}`;
  }
  if (opts.delivered) {
    message = `${message}; the stream was cut after output had started`;
    kind = 'stream_interrupted';
  }
  return new ProviderError({ kind, provider, model, message }, err);
}
