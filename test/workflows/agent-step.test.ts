// The `agent` step through a real daemon and a real agent worker: the step's output is the
// method's return value, a dependent step reads it through `${{ steps.x.output… }}`, the method's
// state writes commit (in the call's run transaction), a method that throws fails the step after
// its retries (and commits nothing), an unknown method (or a templated agent name naming no agent)
// fails at run time without retrying, and an unknown or command agent written in the YAML is
// refused when the daemon loads the workflows. SQLite and PostgreSQL.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { ConfigError } from '../../src/util/errors.js';
import type { RunDetail, StepView } from '../../src/workflows/routes.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { havePostgres, PG_URL, uniqueSchema, dropSchemas } from '../helpers/services.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LEDGER = path.join(HERE, 'fixtures', 'ledger.ts');
const backends = (await havePostgres()) ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
if (process.env.CI === 'true' && backends.length < 2) throw new Error('PostgreSQL is required under CI=true (127.0.0.1:5432)');
const schemas: string[] = [];

afterAll(() => dropSchemas(schemas));

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

const WORKFLOWS = `workflows:
  book:
    inputs: { amount: 5, ref: r1 }
    steps:
      - id: post
        type: agent
        agent: ledger
        method: post
        payload: { amount: '\${{ inputs.amount }}', ref: '\${{ inputs.ref }}' }
      - id: double
        type: agent
        needs: post
        agent: ledger
        method: post
        payload: { amount: '\${{ steps.post.output.total * 2 }}', ref: '\${{ steps.post.output.ref + "-again" }}' }
      - id: report
        type: shell
        needs: double
        env: { TOTAL: '\${{ steps.double.output.total }}', FIRST: '\${{ steps.post.output.total }}' }
        command: 'echo "first=$FIRST total=$TOTAL"'
  flaky:
    steps:
      - id: call
        type: agent
        agent: ledger
        method: flaky
        retry: { attempts: 3, delay: 50ms, backoff: fixed }
        payload: { log: '\${{ inputs.log }}', succeedOn: '\${{ inputs.succeedOn }}' }
  refused:
    steps:
      - id: call
        type: agent
        agent: ledger
        method: reject
        retry: { attempts: 2, delay: 50ms }
        payload: { log: '\${{ inputs.log }}' }
      - { id: after, type: shell, needs: call, command: 'echo never' }
  typo:
    steps:
      - { id: call, type: agent, agent: ledger, method: postt, retry: { attempts: 3, delay: 50ms }, payload: {} }
  dynamic:
    steps:
      - { id: call, type: agent, agent: '\${{ inputs.agent }}', method: post, retry: { attempts: 3, delay: 50ms }, payload: { amount: 1, ref: d } }
`;

