// PagerDutyClient: the Events API v2 (POST /v2/enqueue). One routing key (the integration key of a
// PagerDuty service) per client. `dedup_key` ties trigger → acknowledge → resolve of one incident;
// PagerDuty generates one when a trigger has none and returns it.
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
import { HttpClient } from './http.js';
import { NotifierError } from './errors.js';
import { checkOptions } from '../util/options.js';

export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';
const SEVERITIES: readonly PagerDutySeverity[] = ['critical', 'error', 'warning', 'info'];

export interface PagerDutyClientOptions {
  /** The Events API v2 integration ("routing") key. */
  routingKey?: string;
  /** Alias of routingKey (the seed calls it api_key). */
  apiKey?: string;
  /** Default https://events.pagerduty.com; overridable for tests and the EU service region. */
  baseUrl?: string;
  /** `payload.source` when a call gives none. Default 'openclaw'. */
  source?: string;
  http?: HttpClient;
}

export interface TriggerIncident {
  /** payload.summary (PagerDuty truncates at 1024 characters; so do we). */
  title: string;
  severity?: PagerDutySeverity;
  /** payload.custom_details: any JSON. */
  details?: unknown;
  dedupKey?: string;
  source?: string;
  component?: string;
  group?: string;
  class?: string;
}

export interface PagerDutyResult {
  status: string;
  message: string;
  dedupKey: string;
}

const OPTIONS = Object.keys({ routingKey: 1, apiKey: 1, baseUrl: 1, source: 1, http: 1 } satisfies Record<keyof PagerDutyClientOptions, 1>);
const INCIDENT_FIELDS = Object.keys({ title: 1, severity: 1, details: 1, dedupKey: 1, source: 1, component: 1, group: 1, class: 1 } satisfies Record<keyof TriggerIncident, 1>);

export class PagerDutyClient {
  private readonly routingKey: string;
  private readonly baseUrl: string;
  private readonly source: string;
  private readonly http: HttpClient;
  private readonly ownsHttp: boolean;

  constructor(opts: PagerDutyClientOptions) {
    checkOptions('new PagerDutyClient()', opts, OPTIONS);
    const key = opts?.routingKey ?? opts?.apiKey;
    if (typeof key !== 'string' || key.trim() === '') {
      throw new TypeError(
        `PagerDutyClient: routingKey (or apiKey) is required: the Events API v2 integration key of the PagerDuty service, got ${JSON.stringify(key)}` +
          ' (is the config value, e.g. pagerduty_key: ${PAGERDUTY_API_KEY}, set?)',
      );
    }
    this.routingKey = key;
    this.baseUrl = (opts.baseUrl ?? 'https://events.pagerduty.com').replace(/\/+$/, '');
    this.source = opts.source ?? 'openclaw';
    this.ownsHttp = !opts.http;
    this.http = opts.http ?? new HttpClient({ timeout: 10, retries: 3 });
  }

  /** Opens (or re-triggers, with the same dedupKey) an incident. */
  async triggerIncident(incident: TriggerIncident): Promise<PagerDutyResult> {
    checkOptions('PagerDutyClient.triggerIncident()', incident, INCIDENT_FIELDS);
    if (!incident || typeof incident.title !== 'string' || incident.title.trim() === '') {
      throw new TypeError('PagerDutyClient.triggerIncident(): title is required');
    }
    const severity = incident.severity ?? 'error';
    if (!SEVERITIES.includes(severity)) {
      throw new TypeError(`PagerDutyClient.triggerIncident(): severity must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(severity)}`);
    }
    const payload: Record<string, unknown> = {
      summary: incident.title.slice(0, 1024),
      severity,
      source: incident.source ?? this.source,
      timestamp: new Date().toISOString(),
    };
    if (incident.component) payload.component = incident.component;
    if (incident.group) payload.group = incident.group;
    if (incident.class) payload.class = incident.class;
    if (incident.details !== undefined) payload.custom_details = incident.details;
    return this.enqueue({
      routing_key: this.routingKey,
      event_action: 'trigger',
      ...(incident.dedupKey ? { dedup_key: incident.dedupKey } : {}),
      payload,
    });
  }

  async acknowledge(dedupKey: string): Promise<PagerDutyResult> {
    return this.enqueue({ routing_key: this.routingKey, event_action: 'acknowledge', dedup_key: requireKey(dedupKey, 'acknowledge') });
  }

  async resolve(dedupKey: string): Promise<PagerDutyResult> {
    return this.enqueue({ routing_key: this.routingKey, event_action: 'resolve', dedup_key: requireKey(dedupKey, 'resolve') });
  }

  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }

  private async enqueue(body: Record<string, unknown>): Promise<PagerDutyResult> {
    const res = await this.http.post(`${this.baseUrl}/v2/enqueue`, body);
    if (!res.ok) throw new NotifierError('PagerDuty Events API', res.status, res.text(), res.status === 400 ? 'check the routing key and the event fields' : '');
    let reply: { status?: string; message?: string; dedup_key?: string } = {};
    try {
      reply = res.json();
    } catch {
      // A 2xx without JSON still means accepted.
    }
    return { status: reply.status ?? 'success', message: reply.message ?? '', dedupKey: reply.dedup_key ?? String(body.dedup_key ?? '') };
  }
}

function requireKey(dedupKey: string, action: string): string {
  if (typeof dedupKey !== 'string' || dedupKey.trim() === '') throw new TypeError(`PagerDutyClient.${action}(): the incident's dedupKey is required`);
  return dedupKey;
}
