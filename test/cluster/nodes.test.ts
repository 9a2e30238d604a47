// Two real daemon processes on one PostgreSQL schema: durable jobs enqueued on the node that does
// not run their handler run on the one that does; lifecycle actions asked on one node act on the
// instances of the other; kill -9 of the handler's node: the jobs it had claimed come back at their
// job lease's end and run once on the other node.
import { describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema } from '../helpers/services.js';
import { daemonUrl, startDaemonProcess } from '../helpers/daemon-process.js';
import { api, clusterHarness, here } from './fixtures/harness.js';

const pgAvailable = await havePostgres();
const { children, schemas } = clusterHarness();

interface Node {
  id: string;
  child: ChildProcess;
  url: string;
}

type Job = { id: string; status: string; attempts: number };

describe.runIf(pgAvailable)('two daemons on one PostgreSQL: jobs and lifecycle across nodes', () => {
  const schema = uniqueSchema('oc_nodes');
  schemas.push(schema);
  const nodes: Node[] = [];
  let owner: Node;
  let other: Node;

  const instance = async (via: Node, agent: string) =>
    (await api<{ instances: Array<{ instanceId: string; status: string; node: string | null }> }>(via.url, `/api/agents/${agent}`)).instances[0]!;
  const jobs = async (via: Node) => (await api<{ jobs: Job[] }>(via.url, '/api/jobs?queue=work&limit=1000')).jobs;
  const state = async (via: Node) => (await api<{ state: Record<string, unknown> }>(via.url, '/api/agents/jobber/state')).state;
  const enqueue = async (via: Node, n: number) =>
    (await api<{ jobs: Array<{ id: string }> }>(via.url, '/api/jobs/batch', { method: 'POST', body: JSON.stringify({ jobs: Array.from({ length: n }, (_, i) => ({ name: 'work', payload: { i } })) }) })).jobs.map((j) => j.id);

  it('a job enqueued on the node without its handler runs on the node that has it', async () => {
    for (const id of ['n1', 'n2']) {
      const { dir, configFile } = makeProject({
        store: { kind: 'postgres', url: PG_URL, schema },
        extra: `cluster:\n  node_id: ${id}\n  lease: 2000ms\n`,
        agents: `  jobber:\n    source: ${here('slow-job.ts')}\n    config: { node: ${id} }\n  idle:\n    source: ${fixture('counter.ts')}\n`,
      });
      const child = startDaemonProcess(dir, configFile, children);
      nodes.push({ id, child, url: await daemonUrl(dir, child.pid!) });
    }
    // Settled first: the node that booted first took both instances; the rebalance hands one over.
    await waitFor('one instance per node', async () => {
      const f = (await api<{ nodes: Array<{ alive: boolean; leases: number }> }>(nodes[0]!.url, '/api/nodes')).nodes.filter((n) => n.alive);
      return f.length === 2 && f.every((n) => n.leases === 1);
    }, 60_000, 100);
    const placed = await waitFor('jobber running on one node', async () => {
      for (const n of nodes) {
        const i = await instance(n, 'jobber');
        if (i.node === n.id && i.status === 'running') return n;
      }
      return null;
    }, 60_000, 100);
    owner = placed;
    other = nodes.find((n) => n !== owner)!;
    const ids = await enqueue(other, 12);
    await waitFor('12 jobs completed', async () => (await jobs(other)).filter((j) => j.status === 'completed').length === 12, 60_000, 100);
    const st = await state(other);
    for (const id of ids) {
      expect(st[`done:${id}`], id).toBe(1);
      expect(st[`node:${id}`], id).toBe(owner.id);
    }
  }, 120_000);

  it('pause, resume, stop and start asked on one node act on the instance running on the other', async () => {
    const status = (want: string) => waitFor(`jobber ${want} on ${owner.id}`, async () => (await instance(owner, 'jobber')).status === want, 30_000, 50);
    await api(other.url, '/api/agents/jobber/pause', { method: 'POST', body: '{}' });
    await status('paused');
    await api(other.url, '/api/agents/jobber/resume', { method: 'POST', body: '{}' });
    await status('running');
    await api(other.url, '/api/agents/jobber/stop', { method: 'POST', body: '{}' });
    await status('stopped');
    await api(other.url, '/api/agents/jobber/start', { method: 'POST', body: '{}' });
    await status('running');
    // The asked node runs no instance of it and still holds none.
    expect((await instance(other, 'jobber')).node).toBe(owner.id);
  }, 60_000);

  it('kill -9 of the handler node: its claimed jobs come back after their lease and run once on the other node', async () => {
    const before = (await jobs(other)).length;
    const ids = await enqueue(other, 16);
    await waitFor('jobs claimed on the owner', async () => (await jobs(other)).some((j) => j.status === 'active'), 30_000, 20);
    const exited = new Promise((r) => owner.child.once('exit', r));
    owner.child.kill('SIGKILL');
    await exited;
    await waitFor(`all ${before + 16} jobs completed`, async () => (await jobs(other)).filter((j) => j.status === 'completed').length === before + 16, 60_000, 100);
    const st = await state(other);
    for (const id of ids) expect(st[`done:${id}`], id).toBe(1);
    // Some ran on the surviving node, and some of those had been claimed by the dead one first.
    expect(ids.filter((id) => st[`node:${id}`] === other.id).length).toBeGreaterThan(0);
    const all = await jobs(other);
    expect(all.filter((j) => ids.includes(j.id) && j.attempts > 1).length).toBeGreaterThan(0);
  }, 120_000);
});