describe.each(backends)('agent steps on %s', (backend) => {
  async function boot(workflows = WORKFLOWS, agents = `  ledger:\n    source: ${LEDGER}\n`) {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      store = { kind: 'postgres', url: PG_URL, schema: uniqueSchema('oc_wfagent') };
      schemas.push(store.schema);
    }
    const { dir, configFile } = makeProject({ store, agents, extra: workflows });
    const d = await Daemon.start(await loadConfig(configFile));
    daemons.push(d);
    await waitFor('ledger running', async () => (await d.getAgent('ledger')).status === 'running');
    return { d, dir };
  }

  async function api<T>(d: Daemon, method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(d.url + route, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = (await res.json()) as T;
    if (res.status >= 300) throw new Error(`${method} ${route}: HTTP ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async function runToEnd(d: Daemon, workflow: string, input?: unknown): Promise<RunDetail & { step: (key: string) => StepView }> {
    const { runId } = await api<{ runId: string }>(d, 'POST', `/api/workflows/${workflow}/runs`, input === undefined ? {} : { input });
    const detail = await waitFor(`run ${runId} of ${workflow} finished`, async () => {
      const r = await api<RunDetail>(d, 'GET', `/api/workflow-runs/${runId}`);
      return r.run.status === 'running' ? null : r;
    });
    return { ...detail, step: (key) => detail.steps.find((s) => s.key === key)! };
  }

  it('returns the method value as the output, dependents read it, and the state writes commit', async () => {
    const { d } = await boot();
    const r = await runToEnd(d, 'book', { amount: 7, ref: 'A-1' });
    expect(r.run.status).toBe('succeeded');
    expect(r.step('post').output).toEqual({ total: 7, ref: 'A-1', meta: expect.objectContaining({ workflow: 'book', run: r.run.id, step: 'post', attempt: 1 }) });
    // 7 + 14 = 21: the second call got the first one's output through its payload template.
    expect(r.step('double').output).toMatchObject({ total: 21, ref: 'A-1-again' });
    expect((r.step('report').output as { stdout: string }).stdout.trim()).toBe('first=7 total=21');
    const state = (await d.getState('ledger')).state;
    expect(state).toMatchObject({ total: 21, 'entry:A-1': 7, 'entry:A-1-again': 14 });
    // Each call is a run of the agent, recorded with trigger 'workflow'.
    const runs = (await d.listRuns('ledger')).filter((x) => x.trigger === 'workflow');
    expect(runs.map((x) => x.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('retries a throwing method as the step says; a step that keeps failing fails the run and commits nothing', async () => {
    // The agent appends to a log in the project's out/ directory, which it may write.
    const { d, dir } = await boot(WORKFLOWS, `  ledger:\n    source: ${LEDGER}\n    permissions:\n      write: [out]\n`);
    const log = path.join(dir, 'out', 'flaky.log');
    const ok = await runToEnd(d, 'flaky', { log, succeedOn: 3 });
    expect(ok.run.status).toBe('succeeded');
    expect(ok.step('call')).toMatchObject({ status: 'succeeded', attempt: 3, maxAttempts: 3, output: { attempts: 3 } });
    expect(fs.readFileSync(log, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
    // Only the call that returned committed its write.
    expect((await d.getState('ledger')).state.flaky_attempts).toBe(3);

    const rlog = path.join(dir, 'out', 'refused.log');
    const bad = await runToEnd(d, 'refused', { log: rlog });
    expect(bad.run.status).toBe('failed');
    expect(bad.step('call')).toMatchObject({ status: 'failed', attempt: 2 });
    expect(bad.step('call').error).toContain('ledger refuses this entry');
    expect(bad.step('call').error).toContain('ledger.reject()');
    expect(bad.step('after').status).toBe('skipped');
    expect(bad.run.error).toContain('step call failed');
    expect(fs.readFileSync(rlog, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    expect((await d.getState('ledger')).state.rejected).toBeUndefined();
  });

  it('an unknown method fails the step at run time with a clear error, without spending retries', async () => {
    const { d } = await boot();
    const r = await runToEnd(d, 'typo');
    expect(r.run.status).toBe('failed');
    expect(r.step('call').status).toBe('failed');
    expect(r.step('call').attempt).toBe(1);
    expect(r.step('call').error).toContain("ledger has no method 'postt' to call");

    // An agent name from a template can only be checked when the step runs.
    const dyn = await runToEnd(d, 'dynamic', { agent: 'nobody' });
    expect(dyn.step('call')).toMatchObject({ status: 'failed', attempt: 1, error: "agent 'nobody' is not an agent of this project; agents: ledger" });
    expect((await runToEnd(d, 'dynamic', { agent: 'ledger' })).step('call').output).toMatchObject({ total: 1, ref: 'd' });
  });
});

describe('agent steps refused at load', () => {
  it('names an unknown agent and a command agent with file:line, and the daemon does not start', async () => {
    const agents = `  ledger:\n    source: ${LEDGER}\n  shellish:\n    command: [/bin/sleep, '1000']\n`;
    const wf = `workflows:
  bad:
    steps:
      - { id: a, type: agent, agent: ledgr, method: post }
      - { id: b, type: agent, agent: shellish, method: post }
`;
    const { configFile } = makeProject({ agents, extra: wf });
    const err = await Daemon.start(await loadConfig(configFile)).then(
      (d) => {
        daemons.push(d);
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as Error).message;
    const lines = fs.readFileSync(configFile, 'utf8').split('\n');
    const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
    expect(text).toContain(`openclaw.yaml:${lineOf('agent: ledgr')}`);
    expect(text).toContain("workflows.bad.steps[0].agent: no agent named 'ledgr' (did you mean 'ledger'?)");
    expect(text).toContain(`openclaw.yaml:${lineOf('agent: shellish')}`);
    expect(text).toContain("workflows.bad.steps[1].agent: 'shellish' is a command agent");
  });
});
