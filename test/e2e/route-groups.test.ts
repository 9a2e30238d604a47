// Every route group of the control API, and the CLI command for it, against a REAL daemon (store,
// agent hosts, modules: security, auth, jobs, workflows, llm) on SQLite and PostgreSQL — not the
// FakeControlPlane of test/api (issue 14 item 19). One daemon per backend, shared by the group
// checks; each check does one real round trip and looks at what the daemon actually did.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, dropSchemas, havePostgres, uniqueSchema } from '../helpers/services.js';
import { runCli } from '../cli/run-cli.js';

const schemas: string[] = [];
const backends = (await havePostgres()) ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
afterAll(() => dropSchemas(schemas));

describe.each(backends)('route groups against a real daemon on %s', (backend) => {
  let d: Daemon;
  let dir: string;
  const api = async <T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${d.url}${url}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T };
  };
  const cli = async (...args: string[]) => {
    const r = await runCli([...args], { cwd: dir, env: { OPENCLAW_URL: d.url } });
    expect(r.stderr, args.join(' ')).toBe('');
    expect(r.code, args.join(' ')).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      store = { kind: 'postgres', url: PG_URL, schema: uniqueSchema('oc_routes') };
      schemas.push(store.schema);
    }
    const p = makeProject({
      store,
      agents: `  ticker:\n    source: ${fixture('ticker.ts')}\n`,
      extra: [
        'llm:',
        '  providers:',
        '    openai: { api_key: sk-unused, base_url: "http://127.0.0.1:9/v1", models: [gpt-4o-mini] }',
        'workflows:',
        '  hello:',
        '    steps:',
        "      - { id: say, type: shell, command: 'echo hi' }",
        '',
      ].join('\n'),
    });
    dir = p.dir;
    fs.mkdirSync(path.join(dir, '.openclaw'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.openclaw', 'master.key'), randomBytes(32).toString('hex'), { mode: 0o600 });
    d = await Daemon.start(await loadConfig(p.configFile));
    await waitFor('ticker running', async () => (await d.getAgent('ticker')).status === 'running');
  }, 120_000);
  afterAll(() => d?.shutdown('test end'));

  it('health, agents, runs, state and logs', async () => {
    expect((await api('GET', '/api/health')).status).toBe(200);
    const { runId } = (await api<{ runId: string }>('POST', '/api/agents/ticker/trigger', {})).body;
    await waitFor('the run', async () => (await api<{ runs: Array<{ id: string; status: string }> }>('GET', '/api/agents/ticker/runs')).body.runs.find((r) => r.id === runId && r.status === 'succeeded'));
    expect((await api<{ state: { runs: number } }>('GET', '/api/agents/ticker/state')).body.state.runs).toBeGreaterThanOrEqual(1);
    expect((await api('GET', '/api/agents/ticker/state/versions')).status).toBe(200);
    expect((await api('GET', '/api/agents/ticker/transitions')).status).toBe(200);
    expect((await api('GET', '/api/agents/ticker/logs')).status).toBe(200);
    const [status, state] = await Promise.all([cli('status', '--json'), cli('state', 'get', 'ticker', '--json')]);
    expect(JSON.parse(status)).toMatchObject({ agents: expect.arrayContaining([expect.objectContaining({ name: 'ticker' })]) });
    expect((JSON.parse(state) as { state: { runs: number } }).state.runs).toBeGreaterThanOrEqual(1);
  });

  it('events and dead letters', async () => {
    expect((await api('POST', '/api/events', { name: 'route.check', data: { n: 1 } })).status).toBeLessThan(300);
    const listed = await api<{ events: Array<{ name: string }> }>('GET', '/api/events?name=route.check');
    expect(listed.body.events.map((e) => e.name)).toEqual(['route.check']);
    expect((await api('GET', '/api/dead-letters')).status).toBe(200);
    const [events] = await Promise.all([cli('events', 'list', '--name', 'route.check', '--json'), cli('dead-letters', 'list', '--json')]);
    expect(JSON.parse(events)).toMatchObject({ events: [expect.objectContaining({ name: 'route.check' })] });
  });

  it('jobs and queues', async () => {
    const job = await api<{ id: string }>('POST', '/api/jobs', { name: 'nobody-serves', payload: { x: 1 } });
    expect(job.status).toBeLessThan(300);
    expect((await api<{ id: string; status: string }>('GET', `/api/jobs/${job.body.id}`)).body).toMatchObject({ id: job.body.id, status: 'waiting' });
    expect((await api('GET', '/api/queues')).status).toBe(200);
    const [shown] = await Promise.all([cli('jobs', 'show', job.body.id, '--json'), cli('queues', '--json')]);
    expect(JSON.parse(shown)).toMatchObject({ id: job.body.id });
    expect((await api('POST', `/api/jobs/${job.body.id}/cancel`)).status).toBeLessThan(300);
  });

  it('workflows, runs and approvals', async () => {
    expect((await api<{ workflows: Array<{ name: string }> }>('GET', '/api/workflows')).body.workflows.map((w) => w.name)).toContain('hello');
    const run = await api<{ runId: string }>('POST', '/api/workflows/hello/runs', {});
    expect(run.status).toBeLessThan(300);
    await waitFor('the workflow run', async () => (await api<{ run: { status: string } }>('GET', `/api/workflow-runs/${run.body.runId}`)).body.run.status === 'succeeded');
    expect((await api('GET', '/api/approvals')).status).toBe(200);
    const [runs] = await Promise.all([cli('workflow', 'runs', 'hello', '--json'), cli('workflow', 'list', '--json')]);
    expect(JSON.stringify(JSON.parse(runs))).toContain(run.body.runId);
  });

  it('llm keys, usage and status', async () => {
    const key = await api<{ id: string; key: string }>('POST', '/api/llm/keys', { name: 'routes' });
    expect(key.status).toBe(201);
    expect((await api<{ keys: Array<{ id: string }> }>('GET', '/api/llm/keys')).body.keys.map((k) => k.id)).toContain(key.body.id);
    expect((await api('GET', '/api/llm/usage')).status).toBe(200);
    expect((await api('GET', '/api/llm/status')).status).toBe(200);
    expect(JSON.parse(await cli('keys', 'list', '--json'))).toMatchObject({ keys: expect.arrayContaining([expect.objectContaining({ id: key.body.id })]) });
    expect((await api('DELETE', `/api/llm/keys/${key.body.id}`)).status).toBeLessThan(300);
  });

  it('secrets, tokens, audit and metrics', async () => {
    expect((await api('PUT', '/api/secrets/ROUTE_SECRET', { value: 's3cret-value' })).status).toBeLessThan(300);
    const secrets = await api<{ secrets: Array<{ name: string }> }>('GET', '/api/secrets');
    expect(secrets.body.secrets.map((s) => s.name)).toContain('ROUTE_SECRET');
    expect(JSON.stringify(secrets.body)).not.toContain('s3cret-value');
    const token = await api<{ id: string }>('POST', '/api/tokens', { role: 'viewer' });
    expect(token.status).toBeLessThan(300);
    expect((await api('GET', '/api/tokens')).status).toBe(200);
    const audit = await api<{ records: Array<{ action: string }> }>('GET', '/api/audit');
    expect(audit.status).toBe(200);
    expect((await api<{ ok: boolean }>('POST', '/api/audit/verify')).body.ok).toBe(true);
    expect(await api<string>('GET', '/api/metrics').then((r) => r.body)).toMatch(/^openclaw_/m);
    const [list] = await Promise.all([cli('secrets', 'list', '--json'), cli('token', 'list', '--json'), cli('audit', 'verify', '--json')]);
    expect(list).toContain('ROUTE_SECRET');
  });
});
