import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyRequest } from 'fastify';
import type { Permission } from '../../src/api/index.js';
import { OpenClawError } from '../../src/util/errors.js';
import { FakeControlPlane } from './fake-control.js';
import { call, startApi, type Running } from './harness.js';

let api: Running | null = null;
afterEach(async () => {
  await api?.close();
  api = null;
});

describe('error shapes', () => {
  it('answers an unknown route with a JSON 404', async () => {
    api = await startApi(new FakeControlPlane());
    const res = await call(api.url, 'GET', '/api/nope?x=1');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'route_not_found', message: expect.stringContaining('GET /api/nope') } });
  });

  it.each([
    ['/api/agents/%ZZ', 400],
    [`/api/agents/${'a'.repeat(5000)}`, 414],
  ])('answers a request the router cannot parse (%#) in the same shape', async (path, status) => {
    api = await startApi(new FakeControlPlane());
    const res = await call(api.url, 'GET', path);
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ error: { code: 'invalid_request', message: expect.any(String) } });
  });

  it('answers an unexpected failure with 500 internal and no stack or inner message', async () => {
    const control = new FakeControlPlane();
    control.failWith = new Error('secret-db-password in /srv/app/store.ts:42');
    api = await startApi(control);
    const res = await call(api.url, 'GET', '/api/agents');
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('internal');
    expect(JSON.stringify(res.body)).not.toContain('secret-db-password');
    expect(JSON.stringify(res.body)).not.toContain('store.ts');
  });

  it('keeps the status and code of an OpenClawError', async () => {
    const control = new FakeControlPlane();
    control.failWith = new OpenClawError('state_size_exceeded', 'state too big', { status: 413 });
    api = await startApi(control);
    const res = await call(api.url, 'GET', '/api/agents/any');
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: { code: 'state_size_exceeded', message: 'state too big' } });
  });
});

describe('authorization seam', () => {
  it('asks authorize for the permission each route declares, and never for the probes', async () => {
    const control = new FakeControlPlane();
    control.addAgent('monitor');
    control.commitState('monitor', { a: 1 });
    const seen: string[] = [];
    api = await startApi(control, {
      authorize: (req: FastifyRequest, permission: Permission) => {
        seen.push(`${req.method} ${req.routeOptions.url} ${permission}`);
      },
    });
    const requests: Array<[string, string, unknown?]> = [
      ['GET', '/api/agents'],
      ['GET', '/api/agents/monitor'],
      ['POST', '/api/agents/monitor/pause'],
      ['POST', '/api/agents/monitor/trigger'],
      ['GET', '/api/agents/monitor/state'],
      ['PUT', '/api/agents/monitor/state', { writes: [{ key: 'b', value: 2 }] }],
      ['GET', '/api/agents/monitor/logs'],
      ['POST', '/api/events', { name: 'ping' }],
      ['GET', '/api/events'],
      ['POST', '/api/dead-letters/redrive', { all: true }],
      ['GET', '/api/health'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['POST', '/api/daemon/stop'],
    ];
    for (const [m, p, b] of requests) expect((await call(api.url, m, p, b)).status, `${m} ${p}`).toBeLessThan(300);
    expect(seen).toEqual([
      'GET /api/agents agents:read',
      'GET /api/agents/:name agents:read',
      'POST /api/agents/:name/pause agents:update',
      'POST /api/agents/:name/trigger agents:trigger',
      'GET /api/agents/:name/state state:read',
      'PUT /api/agents/:name/state state:write',
      'GET /api/agents/:name/logs logs:read',
      'POST /api/events events:publish',
      'GET /api/events events:read',
      'POST /api/dead-letters/redrive events:admin',
      'GET /api/health health:read',
      'POST /api/daemon/stop daemon:admin',
    ]);
  });

  it('refuses a request when authorize throws, before validating or calling the daemon', async () => {
    const control = new FakeControlPlane();
    control.addAgent('monitor');
    api = await startApi(control, {
      authorize: (_req, permission) => {
        if (permission === 'state:write') throw new OpenClawError('forbidden', `this token lacks ${permission}`, { status: 403 });
      },
    });
    const res = await call(api.url, 'PUT', '/api/agents/monitor/state', { writes: 'not even valid' });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: { code: 'forbidden', message: 'this token lacks state:write' } });
    expect((await call(api.url, 'GET', '/api/agents/monitor')).status).toBe(200);
  });

  it('listens on loopback when asked for 127.0.0.1', async () => {
    api = await startApi(new FakeControlPlane());
    expect(new URL(api.url).hostname).toBe('127.0.0.1');
  });
});
