import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HttpClient,
  NotifierError,
  PagerDutyClient,
  SlackNotifier,
  WebhookNotifier,
  signWebhook,
  verifyWebhookSignature,
} from '../../src/tools/index.js';
import { recordingSleep, startLoopback, type Loopback } from './helpers/loopback.js';

let server: Loopback;
beforeEach(async () => {
  server = await startLoopback();
});
afterEach(async () => {
  await server.close();
});

const quickHttp = () => new HttpClient({ retries: 2, sleep: recordingSleep().sleep });

describe('SlackNotifier', () => {
  it('POSTs { text } as JSON to the webhook URL', async () => {
    const slack = new SlackNotifier({ webhookUrl: `${server.url}/services/T000/B000/XXX` });
    await slack.send('🚨 *Production API* is DOWN!');
    expect(server.requests).toHaveLength(1);
    const r = server.requests[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/services/T000/B000/XXX');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body).toBe('{"text":"🚨 *Production API* is DOWN!"}');
  });

  it('sends a full message object as it is', async () => {
    const slack = new SlackNotifier({ webhookUrl: `${server.url}/hook` });
    await slack.send({ text: 'fallback', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }] });
    expect(JSON.parse(server.requests[0]!.body)).toEqual({ text: 'fallback', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }] });
  });

  it("throws with Slack's response body on a non-2xx reply", async () => {
    server.script({ status: 404, body: 'no_service' });
    const err = await new SlackNotifier({ webhookUrl: `${server.url}/hook` }).send('x').catch((e) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect(err.message).toBe('Slack webhook returned HTTP 404: no_service');
    expect(err.statusCode).toBe(404);
    expect(err.responseBody).toBe('no_service');
  });

  it('retries a 503 and succeeds', async () => {
    server.script({ status: 503, body: 'busy' });
    await new SlackNotifier({ webhookUrl: `${server.url}/hook`, http: quickHttp() }).send('x');
    expect(server.requests).toHaveLength(2);
  });

  it('explains a missing webhook URL', () => {
    expect(() => new SlackNotifier({ webhookUrl: '' })).toThrow(/webhookUrl must be an http\(s\) URL.*got ""/);
    expect(() => new SlackNotifier({ webhookUrl: undefined as never })).toThrow(/is the config value, e.g. slack_webhook: \$\{SLACK_WEBHOOK_URL\}, set\?/);
  });
});

