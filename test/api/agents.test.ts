import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeControlPlane } from './fake-control.js';
import { call, startApi, type Running } from './harness.js';

let control: FakeControlPlane;
let api: Running;

beforeEach(async () => {
  control = new FakeControlPlane();
  control.addAgent('monitor');
  control.addAgent('reporter', { status: 'paused', desired: 'paused', uptimeMs: null });
  api = await startApi(control);
});
afterEach(() => api.close());

describe('GET /api/agents', () => {
  it('lists every agent with its view', async () => {
    const res = await call(api.url, 'GET', '/api/agents');
    expect(res.status).toBe(200);
    expect(res.body.agents.map((a: { name: string }) => a.name)).toEqual(['monitor', 'reporter']);
    expect(res.body.agents[1]).toMatchObject({ name: 'reporter', status: 'paused', successRate: 0.997 });
  });
});

describe('GET /api/agents/:name', () => {
  it('returns one agent', async () => {
    const res = await call(api.url, 'GET', '/api/agents/monitor');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'monitor', status: 'running', schedule: 'every 5m' });
  });

  it('answers 404 with the agent_not_found code for an unknown agent', async () => {
    const res = await call(api.url, 'GET', '/api/agents/ghost');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'agent_not_found', message: expect.stringContaining("'ghost'") } });
  });

  it('answers 400 naming params.name for a malformed agent name', async () => {
    const res = await call(api.url, 'GET', '/api/agents/%20bad%20name');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toMatch(/^params\.name: /);
  });
});

describe('lifecycle actions', () => {
  it('pauses, resumes, stops, starts and restarts an agent, answering with its new view', async () => {
    const steps: Array<[string, string]> = [
      ['pause', 'paused'],
      ['resume', 'running'],
      ['stop', 'stopped'],
      ['start', 'running'],
      ['restart', 'running'],
    ];
    for (const [action, status] of steps) {
      const res = await call(api.url, 'POST', `/api/agents/monitor/${action}`);
      expect(res.status, action).toBe(200);
      expect(res.body, action).toMatchObject({ name: 'monitor', status });
    }
    expect(control.transitions.map((t) => t.to)).toEqual(['paused', 'running', 'stopped', 'running', 'running']);
  });

  it('answers 409 invalid_transition when the daemon refuses the action', async () => {
    const res = await call(api.url, 'POST', '/api/agents/reporter/pause');
    expect(res.status).toBe(409);
    expect(res.body.error).toEqual({ code: 'invalid_transition', message: "cannot pause agent 'reporter' while it is paused" });
  });

  it('answers 404 for an action on an unknown agent', async () => {
    const res = await call(api.url, 'POST', '/api/agents/ghost/restart');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('agent_not_found');
  });
});

describe('POST /api/agents/:name/trigger', () => {
  it('starts a run with the given payload and answers 202 with its run id', async () => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/trigger', { payload: { url: 'https://example.com' } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ agent: 'monitor', runId: 'run-1' });
    expect(control.triggers).toEqual([{ name: 'monitor', payload: { url: 'https://example.com' } }]);
  });

  it('accepts no body at all', async () => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/trigger');
    expect(res.status).toBe(202);
    expect(control.triggers).toEqual([{ name: 'monitor', payload: undefined }]);
  });

  it('answers 400 naming an unknown body field', async () => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/trigger', { paylod: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message: "body: unknown field(s) 'paylod'" });
    expect(control.triggers).toEqual([]);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await call(api.url, 'POST', '/api/agents/monitor/trigger', '{"payload":', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toMatch(/^body: /);
  });
});

describe('runs and transitions', () => {
  it('lists runs and transitions, honouring limit', async () => {
    for (let i = 0; i < 3; i++) {
      control.runs.push({ id: `r${i}`, agent: 'monitor', instance: 'monitor#0', trigger: 'schedule', status: 'succeeded', scheduledAt: null, startedAt: i, finishedAt: i + 1, error: null, reason: null, eventId: null });
    }
    await call(api.url, 'POST', '/api/agents/monitor/pause');
    const runs = await call(api.url, 'GET', '/api/agents/monitor/runs?limit=2');
    expect(runs.status).toBe(200);
    expect(runs.body.runs.map((r: { id: string }) => r.id)).toEqual(['r0', 'r1']);
    const tr = await call(api.url, 'GET', '/api/agents/monitor/transitions');
    expect(tr.body.transitions).toEqual([expect.objectContaining({ from: 'running', to: 'paused' })]);
  });

  it.each([
    ['0', 'query.limit: must be at least 1'],
    ['abc', 'query.limit: expected a whole number'],
    ['10001', 'query.limit: must be at most 10000'],
  ])('answers 400 for limit=%s', async (limit, message) => {
    const res = await call(api.url, 'GET', `/api/agents/monitor/runs?limit=${limit}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message });
  });
});
