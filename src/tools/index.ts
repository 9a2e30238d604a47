// `openclaw/tools`: the clients agents use to reach the outside world.
export { HttpClient, HttpResponse, parseRetryAfter } from './http.js';
export type { HttpClientOptions, RequestOptions } from './http.js';
export { SlackNotifier } from './slack.js';
export type { SlackNotifierOptions, SlackMessage } from './slack.js';
export { PagerDutyClient } from './pagerduty.js';
export type { PagerDutyClientOptions, PagerDutySeverity, TriggerIncident, PagerDutyResult } from './pagerduty.js';
export { WebhookNotifier, signWebhook, verifyWebhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './webhook.js';
export type { WebhookNotifierOptions } from './webhook.js';
export { HttpRequestError, NotifierError } from './errors.js';
export type { HttpErrorCode } from './errors.js';
