import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeControlPlane } from './fake-control.js';
import { call, startApi, type Running } from './harness.js';

let control: FakeControlPlane;
let api: Running;
const MAX_BUFFERED = 64 * 1024;

beforeEach(async () => {
  control = new FakeControlPlane();
  control.addAgent('monitor');
  control.addAgent('chatty');
  api = await startApi(control, { logFollow: { maxBufferedBytes: MAX_BUFFERED } });
});
afterEach(() => api.close());

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function wsUrl(path: string): string {
  return api.url.replace(/^http/, 'ws') + path;
}

interface Reader {
  ws: WebSocket;
  frames: any[];
}

async function follow(path: string): Promise<Reader> {
  const ws = new WebSocket(wsUrl(path));
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames };
}

async function refusedUpgrade(path: string): Promise<{ status: number; body: any }> {
  const ws = new WebSocket(wsUrl(path));
  ws.on('error', () => {}); // terminate() below reports the aborted handshake as an error
  const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
  });
  ws.terminate();
  return answer;
}

describe('GET /api/agents/:name/logs', () => {
  beforeEach(() => {
    control.emitLog({ agent: 'monitor', msg: 'old', time: control.now - 3_600_000 });
    control.emitLog({ agent: 'monitor', msg: 'checked 3 targets' });
    control.emitLog({ agent: 'monitor', msg: 'slow target', level: 'warning' });
    control.emitLog({ agent: 'chatty', msg: 'not mine' });
  });

  it('returns recent lines of that agent only', async () => {
    const res = await call(api.url, 'GET', '/api/agents/monitor/logs');
    expect(res.status).toBe(200);
    expect(res.body.lines.map((l: { msg: string }) => l.msg)).toEqual(['old', 'checked 3 targets', 'slow target']);
  });

  it('filters by limit, minimum level (warn meaning warning) and since', async () => {
    expect((await call(api.url, 'GET', '/api/agents/monitor/logs?limit=1')).body.lines.map((l: { msg: string }) => l.msg)).toEqual(['slow target']);
    expect((await call(api.url, 'GET', '/api/agents/monitor/logs?level=warn')).body.lines.map((l: { msg: string }) => l.msg)).toEqual(['slow target']);
    const since = new Date(control.now - 60_000).toISOString();
    expect((await call(api.url, 'GET', `/api/agents/monitor/logs?since=${since}`)).body.lines).toHaveLength(2);
  });

  it('turns a relative since into an absolute time for the daemon', async () => {
    const before = Date.now();
    await call(api.url, 'GET', '/api/agents/monitor/logs?since=10m');
    const opts = control.calls.find((c) => c.method === 'recentLogs')?.args[1] as { sinceMs: number };
    expect(opts.sinceMs).toBeGreaterThanOrEqual(before - 600_000);
    expect(opts.sinceMs).toBeLessThanOrEqual(Date.now() - 600_000);
  });

  it.each([
    ['level=loud', /^query\.level: expected one of debug, info, warn, warning, error; got 'loud'$/],
    ['since=yesterday', /^query\.since: expected a duration like 10m/],
    ['limit=-1', /^query\.limit: expected a whole number$/],
  ])('answers 400 naming the field for %s', async (q, message) => {
    const res = await call(api.url, 'GET', `/api/agents/monitor/logs?${q}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toMatch(message);
  });

  it('answers 404 for an unknown agent', async () => {
    const res = await call(api.url, 'GET', '/api/agents/ghost/logs');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('agent_not_found');
  });
});

describe('WS /api/agents/:name/logs/follow', () => {
  it('sends each new line of the agent as a JSON text frame', async () => {
    const r = await follow('/api/agents/monitor/logs/follow');
    await until(() => control.followerCount('monitor') === 1);
    control.emitLog({ agent: 'chatty', msg: 'other agent' });
    const sent = control.emitLog({ agent: 'monitor', msg: 'hello', fields: { n: 1 } });
    await until(() => r.frames.length === 1);
    expect(r.frames).toEqual([sent]);
    r.ws.close();
  });

  it('sends the last `tail` lines first, then follows; honours level', async () => {
    control.emitLog({ agent: 'monitor', msg: 'one', level: 'warning' });
    control.emitLog({ agent: 'monitor', msg: 'debug noise', level: 'debug' });
    control.emitLog({ agent: 'monitor', msg: 'two', level: 'error' });
    const r = await follow('/api/agents/monitor/logs/follow?tail=5&level=warn');
    await until(() => r.frames.length === 2);
    control.emitLog({ agent: 'monitor', msg: 'quiet', level: 'info' });
    control.emitLog({ agent: 'monitor', msg: 'three', level: 'error' });
    await until(() => r.frames.length === 3);
    expect(r.frames.map((f) => f.msg)).toEqual(['one', 'two', 'three']);
    r.ws.close();
  });

  it('unsubscribes from the daemon when the reader goes away', async () => {
    const r = await follow('/api/agents/monitor/logs/follow');
    await until(() => control.followerCount('monitor') === 1);
    r.ws.close();
    await until(() => control.followerCount('monitor') === 0);
    expect(control.followerCount('monitor')).toBe(0);
  });

  it('refuses the upgrade with a JSON 404 for an unknown agent', async () => {
    const answer = await refusedUpgrade('/api/agents/ghost/logs/follow');
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('agent_not_found');
    expect(control.followerCount('ghost')).toBe(0);
  });

  it('refuses a malformed query with a JSON 400 naming the field', async () => {
    const answer = await refusedUpgrade('/api/agents/monitor/logs/follow?tail=lots');
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({ code: 'invalid_request', message: 'query.tail: expected a whole number' });
  });

  it('drops and counts lines for a stalled reader instead of buffering without bound, then reports the count', async () => {
    const r = await follow('/api/agents/chatty/logs/follow');
    await until(() => control.followerCount('chatty') === 1);
    const serverSocket = [...api.app.websocketServer.clients][0]!;
    r.ws.pause(); // the reader stops reading: TCP fills, then the server's buffer grows

    const filler = 'x'.repeat(4096);
    const total = 5000; // ~20 MB: far more than loopback TCP buffers hold
    let maxBuffered = 0;
    for (let i = 0; i < total; i++) {
      control.emitLog({ agent: 'chatty', msg: `${i} ${filler}` });
      maxBuffered = Math.max(maxBuffered, serverSocket.bufferedAmount);
      if (i % 100 === 99) await tick();
    }
    // Bounded: never more than the limit plus the one frame that crossed it.
    expect(maxBuffered).toBeLessThanOrEqual(MAX_BUFFERED + 4096 + 512);

    r.ws.resume();
    await until(() => r.frames.some((f) => f.type === 'dropped'));
    const sentinel = control.emitLog({ agent: 'chatty', msg: 'sentinel' });
    await until(() => r.frames.some((f) => f.msg === 'sentinel'));

    const lines = r.frames.filter((f) => f.type === undefined && f.msg !== 'sentinel');
    const dropped = r.frames.filter((f) => f.type === 'dropped').reduce((n, f) => n + f.count, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length + dropped).toBe(total);
    // What arrived arrived in order.
    const seq = lines.map((f) => Number(f.msg.split(' ')[0]));
    expect(seq).toEqual([...seq].sort((a, b) => a - b));
    expect(r.frames.at(-1)).toEqual(sentinel);
    r.ws.close();
  });
});