describe('PagerDutyClient (Events API v2)', () => {
  it('triggers an incident with the documented body', async () => {
    server.script({ status: 202, body: { status: 'success', message: 'Event processed', dedup_key: 'srv01/HTTP' } });
    const pd = new PagerDutyClient({ routingKey: 'R0UT1NGKEY', baseUrl: server.url, source: 'monitoring-host' });
    const res = await pd.triggerIncident({ title: 'Critical anomalies: 7', severity: 'critical', details: [{ metric: 'cpu', value: 99 }], dedupKey: 'srv01/HTTP' });
    expect(res).toEqual({ status: 'success', message: 'Event processed', dedupKey: 'srv01/HTTP' });
    const r = server.requests[0]!;
    expect([r.method, r.url, r.headers['content-type']]).toEqual(['POST', '/v2/enqueue', 'application/json']);
    const body = JSON.parse(r.body);
    expect(body).toEqual({
      routing_key: 'R0UT1NGKEY',
      event_action: 'trigger',
      dedup_key: 'srv01/HTTP',
      payload: {
        summary: 'Critical anomalies: 7',
        severity: 'critical',
        source: 'monitoring-host',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        custom_details: [{ metric: 'cpu', value: 99 }],
      },
    });
  });

  it('accepts apiKey as the routing key and returns the dedup key PagerDuty generated', async () => {
    server.script({ status: 202, body: { status: 'success', message: 'Event processed', dedup_key: 'generated-123' } });
    const pd = new PagerDutyClient({ apiKey: 'KEY', baseUrl: `${server.url}/` });
    const res = await pd.triggerIncident({ title: 'x' });
    const body = JSON.parse(server.requests[0]!.body);
    expect(body.routing_key).toBe('KEY');
    expect(body.dedup_key).toBeUndefined();
    expect(body.payload).toMatchObject({ summary: 'x', severity: 'error', source: 'openclaw' });
    expect(res.dedupKey).toBe('generated-123');
  });

  it('acknowledges and resolves by dedup key', async () => {
    server.fallback = { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: 'k1' } };
    const pd = new PagerDutyClient({ routingKey: 'KEY', baseUrl: server.url });
    await pd.acknowledge('k1');
    await pd.resolve('k1');
    expect(server.requests.map((r) => JSON.parse(r.body))).toEqual([
      { routing_key: 'KEY', event_action: 'acknowledge', dedup_key: 'k1' },
      { routing_key: 'KEY', event_action: 'resolve', dedup_key: 'k1' },
    ]);
  });

  it("throws with PagerDuty's error on a 400 and does not retry it", async () => {
    server.script({ status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ["'routing_key' is invalid"] } });
    const err = await new PagerDutyClient({ routingKey: 'bad', baseUrl: server.url, http: quickHttp() }).resolve('k').catch((e) => e);
    expect(err).toBeInstanceOf(NotifierError);
    expect(err.message).toContain('PagerDuty Events API returned HTTP 400');
    expect(err.message).toContain("'routing_key' is invalid");
    expect(server.requests).toHaveLength(1);
  });

  it('retries 429 (PagerDuty rate limit)', async () => {
    server.script({ status: 429, body: 'slow down' }, { status: 202, body: { status: 'success', message: 'ok', dedup_key: 'd' } });
    const res = await new PagerDutyClient({ routingKey: 'KEY', baseUrl: server.url, http: quickHttp() }).triggerIncident({ title: 't' });
    expect(res.dedupKey).toBe('d');
    expect(server.requests).toHaveLength(2);
  });

  it('validates before sending', async () => {
    expect(() => new PagerDutyClient({ baseUrl: server.url })).toThrow(/routingKey \(or apiKey\) is required/);
    const pd = new PagerDutyClient({ routingKey: 'KEY', baseUrl: server.url });
    await expect(pd.triggerIncident({ title: 'x', severity: 'high' as never })).rejects.toThrow(/severity must be one of critical, error, warning, info, got "high"/);
    await expect(pd.resolve('')).rejects.toThrow(/dedupKey is required/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('WebhookNotifier', () => {
  it('POSTs JSON with the configured headers', async () => {
    server.script({ status: 200, body: 'received' });
    const hook = new WebhookNotifier({ url: `${server.url}/alerts`, headers: { authorization: 'Bearer t0k' } });
    const res = await hook.send({ level: 'warning', text: 'disk 91%' });
    expect(res).toEqual({ status: 200, body: 'received' });
    const r = server.requests[0]!;
    expect([r.method, r.url, r.headers['content-type'], r.headers.authorization]).toEqual(['POST', '/alerts', 'application/json', 'Bearer t0k']);
    expect(r.body).toBe('{"level":"warning","text":"disk 91%"}');
    expect(r.headers['x-openclaw-signature']).toBeUndefined();
  });

  it('signs timestamp and body with HMAC-SHA256 when given a secret', async () => {
    const hook = new WebhookNotifier({ url: `${server.url}/alerts`, hmacSecret: 's3cret' });
    await hook.send({ n: 1 });
    const r = server.requests[0]!;
    const timestamp = r.headers['x-openclaw-timestamp'] as string;
    const signature = r.headers['x-openclaw-signature'] as string;
    expect(signature).toBe(signWebhook('s3cret', timestamp, '{"n":1}'));
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: 's3cret', body: r.body, timestamp, signature })).toBe(true);
    expect(verifyWebhookSignature({ secret: 's3cret', body: '{"n":2}', timestamp, signature })).toBe(false);
    expect(verifyWebhookSignature({ secret: 'other', body: r.body, timestamp, signature })).toBe(false);
    expect(verifyWebhookSignature({ secret: 's3cret', body: r.body, timestamp, signature, now: (Number(timestamp) + 3600) * 1000 })).toBe(false);
  });

  it("throws with the receiver's reply on non-2xx", async () => {
    server.script({ status: 401, body: 'bad signature' });
    await expect(new WebhookNotifier({ url: `${server.url}/alerts` }).send({})).rejects.toThrow(`Webhook ${server.url}/alerts returned HTTP 401: bad signature`);
  });
});
