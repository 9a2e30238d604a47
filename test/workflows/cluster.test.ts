// Workflow runs across two in-process daemons (nodes) on one PostgreSQL schema: a run belongs to
// the node that started it; a second node booting does not resume it while its owner lives; an
// approval posted to the other node's API is recorded there and continued by the owner; after the
// owner stops, the other node adopts the run on its periodic poll and finishes it exactly once
// (a step that had succeeded does not run again; the step that was running runs once more).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { RunDetail } from '../../src/workflows/routes.js';
import { waitFor } from '../helpers/project.js';
import { PG_URL, dropSchemas, havePostgres, uniqueSchema } from '../helpers/services.js';
import { openStore } from '../../src/store/index.js';
import { clusterStoreModule } from '../../src/cluster/schema.js';
import { WorkflowRepository, type RunRow } from '../../src/workflows/store.js';

const pgAvailable = await havePostgres();
const schema = uniqueSchema('oc_wfc');
const claimSchema = uniqueSchema('oc_wfc');
const daemons: Daemon[] = [];
const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-wfc-'));

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  await dropSchemas([schema, claimSchema]);
  fs.rmSync(shared, { recursive: true, force: true });
});

// `first` and `work` append the node's project dir to a shared log: who ran them, how often.
// `work` sleeps while the file `slow` exists (so it is mid-flight when its node stops).
const WORKFLOWS = `workflows:
  gated:
    steps:
      - { id: gate, type: approval, message: 'Go?' }
      - { id: work, type: shell, needs: gate, command: 'pwd' }
  long:
    steps:
      - { id: first, type: shell, command: 'pwd >> ${shared}/first.log' }
      - { id: work, type: shell, needs: first, command: 'while [ -f ${shared}/slow ]; do sleep 0.05; done; pwd >> ${shared}/work.log' }
`;

async function node(id: string): Promise<{ d: Daemon; dir: string }> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `openclaw-wfc-${id}-`)));
  const file = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(file, `project: wfc\nstore:\n  url: ${PG_URL}\n  schema: ${schema}\napi:\n  port: 0\n  auth: local-trust\ncluster:\n  node_id: ${id}\n  lease: 1500ms\nagents: {}\n${WORKFLOWS}`);
  const d = await Daemon.start(await loadConfig(file));
  daemons.push(d);
  return { d, dir };
}

