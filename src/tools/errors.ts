// Errors raised by the agent tools. They carry a stable code so that agent code (and the daemon's
// run records) can tell a timeout from a refused connection from a notifier that said no.
import { OpenClawError } from '../util/errors.js';

export type HttpErrorCode = 'http_timeout' | 'http_network' | 'http_aborted' | 'http_closed' | 'http_invalid_response';

/** A request that produced no HTTP response (timeout, DNS, refused, reset) or an unreadable one. */
export class HttpRequestError extends OpenClawError {
  readonly method: string;
  readonly url: string;
  readonly attempts: number;
  constructor(code: HttpErrorCode, message: string, opts: { method: string; url: string; attempts: number; cause?: unknown }) {
    super(code, message, { status: 502, cause: opts.cause });
    this.method = opts.method;
    this.url = opts.url;
    this.attempts = opts.attempts;
  }
}

/** A notifier (Slack, PagerDuty, webhook) answered with a non-2xx status. */
export class NotifierError extends OpenClawError {
  readonly statusCode: number;
  readonly responseBody: string;
  constructor(service: string, statusCode: number, body: string, hint = '') {
    const shown = body.length > 500 ? `${body.slice(0, 500)}…` : body;
    super('notifier_failed', `${service} returned HTTP ${statusCode}: ${shown || '(empty body)'}${hint ? ` (${hint})` : ''}`, { status: 502 });
    this.statusCode = statusCode;
    this.responseBody = body;
  }
}
