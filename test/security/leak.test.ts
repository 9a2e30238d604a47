// The leak test: a secret set through the real CLI, referenced as ${secret:LEAK_KEY} in an agent's
// config and a command agent's env, then logged, stored (as a value and as a key), emitted, thrown,
// used as a metric label, echoed by a module route and thrown in an API error, used as the LLM
// provider's api_key (the fake upstream receives it and echoes it back in a 401, as OpenAI does),
// rotated (the old value stays valid in its grace period); then every log file, every state version,
// every event, the database files and every API response (the /api/metrics scrape and the LLM usage
// included) are searched for both values: zero hits. The test also
// checks that the value really was injected (the redaction markers are where the value would be).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { DaemonModule } from '../../src/daemon/modules.js';
import { defineRoute } from '../../src/api/route.js';
import { OpenClawError } from '../../src/util/errors.js';
import { createModules } from '../../src/daemon/module-list.js';
import { openStore, SHARED_NAMESPACE } from '../../src/store/index.js';
import { makeProject, tsxUrls, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { startFakeOpenAI } from '../fakes/index.js';
import { REPO } from '../cli/run-cli.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

const FIXTURES = path.join(REPO, 'test', 'security', 'fixtures');
const MARK = '[REDACTED:LEAK_KEY]';

/** `openclaw ARGS` with `input` on stdin, no daemon reachable (the CLI writes the store itself). */
function cli(args: string[], cwd: string, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsxUrls().loader, path.join(REPO, 'src', 'cli', 'main.ts'), ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', OPENCLAW_URL: 'http://127.0.0.1:1', OPENCLAW_MASTER_KEY: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.end(input);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** A module like the LLM router or the metrics scrape will be: it reads the secret and (mis)uses it in output. */
const echoModule: DaemonModule = {
  name: 'leak-echo',
  async start(ctx) {
    ctx.routes((app) => {
      defineRoute(app, {
        method: 'GET',
        url: '/api/test/echo',
        permission: 'metrics:read',
        handler: async () => ({ providerKey: await ctx.services.secrets.get('LEAK_KEY', 'llm'), text: `# HELP x\nx{key="${await ctx.services.secrets.get('LEAK_KEY', 'llm')}"} 1\n` }),
      });
      defineRoute(app, {
        method: 'GET',
        url: '/api/test/fail',
        permission: 'metrics:read',
        handler: async () => {
          throw new OpenClawError('provider_error', `provider said: invalid api key ${await ctx.services.secrets.get('LEAK_KEY', 'llm')}`, { status: 502 });
        },
      });
    });
  },
};

const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

describe.each(backends)('secrets never leak (%s)', (backend) => {
  it('log files, state versions, events, run errors, the database and every API response hold no secret value', async () => {
    const schema = backend === 'postgres' ? uniqueSchema('oc_leak') : '';
    if (schema) schemas.push(schema);
    // The LLM provider's API key is the secret too: the fake upstream must receive the real value.
    const upstream = await startFakeOpenAI();
    const { dir, configFile } = makeProject({
      store: backend === 'postgres' ? { kind: 'postgres', url: PG_URL, schema } : undefined,
      extra: [
        'llm:',
        '  providers:',
        `    openai: { api_key: "\${secret:LEAK_KEY}", base_url: "${upstream.baseUrl}", models: [gpt-4o-mini] }`,
        '  defaults: { primary: gpt-4o-mini, max_retries: 0 }',
        '',
      ].join('\n'),
      agents: [
        `  leaky:\n    source: ${path.join(FIXTURES, 'leaky.ts')}\n    config:\n      api_key: "\${secret:LEAK_KEY}"\n`,
        `  listener:\n    source: ${path.join(FIXTURES, 'listener.ts')}\n`,
        `  cmd:\n    command: ["/bin/sh", "-c", "echo \\"cmd got $LEAK_KEY\\"; exec sleep 600"]\n    env: { LEAK_KEY: "\${secret:LEAK_KEY}" }\n`,
      ].join(''),
    });
    const OLD = 'sk-live-OLD-9f8e7d6c5b4a3210';
    const NEW = 'sk-live-NEW-0123456789abcdef';

    // 1. Through the real CLI, before any daemon runs: value on stdin, never argv.
    const set = await cli(['secrets', 'set', 'LEAK_KEY'], dir, OLD + '\n');
    expect(set.stderr).toContain('created the master key');
    expect(set.stdout).toContain('Set secret LEAK_KEY: now v1');
    expect(set.code).toBe(0);
    const listed = await cli(['secrets', 'list'], dir, '');
    expect(listed.stdout).toMatch(/LEAK_KEY\W+default\W+v1/);
    expect(listed.stdout + listed.stderr).not.toContain(OLD);

    const d = await Daemon.start(await loadConfig(configFile), { modules: [...createModules(), echoModule] });
    const responses: string[] = [];
    const get = async (route: string, init?: RequestInit) => {
      const res = await fetch(d.url + route, init);
      const text = await res.text();
      responses.push(`${init?.method ?? 'GET'} ${route} ${res.status}\n${text}`);
      return { status: res.status, text, json: () => JSON.parse(text) as unknown };
    };
    try {
      await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));
      await waitFor('the command agent logs its env', () => d.logs.recent('cmd').some((l) => l.msg.includes('cmd got')));

      await d.trigger('leaky', { round: 1 });
      await d.trigger('leaky', { fail: true });
      await waitFor('listener got the event', async () => (await d.getState('listener')).state.last);
      await waitFor('a failed run', async () => (await d.listRuns('leaky')).some((r) => r.status === 'failed'));
      // A run that throws restarts the instance: call the LLM once it is back.
      await waitFor('leaky restarted after the failed run', async () => {
        const a = await d.getAgent('leaky');
        return a.restarts >= 1 && a.status === 'running';
      });
      // The provider key: refused once with the key echoed back (as OpenAI does), then answered.
      upstream.script([
        { status: 401, error: { message: `Incorrect API key provided: ${OLD}.`, type: 'invalid_request_error', code: 'invalid_api_key' } },
        { reply: 'hello from the provider' },
      ]);
      await d.trigger('leaky', { llm: true });
      await waitFor('the refused LLM call is recorded', async () => (await d.getState('leaky')).state.llm_error);
      await d.trigger('leaky', { llm: true });
      await waitFor('the LLM answered', async () => (await d.getState('leaky')).state.llm_answer);
      expect(String((await d.getState('leaky')).state.llm_error)).toContain(MARK);
      expect(upstream.chatRequests.map((r) => r.headers.authorization)).toEqual([`Bearer ${OLD}`, `Bearer ${OLD}`]);
      // From outside: an API caller writes state and publishes an event holding the value.
      await get('/api/agents/leaky/state', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ writes: [{ key: 'api', value: `x ${OLD} y` }] }) });
      await get('/api/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'outside', data: { k: OLD } }) });

      // 2. Rotate through the API; the old value stays valid (and redacted) during the grace period.
      const rot = await get('/api/secrets/LEAK_KEY/rotate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: NEW }) });
      expect(rot.status).toBe(200);
      expect(rot.json()).toMatchObject({ name: 'LEAK_KEY', version: 2 });
      expect(await d.services.secrets.validValues('LEAK_KEY', 'test')).toEqual([NEW, OLD]);
      await d.action('leaky', 'restart');
      await waitFor('leaky running again', async () => (await d.getAgent('leaky')).status === 'running');
      await d.trigger('leaky', { round: 2 });
      await waitFor('second round committed', async () => JSON.stringify((await d.getState('listener')).state.last ?? {}).includes('"round":2'));

      // The value really was injected: markers sit where it would have been.
      expect((await d.getState('leaky')).state.token).toBe(MARK);
      expect(d.logs.recent('leaky').some((l) => l.msg === `calling the provider with key ${MARK}`)).toBe(true);
      expect(d.logs.recent('cmd').some((l) => l.msg.includes(`cmd got ${MARK}`))).toBe(true);
      expect((await d.listRuns('leaky')).find((r) => r.status === 'failed')!.error).toContain(`provider rejected key ${MARK}`);
      expect((await get('/api/test/echo')).json()).toMatchObject({ providerKey: MARK });
      const fail = await get('/api/test/fail');
      expect(fail.status).toBe(502);
      expect(fail.text).toContain(`invalid api key ${MARK}`);

      // 3. Every API route we can GET.
      const agents = (await get('/api/agents')).json() as { agents: Array<{ name: string }> };
      for (const { name } of agents.agents) {
        await get(`/api/agents/${name}`);
        await get(`/api/agents/${name}/runs`);
        await get(`/api/agents/${name}/transitions`);
        await get(`/api/agents/${name}/logs?limit=1000`);
        await get(`/api/agents/${name}/state`);
        const versions = (await get(`/api/agents/${name}/state/versions?limit=1000`)).json() as { versions: Array<{ version: number }> };
        for (const v of versions.versions) await get(`/api/agents/${name}/state?version=${v.version}`);
      }
      const scrape = await get('/api/metrics');
      expect(scrape.text).toContain('openclaw_llm_tokens_total');
      for (const route of ['/api/llm/usage?since=7d', '/api/llm/status', '/api/events?limit=1000', '/api/dead-letters', '/api/health', '/api/secrets', '/api/audit?limit=1000', '/api/daemon/logs?limit=1000']) await get(route);
      await get('/api/audit/verify', { method: 'POST' });
      expect(responses.length).toBeGreaterThan(20);

      // 4. Every state version, through the store.
      const store = d['store' as keyof Daemon] as unknown as Awaited<ReturnType<typeof openStore>>;
      const states: unknown[] = [];
      for (const ns of ['leaky', 'listener', 'cmd', SHARED_NAMESPACE]) {
        for (const v of await store.listVersions(ns, { limit: 10_000 })) states.push(await store.stateAt(ns, v.version));
      }
      expect(JSON.stringify(states)).toContain(MARK);
      const events = await store.listEvents({ limit: 10_000 });
      expect(events.filter((e) => e.name === 'leak.event')).toHaveLength(2);

      // The audit log saw the reads (by the agent, at instance start), never the value.
      const audit = (await get('/api/audit?action=secret.read&limit=1000')).json() as { records: Array<{ actor: string }> };
      expect(audit.records.some((r) => r.actor === 'agent:leaky')).toBe(true);
      expect(audit.records.some((r) => r.actor === 'agent:cmd')).toBe(true);

      const haystacks: Array<[string, string]> = [
        ['api', responses.join('\n')],
        ['state versions', JSON.stringify(states)],
        ['events', JSON.stringify(events)],
        ['runs', JSON.stringify(await store.listRuns('leaky', { limit: 1000 }))],
        ['transitions', JSON.stringify(await store.listTransitions('leaky', 1000))],
      ];
      await d.shutdown('test end');
      const logDir = path.join(dir, '.openclaw', 'logs');
      for (const f of fs.readdirSync(logDir)) haystacks.push([`log file ${f}`, fs.readFileSync(path.join(logDir, f), 'latin1')]);
      expect(haystacks.some(([w]) => w.startsWith('log file leaky'))).toBe(true);
      if (backend === 'sqlite') {
        for (const f of fs.readdirSync(path.join(dir, '.openclaw')).filter((x) => x.startsWith('openclaw.db'))) {
          haystacks.push([`database file ${f}`, fs.readFileSync(path.join(dir, '.openclaw', f), 'latin1')]);
        }
      } else {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        const tables = (await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])).rows as Array<{ table_name: string }>;
        for (const t of tables) haystacks.push([`table ${t.table_name}`, JSON.stringify((await c.query(`SELECT * FROM "${schema}"."${t.table_name}"`)).rows)]);
        await c.end();
      }
      for (const [where, text] of haystacks) {
        for (const [label, value] of [['old', OLD], ['new', NEW]] as const) {
          expect(text.includes(value), `the ${label} value appears in ${where}`).toBe(false);
          expect(text.includes(Buffer.from(value).toString('base64')), `the ${label} value appears base64-encoded in ${where}`).toBe(false);
        }
      }
    } finally {
      await d.shutdown('test end');
      await upstream.close();
    }
  });
});
