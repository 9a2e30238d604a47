// WebhookNotifier: POSTs JSON to any URL. With `hmacSecret`, each request is signed so that the
// receiver can check it came from us and is fresh (the timestamp is inside the signed text, as in
// Stripe's scheme, so a captured request cannot be replayed later with a new timestamp):
//
//   X-OpenClaw-Timestamp: <unix seconds>
//   X-OpenClaw-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
import { checkOptions } from '../util/options.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpClient } from './http.js';
import { NotifierError } from './errors.js';

export const SIGNATURE_HEADER = 'x-openclaw-signature';
export const TIMESTAMP_HEADER = 'x-openclaw-timestamp';

export interface WebhookNotifierOptions {
  url: string;
  headers?: Record<string, string>;
  hmacSecret?: string;
  http?: HttpClient;
}

export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers: true when the signature matches and the timestamp is within `toleranceSec` of now. */
export function verifyWebhookSignature(opts: {
  secret: string;
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
  toleranceSec?: number;
  now?: number;
}): boolean {
  const { secret, body, timestamp, signature } = opts;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const ageSec = Math.abs((opts.now ?? Date.now()) / 1000 - Number(timestamp));
  if (ageSec > (opts.toleranceSec ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const OPTIONS = Object.keys({ url: 1, headers: 1, hmacSecret: 1, http: 1 } satisfies Record<keyof WebhookNotifierOptions, 1>);

export class WebhookNotifier {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly hmacSecret: string | undefined;
  private readonly http: HttpClient;
  private readonly ownsHttp: boolean;

  constructor(opts: WebhookNotifierOptions) {
    checkOptions('new WebhookNotifier()', opts, OPTIONS);
    if (typeof opts?.url !== 'string' || !/^https?:\/\//i.test(opts.url)) {
      throw new TypeError(`WebhookNotifier: url must be an http(s) URL, got ${JSON.stringify(opts?.url)}`);
    }
    if (opts.hmacSecret !== undefined && (typeof opts.hmacSecret !== 'string' || opts.hmacSecret === '')) {
      throw new TypeError('WebhookNotifier: hmacSecret must be a non-empty string when given');
    }
    this.url = opts.url;
    this.headers = { ...(opts.headers ?? {}) };
    this.hmacSecret = opts.hmacSecret;
    this.ownsHttp = !opts.http;
    this.http = opts.http ?? new HttpClient({ timeout: 10, retries: 2 });
  }

  /** POSTs `payload` as JSON; returns the receiver's reply. Throws NotifierError on non-2xx. */
  async send(payload: unknown): Promise<{ status: number; body: string }> {
    const body = JSON.stringify(payload ?? null);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.headers };
    if (this.hmacSecret) {
      const ts = Math.floor(Date.now() / 1000);
      headers[TIMESTAMP_HEADER] = String(ts);
      headers[SIGNATURE_HEADER] = signWebhook(this.hmacSecret, ts, body);
    }
    const res = await this.http.post(this.url, body, { headers });
    if (!res.ok) throw new NotifierError(`Webhook ${this.url}`, res.status, res.text());
    return { status: res.status, body: res.text() };
  }

  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }
}
