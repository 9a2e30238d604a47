// The job queue in a real daemon (in process): @job handlers in an agent's worker, enqueues from
// agents (committed with the run), the API, retries, timeouts, a stalled handler whose lease
// expired, queue stats and metrics — on SQLite and PostgreSQL.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { JobsModule } from '../../src/jobs/module.js';
import type { JobRecord } from '../../src/jobs/types.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgAvailable = await havePostgres();
const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];

afterAll(() => dropSchemas(schemas));

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

async function api<T>(d: Daemon, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(d.url + p, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

describe.each(backends)('jobs in the daemon on %s', (backend) => {
  async function boot(extra = '', opts: { heartbeat?: boolean } = {}) {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      const schema = uniqueSchema('oc_jobsd');
      schemas.push(schema);
      store = { kind: 'postgres', url: PG_URL, schema };
    }
    const { configFile } = makeProject({ store, extra, agents: `  worker:\n    source: ${path.join(here, 'fixtures', 'worker.ts')}\n` });
    const mod = new JobsModule({ pollMs: 1000, ...opts });
    const d = await Daemon.start(await loadConfig(configFile), { modules: [mod] });
    daemons.push(d);
    await waitFor('worker running', async () => (await d.getAgent('worker')).status === 'running');
    return { d, svc: mod.service! };
  }

  const job = async (d: Daemon, id: string) => (await api<JobRecord>(d, 'GET', `/api/jobs/${id}`)).body;

  it('runs @job handlers from API enqueues; state and completion commit together; result stored', async () => {
    const { d } = await boot();
    const one = await api<{ id: string; created: boolean }>(d, 'POST', '/api/jobs', { name: 'record', payload: { i: 1 } });
    expect(one.status).toBe(201);
    const batch = await api<{ jobs: Array<{ id: string }> }>(d, 'POST', '/api/jobs/batch', { jobs: Array.from({ length: 20 }, (_, i) => ({ name: 'record', payload: { i } })) });
    const ids = [one.body.id, ...batch.body.jobs.map((j) => j.id)];
    await waitFor('21 completed', async () => (await api<{ jobs: unknown[] }>(d, 'GET', '/api/jobs?queue=record&status=completed&limit=100')).body.jobs.length === 21);
    const state = (await d.getState('worker')).state;
    for (const id of ids) expect(state[`done:${id}`]).toBe(1);
    const j = await job(d, one.body.id);
    expect([j.status, j.result, j.attempts]).toEqual(['completed', { i: 1 }, 1]);
    // Each attempt is a run with the job's run id; the handler's logs carry it.
    const runs = await d.listRuns('worker', { limit: 100 });
    expect(runs.find((r) => r.id === j.runId)).toMatchObject({ trigger: 'job', status: 'succeeded' });
    // static jobs and options
    const q = await api<{ queues: Array<{ queue: string; agent: string; method: string; completed: number; policy: { concurrency: number } }> }>(d, 'GET', '/api/queues');
    expect(q.body.queues.find((x) => x.queue === 'record')).toMatchObject({ agent: 'worker', method: 'record', completed: 21, policy: { concurrency: 8 } });
    expect(q.body.queues.find((x) => x.queue === 'tuned')).toMatchObject({ method: 'plain', policy: { concurrency: 2 } });
    const metrics = await d.metrics.metrics();
    expect(metrics).toMatch(/openclaw_jobs_total\{queue="record",status="completed"\} 21/);
    expect(metrics).toMatch(/openclaw_job_duration_seconds_count\{queue="record"\} 21/);
    expect(metrics).toMatch(/openclaw_jobs_pending\{queue="record"\} \d+/);
  });

  it("an agent's enqueue commits with its run — and not at all if the run fails", async () => {
    const { d } = await boot();
    await d.trigger('worker', { enqueue: [{ name: 'record', payload: { i: 7 } }, { name: 'plain', payload: 'x', opts: { priority: 5 } }] });
    await waitFor('kicked', async () => (await d.getState('worker')).state.kicked === 1);
    await waitFor('both completed', async () => (await api<{ jobs: unknown[] }>(d, 'GET', '/api/jobs?status=completed')).body.jobs.length === 2);
    await d.trigger('worker', { enqueue: [{ name: 'record', payload: { i: 8 } }], fail: true });
    // A failed run commits nothing, so once it is recorded its enqueue can never appear: no wait needed.
    await waitFor('the failed run recorded', async () => (await d.listRuns('worker')).some((r) => r.status === 'failed'));
    // A later run's job completing proves the failed run's turn is over: its enqueue never committed.
    // (The failed run replaced its instance: wait for the new one.)
    await waitFor('worker restarted and running', async () => (await d.getAgent('worker')).instances.some((i) => i.status === 'running' && i.restarts >= 1));
    await d.trigger('worker', { enqueue: [{ name: 'record', payload: { i: 9 } }] });
    const jobs = await waitFor('the later job completed', async () => {
      const list = (await api<{ jobs: Array<{ payload: { i: number }; status: string }> }>(d, 'GET', '/api/jobs?queue=record')).body.jobs;
      return list.some((j) => j.payload.i === 9 && j.status === 'completed') ? list : null;
    });
    expect(jobs.map((j) => j.payload.i).sort()).toEqual([7, 9]);
  });

  it('retries with backoff then succeeds; exhausts attempts into the dead-letter queue; re-drive runs it again', async () => {
    const { d } = await boot();
    const ok = (await api<{ id: string }>(d, 'POST', '/api/jobs', { name: 'flaky', payload: { okAt: 3 } })).body.id;
    const dead = (await api<{ id: string }>(d, 'POST', '/api/jobs', { name: 'flaky', payload: { okAt: 99 } })).body.id;
    await waitFor('ok completed', async () => (await job(d, ok)).status === 'completed');
    expect((await job(d, ok)).result).toBe(3);
    await waitFor('dead', async () => (await job(d, dead)).status === 'dead');
    const dl = await api<{ jobs: JobRecord[] }>(d, 'GET', '/api/jobs/dead?queue=flaky');
    expect(dl.body.jobs.map((j) => [j.id, j.attempts, j.error])).toEqual([[dead, 3, 'flaky failure on attempt 3']]);
    // State written by failed attempts never committed.
    const s = (await d.getState('worker')).state;
    expect(Object.keys(s).filter((k) => k.startsWith(`flaky:${dead}`))).toEqual([]);
    expect(Object.keys(s).filter((k) => k.startsWith(`flaky:${ok}`))).toEqual([`flaky:${ok}:3`]);
    const rd = await api<{ redriven: number }>(d, 'POST', '/api/jobs/dead/redrive', { ids: [dead] });
    expect(rd.body.redriven).toBe(1);
    await waitFor('dead again after 3 more attempts', async () => {
      const j = await job(d, dead);
      return j.status === 'dead' && j.attempts === 3 && j.updatedAt > dl.body.jobs[0]!.updatedAt;
    });
    const metrics = await d.metrics.metrics();
    expect(metrics).toMatch(/openclaw_jobs_total\{queue="flaky",status="dead"\} 2/);
    // UnrecoverableJobError skips the remaining attempts.
    const bad = (await api<{ id: string }>(d, 'POST', '/api/jobs', { name: 'flaky', payload: { okAt: -1 } })).body.id;
    await waitFor('dead at once', async () => (await job(d, bad)).status === 'dead');
    expect([(await job(d, bad)).attempts, (await job(d, bad)).error]).toEqual([1, 'bad input: okAt < 0']);
  });

  it("a per-job timeout fires the handler's signal and fails the attempt", async () => {
    const { d } = await boot();
    const id = (await api<{ id: string }>(d, 'POST', '/api/jobs', { name: 'slow' })).body.id;
    await waitFor('dead after its only attempt timed out', async () => (await job(d, id)).status === 'dead');
    expect((await job(d, id)).error).toMatch(/timed out after 300 ms/);
    expect((await d.getState('worker')).state[`slow:${id}`]).toBeUndefined();
  });

  it('a stalled handler whose lease expired cannot complete; the job completes elsewhere exactly once in state', async () => {
    // Renewals frozen: the first attempt's lease (800 ms) expires while it sleeps 2.5 s.
    const { d } = await boot('', { heartbeat: false });
    const id = (await api<{ id: string }>(d, 'POST', '/api/jobs', { name: 'stall' })).body.id;
    await waitFor('completed by a later attempt', async () => (await job(d, id)).status === 'completed');
    const done = await job(d, id);
    expect(done.attempts).toBeGreaterThanOrEqual(2);
    // Let the stalled first attempt finish and try to commit: it must be refused. (Its first
    // commit meets a state conflict — attempt 2 changed the key it read — so it runs once more,
    // and that commit is refused by the lease check.)
    await waitFor('the stalled attempt refused', async () => /openclaw_jobs_total\{queue="stall",status="lease_lost"\} 1/.test(await d.metrics.metrics()), 20_000);
    const s = (await d.getState('worker')).state;
    expect(s[`stall:${id}`]).toBe(1);
    expect(s[`stall_attempt:${id}:1`]).toBeUndefined();
    expect(s[`stall_attempt:${id}:${done.attempts}`]).toBe(true);
    expect((await job(d, id)).result).toBe(done.attempts);
  });

  it('config wins over decorator options; bad input and unknown jobs get clear 4xx', async () => {
    const { d } = await boot('jobs:\n  concurrency: 4\n  queues:\n    record:\n      concurrency: 2\n      rate_limit: 50/s\n');
    const q = await api<{ queues: Array<{ queue: string; policy: { concurrency: number; rateLimit: string } }> }>(d, 'GET', '/api/queues');
    expect(q.body.queues.find((x) => x.queue === 'record')?.policy).toMatchObject({ concurrency: 2, rateLimit: '50/s' });
    const bad = await api<{ error: { code: string; message: string } }>(d, 'POST', '/api/jobs', { name: 'record', opts: { priority: 'high' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/opts.priority/);
    const mode = await api<{ error: { code: string; message: string } }>(d, 'POST', '/api/jobs', { name: 'record', opts: { mode: 'debounce' } });
    expect(mode.status).toBe(400);
    expect(mode.body.error.message).toMatch(/needs a key/);
    expect((await api(d, 'GET', '/api/jobs/nope')).status).toBe(404);
    expect((await api(d, 'POST', '/api/jobs/dead/redrive', {})).status).toBe(400);
    // Cancel a delayed job: it never runs.
    const later = (await api<{ id: string }>(d, 'POST', '/api/jobs', { name: 'record', opts: { delay: '1h' } })).body.id;
    expect((await api<JobRecord>(d, 'POST', `/api/jobs/${later}/cancel`)).body.status).toBe('cancelled');
  });
});