async function api<T>(d: Daemon, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(d.url + route, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const detail = (d: Daemon, runId: string) => api<RunDetail>(d, 'GET', `/api/workflow-runs/${runId}`);
const finished = (d: Daemon, runId: string) => waitFor(`run ${runId} finished`, async () => ((await detail(d, runId)).run.status === 'running' ? null : detail(d, runId)), 30_000, 50);
const lines = (f: string) => (fs.existsSync(path.join(shared, f)) ? fs.readFileSync(path.join(shared, f), 'utf8').trim().split('\n') : []);

describe.runIf(pgAvailable)('workflow runs on two nodes', () => {
  const db = new pg.Pool({ connectionString: PG_URL, max: 1 });
  afterAll(() => db.end());
  const owner = async (runId: string) => (await db.query(`SELECT owner FROM ${schema}.workflow_runs WHERE id = $1`, [runId])).rows[0]?.owner as string | undefined;

  let a: { d: Daemon; dir: string };
  let b: { d: Daemon; dir: string };

  it('a run stays with its live owner when another node boots; an approval posted to the other node is continued by the owner', async () => {
    a = await node('wfc-a');
    const { runId } = await api<{ runId: string }>(a.d, 'POST', '/api/workflows/gated/runs', {});
    await waitFor('gate waiting', async () => (await detail(a.d, runId)).steps.find((s) => s.key === 'gate')?.status === 'waiting');
    expect(await owner(runId)).toBe('wfc-a');

    // B's boot resumed what it may (before Daemon.start returned): not A's run, A is alive.
    b = await node('wfc-b');
    expect(await owner(runId)).toBe('wfc-a');

    // Approved through B's API: recorded, but B does not execute the next step; A picks it up.
    const decided = await api<{ status: string }>(b.d, 'POST', `/api/workflow-runs/${runId}/steps/gate/approve`, { comment: 'via b' });
    expect(decided.status).toBe('succeeded');
    const done = await finished(b.d, runId);
    expect(done.run.status).toBe('succeeded');
    expect((done.steps.find((s) => s.key === 'work')!.output as { stdout: string }).stdout.trim()).toBe(a.dir);
    expect(await owner(runId)).toBe('wfc-a');
  }, 60_000);

  it('after its owner stops, the other node adopts the run and finishes it exactly once', async () => {
    fs.writeFileSync(path.join(shared, 'slow'), '');
    const { runId } = await api<{ runId: string }>(a.d, 'POST', '/api/workflows/long/runs', {});
    await waitFor('work running on A', async () => (await detail(a.d, runId)).steps.find((s) => s.key === 'work')?.status === 'running');
    await a.d.shutdown('test: owner gone');
    daemons.splice(daemons.indexOf(a.d), 1);

    await waitFor('B adopted the run', async () => (await owner(runId)) === 'wfc-b', 30_000, 50);
    fs.rmSync(path.join(shared, 'slow'));
    const done = await finished(b.d, runId);
    expect(done.run.status).toBe('succeeded');
    // `first` succeeded on A before it stopped and did not run again; `work` ran to its end once, on B.
    expect(lines('first.log')).toEqual([a.dir]);
    expect(lines('work.log')).toEqual([b.dir]);
    expect(done.steps.find((s) => s.key === 'work')!.attempt).toBe(2);
  }, 60_000);

  it("two nodes claiming at once: each dead node's run goes to exactly one of them; a live node's run and finished runs to none", async () => {
    const stores = [await openStore({ kind: 'postgres', url: PG_URL, schema: claimSchema }), await openStore({ kind: 'postgres', url: PG_URL, schema: claimSchema })];
    try {
      await stores[0]!.migrateModule(clusterStoreModule);
      const [x, y] = [await WorkflowRepository.open(stores[0]!), await WorkflowRepository.open(stores[1]!)];
      const now = Date.now();
      const node = (id: string, expiresAt: number) =>
        db.query(`INSERT INTO ${claimSchema}.cluster_nodes (node_id, weight, boot_id, started_at, heartbeat_at, expires_at) VALUES ($1, 1, 'b', $2, $2, $3)`, [id, now, expiresAt]);
      await node('x', now + 60_000);
      await node('y', now + 60_000);
      await node('live', now + 60_000);
      await node('expired', now - 1);
      const run = (id: string, owner: string | null, status: RunRow['status'] = 'running'): RunRow => ({
        id, workflow: 'w', status, trigger: { type: 'manual' }, input: {}, definition: {}, error: null, parentRun: null, parentStep: null, dedupeKey: null, createdAt: now, finishedAt: null, updatedAt: now, owner,
      });
      const dead = Array.from({ length: 20 }, (_, i) => run(`d${i}`, i % 2 ? 'expired' : 'gone'));
      for (const r of [...dead, run('l', 'live'), run('f', 'gone', 'succeeded'), run('nobody', null)]) await x.createRun(r);
      const [cx, cy] = await Promise.all([x.claimRuns('x', false), y.claimRuns('y', false)]);
      expect([...cx, ...cy].sort()).toEqual([...dead.map((r) => r.id), 'nobody'].sort());
      expect((await x.getRun('l'))!.owner).toBe('live');
      expect((await x.getRun('f'))!.owner).toBe('gone');
      // Claimed runs now belong to live nodes: a second round claims nothing.
      expect([...(await x.claimRuns('x', false)), ...(await y.claimRuns('y', false))]).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
