// Stream ingestion and windows in a real daemon (in process, token auth, real HTTP on loopback), on
// SQLite and PostgreSQL: partial success with the DLQ, dedupe, gzip, 413 with nothing committed,
// 429 + Retry-After and recovery, stream-scoped tokens, results as events an agent reacts to, and
// appends from an agent committed with its run.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgAvailable = await havePostgres();
const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];
const daemons: Daemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  await dropSchemas(schemas);
});

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const line = (o: Record<string, unknown>) => JSON.stringify(o);

describe.each(backends)('streams on %s', (backend) => {
  let d: Daemon;
  let admin: string;
  const tokens: Record<string, string> = {};

  async function call(method: string, p: string, opts: { token?: string; body?: string | Buffer; headers?: Record<string, string> } = {}) {
    const res = await fetch(d.url + p, {
      method,
      headers: { authorization: `Bearer ${opts.token ?? admin}`, ...(opts.body !== undefined ? { 'content-type': 'application/x-ndjson' } : {}), ...opts.headers },
      body: opts.body,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : null) as any };
  }

  it('boots with streams and token auth', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-streams-'));
    let store = '';
    if (backend === 'postgres') {
      const schema = uniqueSchema('oc_streams');
      schemas.push(schema);
      store = `store:\n  url: ${PG_URL}\n  schema: ${schema}\n`;
    }
    fs.writeFileSync(
      path.join(dir, 'openclaw.yaml'),
      `project: streams-test\n${store}api:\n  port: 0\n  auth: token\n` +
        `streams:
  logs:
    owner: team-a
    schema: { type: object, required: [service, level], properties: { level: { enum: [info, warn, error] } } }
    partition_key: service
    event_time: { field: ts, format: epoch_ms }
    event_id: id
    limits: { max_body: 4kb, flush_interval: 5ms }
    windows:
      errors_per_min:
        type: tumbling
        size: 1m
        aggregate: { total: count, errors: { op: count, where: { level: error } } }
  slow:
    limits: { high_watermark: 30, flush_interval: 1500ms, rate: 100000/s }
agents:
  alerter:
    source: ${path.join(here, 'fixtures', 'alerter.ts')}
`,
    );
    d = await Daemon.start(await loadConfig(path.join(dir, 'openclaw.yaml')), { modules: createModules() });
    daemons.push(d);
    admin = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim();
    for (const [name, role, team] of [['viewer', 'viewer', null], ['ingestA', 'ingest', 'team-a'], ['ingestB', 'ingest', 'team-b']] as const) {
      const r = await call('POST', '/api/tokens', { body: JSON.stringify({ role, name, ...(team ? { team } : {}) }), headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(201);
      tokens[name] = r.json.token;
    }
    await waitFor('alerter running', async () => (await d.getAgent('alerter')).status === 'running');
  }, 60_000);

  it('commits the good lines of a mixed batch and dead-letters the bad ones with their line numbers', async () => {
    const body = [
      line({ id: 'm1', service: 'api', level: 'info', ts: T0 }),
      '{not json',
      line({ id: 'm2', service: 'api', level: 'fatal', ts: T0 }),
      '',
      line({ id: 'm3', service: 'db', level: 'error', ts: T0 + 1000 }),
      line({ id: 'm4', service: 'db', level: 'error' }),
      line({ id: 'm5', service: 'db', level: 'warn', ts: T0 + 2000 }),
    ].join('\n');
    const r = await call('POST', '/api/streams/logs/events?wait=true', { body });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ accepted: 3, rejected: 3, duplicates: 0 });
    expect(r.json.errors.map((e: { line: number }) => e.line)).toEqual([2, 3, 6]);
    expect(r.json.errors[1].reason).toMatch(/schema: \/level/);
    expect(r.json.errors[2].reason).toMatch(/missing event time field 'ts'/);
    const tail = await call('GET', '/api/streams/logs/events?limit=100');
    expect(tail.json.events.map((e: { id: string }) => e.id)).toEqual(['m1', 'm3', 'm5']);
    const dlq = await call('GET', '/api/streams/logs/dlq');
    expect(dlq.json.dead.map((x: { line: number }) => x.line).sort()).toEqual([2, 3, 6]);
    expect(dlq.json.dead.find((x: { line: number }) => x.line === 2).raw).toBe('{not json');
  });

  it('drops a repeated event_id within the dedupe window', async () => {
    const body = [line({ id: 'd1', service: 'api', level: 'info', ts: T0 }), line({ id: 'd2', service: 'api', level: 'info', ts: T0 }), line({ id: 'd1', service: 'api', level: 'info', ts: T0 })].join('\n');
    const a = await call('POST', '/api/streams/logs/events?wait=true', { body });
    expect(a.json).toMatchObject({ accepted: 2, duplicates: 1 });
    const b = await call('POST', '/api/streams/logs/events?wait=true', { body });
    expect(b.json).toMatchObject({ accepted: 0, duplicates: 3 });
    const ids = (await call('GET', '/api/streams/logs/events?limit=1000')).json.events.map((e: { id: string }) => e.id);
    expect(ids.filter((i: string) => i === 'd1' || i === 'd2')).toEqual(['d1', 'd2']);
  });

  it('accepts gzip and a JSON array; refuses an oversize body (plain or inflating past the limit) with 413 and commits nothing', async () => {
    const arr = JSON.stringify([{ id: 'g1', service: 'api', level: 'info', ts: T0 }, { id: 'g2', service: 'api', level: 'warn', ts: T0 }]);
    const g = await call('POST', '/api/streams/logs/events?wait=true', { body: gzipSync(arr), headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' } });
    expect([g.status, g.json.accepted]).toEqual([200, 2]);
    const before = (await call('GET', '/api/streams/logs')).json.head;
    const big = Array.from({ length: 100 }, (_, i) => line({ id: `big${i}`, service: 'api', level: 'info', ts: T0 })).join('\n');
    expect(big.length).toBeGreaterThan(4096);
    const plain = await call('POST', '/api/streams/logs/events?wait=true', { body: big });
    expect(plain.status).toBe(413);
    expect(plain.json.error.code).toBe('payload_too_large');
    const bomb = await call('POST', '/api/streams/logs/events?wait=true', { body: gzipSync(big), headers: { 'content-encoding': 'gzip' } });
    expect(gzipSync(big).length).toBeLessThan(4096);
    expect(bomb.status).toBe(413);
    expect((await call('GET', '/api/streams/logs')).json.head).toBe(before);
  });

  it('answers 429 with Retry-After and X-RateLimit-* above the high watermark, and accepts again once the buffer drained', async () => {
    const ev = (n: number, p: string) => Array.from({ length: n }, (_, i) => line({ event_id: `${p}${i}`, v: i })).join('\n');
    const first = await call('POST', '/api/streams/slow/events', { body: ev(25, 'a') });
    expect(first.status).toBe(202);
    expect(first.headers.get('x-ratelimit-limit')).toBe('100000');
    const refused = await call('POST', '/api/streams/slow/events', { body: ev(10, 'b') });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('x-ratelimit-remaining')).not.toBeNull();
    expect(refused.json.error.message).toMatch(/high watermark 30/);
    await waitFor('the buffer committed', async () => (await call('GET', '/api/streams/slow')).json.buffered === 0);
    const again = await call('POST', '/api/streams/slow/events?wait=true', { body: ev(10, 'c') });
    expect([again.status, again.json.accepted]).toEqual([200, 10]);
    expect((await call('GET', '/api/streams/slow')).json.head).toBe(35);
  });

  it('refuses a token without the stream permission, or of another team; an ingest token may only ingest', async () => {
    const body = line({ id: 't1', service: 'api', level: 'info', ts: T0 });
    expect((await call('POST', '/api/streams/logs/events', { body, token: tokens.viewer })).status).toBe(403);
    const other = await call('POST', '/api/streams/logs/events', { body, token: tokens.ingestB });
    expect(other.status).toBe(403);
    expect(other.json.error.message).toMatch(/team 'team-b'.*stream 'logs'.*team 'team-a'/);
    expect((await call('POST', '/api/streams/logs/events?wait=true', { body, token: tokens.ingestA })).status).toBe(200);
    expect((await call('GET', '/api/streams/logs', { token: tokens.ingestA })).status).toBe(403);
    expect((await call('GET', '/api/streams/logs', { token: tokens.viewer })).status).toBe(200);
    expect((await call('POST', '/api/streams/logs/events', { body, token: 'oc_nope_nope' })).status).toBe(401);
  });

  it('aggregates into windows whose results are events an agent reacts to, and queryable results', async () => {
    // Minute T0+10m: web has 3 errors of 4 lines; cache 1 of 3. The event at +11m closes the minute for both.
    const m = T0 + 10 * 60_000;
    const lines = [
      ...['error', 'error', 'info', 'error'].map((level, i) => ({ id: `w-web-${i}`, service: 'web', level, ts: m + i * 1000 })),
      ...['info', 'error', 'info'].map((level, i) => ({ id: `w-cache-${i}`, service: 'cache', level, ts: m + i * 1000 })),
      { id: 'w-web-close', service: 'web', level: 'info', ts: m + 61_000 },
      { id: 'w-cache-close', service: 'cache', level: 'info', ts: m + 61_000 },
    ];
    expect((await call('POST', '/api/streams/logs/events?wait=true', { body: lines.map(line).join('\n') })).json.accepted).toBe(9);
    const alerted = await waitFor('the alert in state', async () => (await d.getState('alerter')).state[`alert:web:${m}`]);
    expect(alerted).toEqual({ total: 4, errors: 3 });
    const st = await waitFor('both windows handled', async () => {
      const s = (await d.getState('alerter')).state;
      return s[`seen:cache:${m}`] !== undefined && s;
    });
    expect(st[`alert:cache:${m}`]).toBeUndefined();
    expect([st[`seen:cache:${m}`], st[`seen:web:${m}`]]).toEqual([1, 1]);
    const res = await call('GET', `/api/windows/errors_per_min/results?since=${m}&final=true`);
    const byKey = Object.fromEntries(res.json.results.filter((r: { start: number }) => r.start === m).map((r: { key: string; values: unknown }) => [r.key, r.values]));
    expect(byKey).toEqual({ web: { total: 4, errors: 3 }, cache: { total: 3, errors: 1 } });
    const metrics = await d.metrics.metrics();
    expect(metrics).toMatch(/openclaw_stream_events_total\{stream="logs",result="accepted"\} \d+/);
    expect(metrics).toMatch(/openclaw_stream_events_total\{stream="logs",result="rejected"\} 3/);
  });

  it('runs a window declared with @window in TypeScript, with a user reducer, and delivers its results to the method', async () => {
    const m = T0 + 30 * 60_000;
    const lines = [
      { id: 'b1', service: 'burst', level: 'info', ts: m },
      { id: 'b2', service: 'burst', level: 'error', ts: m + 20_000 },
      { id: 'b3', service: 'burst', level: 'warn', ts: m + 300_000 }, // 280 s later: closes the session [m, m+50s)
    ];
    expect((await call('POST', '/api/streams/logs/events?wait=true', { body: lines.map(line).join('\n') })).json.accepted).toBe(3);
    const got = await waitFor('the burst handled', async () => (await d.getState('alerter')).state[`burst:burst:${m}`]);
    expect(got).toEqual({ end: m + 50_000, values: { n: 2, value: ['info', 'error'] } });
    expect((await call('GET', '/api/streams/logs')).json.windows.map((w: { name: string }) => w.name).sort()).toEqual(['bursts', 'errors_per_min']);
  });

  it("commits an agent's this.streams.append with its run", async () => {
    const m = T0 + 20 * 60_000;
    await d.trigger('alerter', { events: [{ id: 'ag1', service: 'agent', level: 'error', ts: m }, { id: 'ag2', service: 'agent', level: 'nope', ts: m }] });
    const ev = await waitFor('the appended event', async () => (await call('GET', '/api/streams/logs/events?limit=1000')).json.events.find((e: { id: string }) => e.id === 'ag1'));
    expect(ev.payload).toMatchObject({ service: 'agent', level: 'error' });
    const dlq = await call('GET', '/api/streams/logs/dlq');
    expect(dlq.json.dead.find((x: { source: string }) => x.source === 'agent:alerter')).toBeTruthy();
  });
});
