// The real CLI (a child process) against a real daemon with the jobs module: enqueue with options,
// list, show, queues, cancel, dead letters and redrive.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { JobsModule } from '../../src/jobs/module.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { runCli } from '../cli/run-cli.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let d: Daemon;
let dir: string;
const cli = (args: string[]) => runCli(args, { cwd: dir, env: { OPENCLAW_URL: d.url } });

beforeAll(async () => {
  const p = makeProject({ agents: `  worker:\n    source: ${path.join(here, 'fixtures', 'worker.ts')}\n` });
  dir = p.dir;
  d = await Daemon.start(await loadConfig(p.configFile), { modules: [new JobsModule({ pollMs: 500 })] });
  await waitFor('worker running', async () => (await d.getAgent('worker')).status === 'running');
});
afterAll(async () => {
  await d?.shutdown('test end');
});

describe('openclaw jobs / queues', () => {
  it('enqueues with options, shows, lists, cancels, and lists queues', async () => {
    const e = await cli(['jobs', 'enqueue', 'record', '--payload', '{"i":42}', '--priority', '5', '--json']);
    expect(e.stderr).toBe('');
    const { id } = JSON.parse(e.stdout) as { id: string };
    await waitFor('completed', async () => (await cli(['jobs', 'show', id, '--json'])).stdout.includes('"completed"'), 30_000, 200);
    const show = await cli(['jobs', 'show', id]);
    expect(show.stdout).toMatch(/status: +completed/);
    expect(show.stdout).toMatch(/result: +\{"i":42\}/);
    expect(show.stdout).toMatch(/priority: +5/);

    const later = await cli(['jobs', 'enqueue', 'record', '--delay', '1h', '--key', 'nightly', '--mode', 'debounce']);
    expect(later.stdout).toMatch(/^Enqueued record job /);
    const again = await cli(['jobs', 'enqueue', 'record', '--delay', '1h', '--key', 'nightly', '--mode', 'debounce']);
    expect(again.stdout).toMatch(/already exists for this key; updated it/);
    const list = await cli(['jobs', 'list', '--queue', 'record', '--status', 'delayed']);
    expect(list.stdout.split('\n').filter((l) => l.includes('delayed'))).toHaveLength(1);
    const laterId = /job (\S+)/.exec(later.stdout)![1]!;
    expect((await cli(['jobs', 'cancel', laterId])).stdout).toBe(`Cancelled job ${laterId}\n`);

    const q = await cli(['queues']);
    expect(q.stdout).toMatch(/│ record +│ worker\.record\(\) +│/);
    const bad = await cli(['jobs', 'enqueue', 'record', '--mode', 'replace']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mode needs --key/);
  }, 60_000);

  it('warns when a queue has no agent serving it: on enqueue (CLI and API), in `queues`, and as a metric', async () => {
    const e = await cli(['jobs', 'enqueue', 'nobody-home', '--payload', '{"i":1}']);
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/^Enqueued nobody-home job /);
    expect(e.stderr).toContain("warning: no agent serves queue 'nobody-home': the job waits until an agent with @job('nobody-home') is configured and enabled");
    const api = (await (await fetch(`${d.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'nobody-home' }) })).json()) as { warning?: string };
    expect(api.warning).toMatch(/no agent serves queue 'nobody-home'/);
    const served = (await (await fetch(`${d.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'record', payload: { i: 1 } }) })).json()) as { warning?: string };
    expect(served.warning).toBeUndefined();

    const q = await cli(['queues']);
    expect(q.stdout).toMatch(/│ nobody-home +│ none: jobs wait +│ +2 │/);
    expect(q.stderr).toContain("warning: no agent serves queue 'nobody-home': its 2 job(s) wait");
    const view = (await (await fetch(`${d.url}/api/queues`)).json()) as { queues: Array<{ queue: string; served: boolean }> };
    expect(view.queues.filter((x) => ['record', 'nobody-home'].includes(x.queue)).map((x) => [x.queue, x.served])).toEqual([
      ['nobody-home', false],
      ['record', true],
    ]);
    expect(await d.metrics.metrics()).toMatch(/openclaw_jobs_unserved_enqueued_total\{queue="other"\} 2/);
  }, 120_000);

  it('lists dead jobs and re-drives them', async () => {
    const e = await cli(['jobs', 'enqueue', 'flaky', '--payload', '{"okAt":99}', '--json']);
    const { id } = JSON.parse(e.stdout) as { id: string };
    await waitFor('dead', async () => (await cli(['jobs', 'dead', '--queue', 'flaky'])).stdout.includes(id), 30_000, 300);
    const none = await cli(['jobs', 'redrive']);
    expect(none.code).toBe(2);
    expect((await cli(['jobs', 'redrive', id])).stdout).toBe('Re-drove 1 job(s)\n');
    const missing = await cli(['jobs', 'show', 'no-such-job']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/job 'no-such-job' not found/);
  }, 60_000);
});
