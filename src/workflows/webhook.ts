// Webhook triggers: `POST /api/hooks/NAME` starts workflow NAME when the request proves it knows
// the workflow's secret. The route is 'public' (no API token: the sender is GitHub, Stripe, a cron
// box) and does its own check, in this order, each refusal a 4xx that starts nothing:
//   413 body over max_body · 401 signature or timestamp missing · 401 timestamp outside the
//   window (default 5 min) · 401 signature wrong · 409 the same signature seen before (replay).
// The signature is `X-OpenClaw-Signature: sha256=<hex>`, HMAC-SHA256 with the secret over
// `<X-OpenClaw-Timestamp>.<raw body>`, the timestamp in Unix seconds. Binding the timestamp into
// the MAC is what makes the window meaningful; remembering signatures for the window (in the store,
// so a restart does not reopen it) is what stops a replay inside it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OpenClawError } from '../util/errors.js';

export const SIGNATURE_HEADER = 'x-openclaw-signature';
export const TIMESTAMP_HEADER = 'x-openclaw-timestamp';

export class WebhookRefused extends OpenClawError {
  constructor(status: number, code: string, message: string) {
    super(code, message, { status });
  }
}

export function sign(secret: string, timestamp: number | string, body: Buffer | string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

export interface VerifyInput {
  secret: string;
  toleranceMs: number;
  maxBody: number;
  now: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Checks size, timestamp and signature; returns the signature (the replay key). Throws WebhookRefused. */
export function verifyWebhook(v: VerifyInput): { signature: string; timestamp: number } {
  if (v.body.length > v.maxBody) throw new WebhookRefused(413, 'payload_too_large', `webhook body is ${v.body.length} bytes, over this workflow's max_body of ${v.maxBody}`);
  const sig = one(v.headers[SIGNATURE_HEADER]);
  const ts = one(v.headers[TIMESTAMP_HEADER]);
  if (!sig || !ts) {
    throw new WebhookRefused(401, 'webhook_unsigned', `webhook requests need X-OpenClaw-Timestamp (Unix seconds) and X-OpenClaw-Signature: sha256=HMAC-SHA256(secret, "<timestamp>.<body>") in hex`);
  }
  if (!/^\d{1,12}$/.test(ts)) throw new WebhookRefused(401, 'webhook_bad_timestamp', `X-OpenClaw-Timestamp must be Unix seconds, got ${JSON.stringify(ts.slice(0, 40))}`);
  const timestamp = Number(ts);
  const skew = Math.abs(v.now - timestamp * 1000);
  if (skew > v.toleranceMs) {
    throw new WebhookRefused(401, 'webhook_stale', `X-OpenClaw-Timestamp is ${Math.round(skew / 1000)}s away from the daemon's clock; requests older or newer than ${Math.round(v.toleranceMs / 1000)}s are refused (sign with the current time)`);
  }
  const want = Buffer.from(sign(v.secret, ts, v.body));
  const got = Buffer.from(sig);
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new WebhookRefused(401, 'webhook_bad_signature', 'X-OpenClaw-Signature does not match: expected sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>');
  }
  return { signature: sig, timestamp };
}

function one(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
