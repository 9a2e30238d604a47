import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeControlPlane } from './fake-control.js';
import { call, startApi, type Running } from './harness.js';

let control: FakeControlPlane;
let api: Running;

beforeEach(async () => {
  control = new FakeControlPlane();
  control.addAgent('monitor');
  control.addAgent('reporter', { status: 'paused' });
  api = await startApi(control);
});
afterEach(() => api.close());

describe('GET /api/health', () => {
  it('returns the daemon summary', async () => {
    const res = await call(api.url, 'GET', '/api/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', store: 'sqlite', agents: { total: 2, running: 1, paused: 1 } });
  });
});

describe('probes', () => {
  it.each([
    ['/healthz', 'live', 'not_live'],
    ['/readyz', 'ready', 'not_ready'],
    ['/startupz', 'started', 'not_started'],
  ] as const)('%s answers 200 while %s, 503 with %s otherwise', async (path, key, code) => {
    const ok = await call(api.url, 'GET', path);
    expect(ok).toEqual({ status: 200, body: { status: 'ok' } });
    control.probeState[key] = false;
    const down = await call(api.url, 'GET', path);
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe(code);
  });

  it('keeps the probes independent', async () => {
    control.probeState.ready = false;
    expect((await call(api.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(api.url, 'GET', '/startupz')).status).toBe(200);
    expect((await call(api.url, 'GET', '/readyz')).status).toBe(503);
  });
});

describe('POST /api/daemon/stop', () => {
  it('answers 202 and then asks the daemon to shut down', async () => {
    const res = await call(api.url, 'POST', '/api/daemon/stop', { reason: 'maintenance' });
    expect(res).toEqual({ status: 202, body: { stopping: true, reason: 'maintenance' } });
    while (control.shutdowns.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(control.shutdowns).toEqual(['maintenance']);
  });

  it('rejects an unknown field without stopping', async () => {
    const res = await call(api.url, 'POST', '/api/daemon/stop', { now: true });
    expect(res.status).toBe(400);
    expect(control.shutdowns).toEqual([]);
  });
});
