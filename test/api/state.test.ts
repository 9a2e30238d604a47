import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeControlPlane } from './fake-control.js';
import { call, startApi, type Running } from './harness.js';

let control: FakeControlPlane;
let api: Running;

beforeEach(async () => {
  control = new FakeControlPlane();
  control.addAgent('monitor');
  control.commitState('monitor', { checks: 1 }, control.now - 10 * 60_000);
  control.commitState('monitor', { checks: 2, last: 'up' }, control.now - 5 * 60_000);
  control.commitState('monitor', { checks: 3, last: 'down' }, control.now);
  api = await startApi(control);
});
afterEach(() => api.close());

describe('GET /api/agents/:name/state', () => {
  it('returns the current state and its version', async () => {
    const res = await call(api.url, 'GET', '/api/agents/monitor/state');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ agent: 'monitor', version: 3, state: { checks: 3, last: 'down' } });
  });

  it.each(['1', 'v1', 'V1'])('returns the state as it was at version=%s', async (v) => {
    const res = await call(api.url, 'GET', `/api/agents/monitor/state?version=${v}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ agent: 'monitor', version: 1, state: { checks: 1 } });
  });

  it('answers 400 naming query.version for a malformed version', async () => {
    const res = await call(api.url, 'GET', '/api/agents/monitor/state?version=latest');
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message: 'query.version: expected a state version like 140 or "v140", got "latest"' });
  });

  it('answers 404 for a version that does not exist', async () => {
    const res = await call(api.url, 'GET', '/api/agents/monitor/state?version=v99');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('state_version_not_found');
  });

  it('answers 404 for an unknown agent', async () => {
    const res = await call(api.url, 'GET', '/api/agents/ghost/state');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('agent_not_found');
  });
});

describe('GET /api/agents/:name/state/versions', () => {
  it('lists versions newest first, honouring limit', async () => {
    const res = await call(api.url, 'GET', '/api/agents/monitor/state/versions?limit=2');
    expect(res.status).toBe(200);
    expect(res.body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2]);
    expect(res.body.versions[0]).toMatchObject({ keyCount: 2, changedKeys: ['checks', 'last'] });
  });
});

describe('POST /api/agents/:name/state/rollback', () => {
  it.each([1, 'v1'])('rolls back to version %s as a new version', async (version) => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/state/rollback', { version });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ agent: 'monitor', rolledBackTo: 1, version: 4 });
    expect((await call(api.url, 'GET', '/api/agents/monitor/state')).body).toEqual({ agent: 'monitor', version: 4, state: { checks: 1 } });
  });

  it('answers 400 when the version is missing', async () => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/state/rollback', {});
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message: 'body.version: required' });
  });

  it.each([['v1.5'], [-1], [true]])('answers 400 naming body.version for %j', async (version) => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/state/rollback', { version });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^body\.version: expected a state version like 140 or "v140"/);
  });

  it('answers 404 for a version that does not exist, and writes nothing', async () => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/state/rollback', { version: 'v140' });
    expect(res.status).toBe(404);
    expect(control.versions.get('monitor')).toHaveLength(3);
  });
});

describe('PUT /api/agents/:name/state', () => {
  it('commits the writes as one new version (set, delete, TTL)', async () => {
    const res = await call(api.url, 'PUT', '/api/agents/monitor/state', {
      writes: [
        { key: 'checks', value: 4 },
        { key: 'last', deleted: true },
        { key: 'lock', value: 'x', ttlMs: 60_000 },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ agent: 'monitor', version: 4 });
    expect((await call(api.url, 'GET', '/api/agents/monitor/state')).body.state).toEqual({ checks: 4, lock: 'x' });
    expect(control.calls.find((c) => c.method === 'writeState')?.args[1]).toEqual([
      { key: 'checks', value: 4 },
      { key: 'last', deleted: true },
      { key: 'lock', value: 'x', ttlMs: 60_000 },
    ]);
  });

  it('stores null as a value', async () => {
    const res = await call(api.url, 'PUT', '/api/agents/monitor/state', { writes: [{ key: 'last', value: null }] });
    expect(res.status).toBe(200);
    expect((await call(api.url, 'GET', '/api/agents/monitor/state')).body.state).toEqual({ checks: 3, last: null });
  });

  it.each([
    [{}, 'body.writes: required'],
    [{ writes: [] }, 'body.writes: must hold at least one write'],
    [{ writes: [{ key: '', value: 1 }] }, 'body.writes.0.key: must not be empty'],
    [{ writes: [{ key: 'a' }] }, 'body.writes.0: give a value, or deleted: true to delete the key'],
    [{ writes: [{ key: 'a', value: 1, ttl: 5 }] }, "body.writes.0: unknown field(s) 'ttl'"],
    [{ writes: [{ key: 'a', value: 1, ttlMs: -5 }] }, 'body.writes.0.ttlMs: Number must be greater than 0'],
  ])('answers 400 naming the field for %j', async (body, message) => {
    const res = await call(api.url, 'PUT', '/api/agents/monitor/state', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message });
    expect(control.versions.get('monitor')).toHaveLength(3);
  });
});
