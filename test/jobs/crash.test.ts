// kill -9 of a real, separate daemon process in the middle of a batch of jobs, then a restart: no
// job is lost, none is completed twice (each handler records its job id in agent state in the same
// transaction as the job's completion), and the rest finishes after the restart — SQLite and
// PostgreSQL.
//
// Size: 3,000 jobs (10,000 with OPENCLAW_TEST_FULL=1, test/helpers/scale.ts). The property does not
// depend on the count, only on where the kill lands: once 15 % completed, with up to 2 × 32 jobs
// leased and running and the rest waiting; the test asserts that some job in flight came back
// after the restart (attempts > 1). The time was the count.
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeProject, waitFor } from '../helpers/project.js';
import { daemonUrl, startDaemonProcess } from '../helpers/daemon-process.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { scaled } from '../helpers/scale.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgAvailable = await havePostgres();
const schemas: string[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await dropSchemas(schemas);
});

const startDaemon = (dir: string, configFile: string) => startDaemonProcess(dir, configFile, children);

async function api<T>(url: string, p: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url + p, { ...init, headers: { 'content-type': 'application/json' } });
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

type QueueRow = { queue: string; waiting: number; active: number; completed: number; dead: number };
const queue = async (url: string) => (await api<{ queues: QueueRow[] }>(url, '/api/queues')).queues.find((q) => q.queue === 'record')!;

const backends = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

const N = scaled(10_000, 3_000);

describe.each(backends)(`kill -9 of the daemon during ${N} jobs on %s`, (backend) => {
  it('loses no job, completes none twice, and finishes the rest after the restart', async () => {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      store = { kind: 'postgres', url: PG_URL, schema: uniqueSchema('oc_jobcrash') };
      schemas.push(store.schema);
    }
    const { dir, configFile } = makeProject({
      store,
      // A short lease so the jobs in flight at the kill come back within seconds.
      extra: 'jobs:\n  queues:\n    record:\n      concurrency: 32\n      lease: 2s\n',
      agents: `  worker:\n    source: ${path.join(here, 'fixtures', 'worker.ts')}\n    replicas: 2\n`,
    });

    let child = startDaemon(dir, configFile);
    let url = await daemonUrl(dir, child.pid!);
    // Both replicas (the agent is running once one of them is).
    await waitFor('both worker replicas running', async () => (await api<{ instances: { status: string }[] }>(url, '/api/agents/worker')).instances.filter((i) => i.status === 'running').length === 2, 60_000);
    const ids: string[] = [];
    for (let b = 0; b < N / 1000; b++) {
      const res = await api<{ jobs: Array<{ id: string; created: boolean }> }>(url, '/api/jobs/batch', {
        method: 'POST',
        body: JSON.stringify({ jobs: Array.from({ length: 1000 }, (_, i) => ({ name: 'record', payload: { i: b * 1000 + i } })) }),
      });
      ids.push(...res.jobs.map((j) => j.id));
    }
    expect(new Set(ids).size).toBe(N);
    await waitFor('processing under way', async () => (await queue(url)).completed >= Math.round(N * 0.15), 120_000, 20);

    process.kill(child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));

    child = startDaemon(dir, configFile);
    url = await daemonUrl(dir, child.pid!);
    const done = await waitFor(`all ${N} jobs completed`, async () => {
      const q = await queue(url);
      return q.completed === N ? q : null;
    }, 240_000, 200);
    expect([done.waiting, done.active, done.dead]).toEqual([0, 0, 0]);

    // Exactly once in state: one key per job id, each counted once.
    const state = (await api<{ state: Record<string, number> }>(url, '/api/agents/worker/state')).state;
    const keys = Object.keys(state).filter((k) => k.startsWith('done:'));
    expect(keys.length).toBe(N);
    const twice = keys.filter((k) => state[k] !== 1);
    expect(twice).toEqual([]);
    for (const id of ids) expect(state[`done:${id}`]).toBe(1);
    // Some jobs were in flight at the kill and came back after their lease (attempts = 2).
    const retried = (await api<{ jobs: Array<{ attempts: number }> }>(url, '/api/jobs?queue=record&status=completed&limit=10000')).jobs.filter((j) => j.attempts > 1);
    expect(retried.length).toBeGreaterThan(0);

    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }, 600_000);
});
