// Three real daemon processes on one PostgreSQL schema, each on its own port, sharing the agents by
// fenced leases (src/cluster): placement spreads them; kill -9 of a node moves its instances and
// loses nothing acknowledged; a node SIGSTOPped past its lease commits nothing when it wakes (its
// attempts are fenced); a cron agent every second keeps one fire per time through leader changes.
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema } from '../helpers/services.js';
import { daemonUrl, startDaemonProcess } from '../helpers/daemon-process.js';
import { api, clusterHarness, here } from './fixtures/harness.js';

const pgAvailable = await havePostgres();
const { children, schemas } = clusterHarness();

interface NodeView {
  nodeId: string;
  alive: boolean;
  leases: number;
  instances: string[];
}

interface Node {
  id: string;
  dir: string;
  configFile: string;
  child: ChildProcess;
  url: string;
}

// 2 s: short enough to keep the file fast, long enough that a node on a loaded CI machine renews in time.
const LEASE_MS = 2000;

describe.runIf(pgAvailable)('three daemons on one PostgreSQL', () => {
  const schema = uniqueSchema('oc_fleet');
  schemas.push(schema);
  const nodes: Node[] = [];
  const db = new pg.Pool({ connectionString: PG_URL, max: 2 });
  afterAll(() => db.end());

  const agents = (node: string) =>
    `  cron:\n    source: ${fixture('ticker.ts')}\n    schedule: every 1s\n    missed_runs: run_all\n    overlap: allow\n` +
    `  slow:\n    source: ${here('slow-tick.ts')}\n    schedule: every 1s\n    missed_runs: run_all\n    overlap: allow\n    config: { ms: 1200, node: ${node} }\n` +
    `  worker:\n    source: ${here('count-job.ts')}\n    replicas: 2\n` +
    `  idle:\n    source: ${fixture('counter.ts')}\n    replicas: 2\n`;

  async function start(n: { id: string; dir: string; configFile: string }): Promise<Node> {
    const child = startDaemonProcess(n.dir, n.configFile, children);
    const url = await daemonUrl(n.dir, child.pid!);
    return { ...n, child, url };
  }

  async function kill(n: Node, signal: NodeJS.Signals): Promise<void> {
    const exited = new Promise((r) => n.child.once('exit', r));
    n.child.kill(signal);
    await exited;
  }

  const paused = new Set<Node>();
  const live = () => nodes.find((n) => n.child.exitCode === null && n.child.signalCode === null && !paused.has(n))!;
  const fleet = async (via: Node = live()) => (await api<{ nodes: NodeView[] }>(via.url, '/api/nodes')).nodes.filter((n) => n.alive);
  /** Waits until the live nodes hold every one of the 6 instances, `per` each. */
  const spread = (per: number[], via?: Node) =>
    waitFor(`instances spread ${per.join('/')}`, async () => {
      const f = await fleet(via);
      const counts = f.map((n) => n.leases).sort();
      return JSON.stringify(counts) === JSON.stringify([...per].sort()) ? f : null;
    }, 60_000, 100);
  const ownerOf = async (instance: string) => (await fleet()).find((n) => n.instances.includes(instance))?.nodeId ?? null;
  const metric = async (n: Node, result: string) => {
    const text = await (await fetch(`${n.url}/api/metrics`)).text();
    const m = new RegExp(`^openclaw_cluster_commits_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const state = async (agent: string) => (await api<{ state: Record<string, unknown> }>(live().url, `/api/agents/${agent}/state`)).state;

  it('spreads the agent instances over the three daemons, two each', async () => {
    for (const id of ['n1', 'n2', 'n3']) {
      const { dir, configFile } = makeProject({
        store: { kind: 'postgres', url: PG_URL, schema },
        extra: `cluster:\n  node_id: ${id}\n  lease: ${LEASE_MS}ms\n`,
        agents: agents(id),
      });
      nodes.push(await start({ id, dir, configFile }));
    }
    const f = await spread([2, 2, 2]);
    expect(f.map((n) => n.nodeId).sort()).toEqual(['n1', 'n2', 'n3']);
    // Every node's API shows where each instance runs.
    const view = await api<{ agents: Array<{ name: string; instances: Array<{ instanceId: string; node: string | null }> }> }>(nodes[0]!.url, '/api/agents');
    const placed = view.agents.flatMap((a) => a.instances.map((i) => i.node));
    expect(placed.filter((x) => x !== null)).toHaveLength(6);
    await waitFor('cron runs', async () => ((await state('cron')).runs as number) >= 2, 30_000, 200);
  }, 120_000);

  it('kill -9 of a node: its instances run elsewhere and every acknowledged event counts once', async () => {
    const N = 40;
    for (let i = 0; i < N; i++) await api(nodes[i % 3]!.url, '/api/events', { method: 'POST', body: JSON.stringify({ name: 'job', id: `job-${i}` }) });
    const victimId = (await ownerOf('worker#0'))!;
    const victim = nodes.find((n) => n.id === victimId)!;
    await kill(victim, 'SIGKILL');
    const others = nodes.filter((n) => n !== victim);
    await spread([3, 3], others[0]);
    const s = await waitFor('every job counted', async () => {
      const st = await state('worker');
      return st.count === N ? st : null;
      // A delivery claimed by a node whose instance then moved comes back at its lease's end (60 s) at worst.
    }, 90_000, 100);
    for (let i = 0; i < N; i++) expect(s[`seen:job-${i}`], `job-${i}`).toBe(1);
    // The node comes back (same node id): the fleet rebalances to two each, one hand-over at a time.
    nodes[nodes.indexOf(victim)] = await start(victim);
    await spread([2, 2, 2]);
  }, 180_000);

  it('SIGSTOP of an owner for twice the lease, then SIGCONT: every write it attempts is refused', async () => {
    const victimId = (await ownerOf('slow#0'))!;
    const victim = nodes.find((n) => n.id === victimId)!;
    const fencedBefore = await metric(victim, 'fenced');
    // Stop it while it runs a fire: a claimed fire of its own that has not committed yet.
    await waitFor('a fire in flight on the owner', async () => {
      const r = await db.query(`SELECT 1 FROM "${schema}".schedule_fires WHERE agent = 'slow' AND owner = $1`, [victimId]);
      return r.rowCount! > 0;
    }, 30_000, 20);
    victim.child.kill('SIGSTOP');
    paused.add(victim);
    const others = nodes.filter((n) => n !== victim);
    // The others take its instances once its leases expire …
    await waitFor('slow#0 taken over', async () => {
      const o = await ownerOf('slow#0');
      return o !== null && o !== victimId;
    }, 30_000, 50);
    await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
    victim.child.kill('SIGCONT');
    paused.delete(victim);
    // … and it wakes up: its runs in flight try to commit and are fenced.
    const fenced = await waitFor('fenced commit attempts', async () => {
      const n = (await metric(victim, 'fenced')) - fencedBefore;
      return n > 0 ? n : null;
    }, 30_000, 100);
    expect(fenced).toBeGreaterThan(0);
    // Ground truth: a run counts itself and writes its fire key in one commit, so runs equals the
    // number of fire keys — unless a stale commit was accepted (it would count its fire twice).
    const st = await state('slow');
    const slowRuns = (await api<{ runs: Array<{ id: string; scheduledAt: number | null; status: string; instance: string | null }> }>(live().url, '/api/agents/slow/runs?limit=10000')).runs;
    const ok = slowRuns.filter((r) => r.status === 'succeeded').map((r) => r.scheduledAt);
    expect(ok.length - new Set(ok).size, 'succeeded runs of one fire time').toBe(0);
    expect(st.runs, JSON.stringify({ keys: Object.keys(st).filter((k) => k.startsWith('fire:')).sort(), runs: slowRuns.slice(0, 12) })).toBe(Object.keys(st).filter((k) => k.startsWith('fire:')).length);
    expect(others.length).toBe(2);
    await spread([2, 2, 2]);
  }, 120_000);

  it('a cron agent every second: one fire per time through five leader changes', async () => {
    for (let change = 0; change < 5; change++) {
      const ownerId = (await waitFor('cron placed', () => ownerOf('cron#0'), 30_000, 50))!;
      const owner = nodes.find((n) => n.id === ownerId)!;
      // Alternate a crash (kill -9) and a drain (SIGTERM hands the lease over before exiting).
      await kill(owner, change % 2 === 0 ? 'SIGKILL' : 'SIGTERM');
      await waitFor('cron moved', async () => {
        const o = await ownerOf('cron#0');
        return o !== null && o !== ownerId;
      }, 30_000, 50);
      nodes[nodes.indexOf(owner)] = await start(owner);
    }
    await spread([2, 2, 2]);
    const before = ((await state('cron')).runs as number) ?? 0;
    await waitFor('cron runs on', async () => ((await state('cron')).runs as number) >= before + 2, 30_000, 100);
    const s1 = (await state('cron')).runs as number;
    const runs = (await api<{ runs: Array<{ scheduledAt: number | null; status: string; trigger: string }> }>(live().url, '/api/agents/cron/runs?limit=10000')).runs.filter(
      (r) => r.trigger === 'schedule',
    );
    const s2 = (await state('cron')).runs as number;
    const times = runs.map((r) => r.scheduledAt!).sort((a, b) => a - b);
    // No duplicate: one record per fire time.
    expect(new Set(times).size).toBe(times.length);
    // No gap: every second from the first fire to the last is accounted for (run, or missed by policy).
    const gaps = times.slice(1).map((t, i) => t - times[i]!).filter((d) => d !== 1000);
    expect(gaps).toEqual([]);
    // Each succeeded run committed its increment exactly once (the record commits with it).
    const ran = runs.filter((r) => r.status === 'succeeded').length;
    expect(ran).toBeGreaterThanOrEqual(s1);
    expect(ran).toBeLessThanOrEqual(s2);
  }, 300_000);
});
