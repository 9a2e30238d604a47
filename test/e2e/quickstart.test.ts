// The quickstart, as the README tells a user to run it, from a copy in a temp dir (so no
// .openclaw state lands in the repository): `openclaw daemon start --project examples/quickstart`,
// then status, the monitor's findings, the analyzer's baselines, a report, and `daemon stop`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/project.js';
import type { AgentView } from '../../src/daemon/control.js';
import { alive, apiGet, cleanup, descendants, freePort, openclaw, openclawJson, openclawOk, readDaemonJson, REPO, tempDir, trackPid, trackProject, waitGone } from './helpers.js';

afterAll(cleanup);

const SOURCE = path.join(REPO, 'examples', 'quickstart');

describe('examples/quickstart', () => {
  it('runs every agent: the monitor finds the healthy and the broken target, the analyzer keeps baselines, the reporter reports', { timeout: 120_000 }, async () => {
    const repoHadState = fs.existsSync(path.join(SOURCE, '.openclaw'));
    const root = tempDir();
    // Same layout as the repository, so the README's command line works as written.
    const dir = trackProject(path.join(root, 'examples', 'quickstart'));
    fs.cpSync(SOURCE, dir, { recursive: true, filter: (src) => path.basename(src) !== '.openclaw' });
    const port = await freePort();
    const env = { QUICKSTART_PORT: String(port) };
    const opts = { cwd: root, env };
    const project = ['--project', 'examples/quickstart'];

    // --port 0: the quickstart's control API defaults to 8400, and tests run side by side.
    const start = await openclawOk(['daemon', 'start', ...project, '--port', '0'], opts);
    expect(start.stdout).toMatch(/^Daemon started \(pid \d+\)/);
    const info = readDaemonJson(dir)!;
    trackPid(info.pid);

    const names = ['targets', 'monitor', 'collector', 'analyzer', 'alerter', 'reporter'];
    await waitFor('every agent running', async () => {
      const { agents } = await apiGet<{ agents: AgentView[] }>(dir, '/api/agents');
      for (const a of agents) for (const i of a.instances) trackPid(i.pid);
      return agents.length === names.length && agents.every((a) => a.status === 'running');
    });
    const status = await openclawJson<{ agents: AgentView[] }>(['status', ...project], opts);
    expect(status.agents.map((a) => a.name)).toEqual(names);
    expect(status.agents.every((a) => a.status === 'running')).toBe(true);
    const table = (await openclawOk(['status', ...project], opts)).stdout;
    for (const n of names) expect(table).toMatch(new RegExp(`│ ${n} +│ running +│`));

    // The monitor's first check (every 10 s): one target healthy, one failing, an alert sent.
    const monitorLogs = async () => (await apiGet<{ lines: Array<{ msg: string }> }>(dir, '/api/agents/monitor/logs')).lines.map((l) => l.msg);
    await waitFor('the monitor checked both targets', async () => (await monitorLogs()).some((m) => /^check #\d+: 1\/2 healthy, 1 open incident/.test(m)), 45_000);
    const logs = (await openclawOk(['logs', 'monitor', ...project], opts)).stdout;
    expect(logs).toMatch(/WARNING +\[monitor\] broken-api is DOWN: HTTP 503/);
    expect(logs).toMatch(/\[monitor\] check #1: 1\/2 healthy, 1 open incident\(s\)/);
    const monitor = JSON.parse((await openclawOk(['state', 'get', 'monitor', ...project], opts)).stdout) as {
      incidents: Record<string, { reason: string }>;
      last_check: { results: Record<string, { status: string; http_status: number }> };
    };
    expect(monitor.last_check.results['healthy-api']).toMatchObject({ status: 'healthy', http_status: 200 });
    expect(monitor.last_check.results['broken-api']).toMatchObject({ status: 'unhealthy', http_status: 503 });
    expect(Object.keys(monitor.incidents)).toEqual(['broken-api']);
    // The alert reached the sink the `targets` command agent serves, which printed it.
    await waitFor('the sink printed the alert', async () => /ALERT #1 received: \[monitor\] .*broken-api is DOWN/.test((await openclawOk(['logs', 'targets', ...project], opts)).stdout));

    // collector → analyzer: baselines per service and metric, in versioned state.
    const analyzer = await waitFor('analyzer baselines', async () => {
      const s = (await apiGet<{ state: { baselines?: Record<string, Record<string, { n: number }>>; batches_analyzed?: number } }>(dir, '/api/agents/analyzer/state')).state;
      return s.baselines && Object.keys(s.baselines).length === 3 ? s : null;
    });
    expect(Object.keys(analyzer.baselines!).sort()).toEqual(['checkout', 'payments', 'search']);
    expect(analyzer.baselines!.checkout.latency_ms.n).toBeGreaterThanOrEqual(1);
    const versions = await openclawJson<{ versions: Array<{ version: number }> }>(['state', 'list', 'analyzer', ...project], opts);
    expect(versions.versions.length).toBeGreaterThanOrEqual(1);

    // The reporter runs every 30 s; the README's `openclaw trigger reporter` gives a report now.
    // The schedule may have fired a report already (before the monitor's check, even): wait for
    // the one after the trigger.
    const reporterState = async () => (await apiGet<{ state: { reports?: number; last_report?: Record<string, unknown> } }>(dir, '/api/agents/reporter/state')).state;
    const reportsBefore = (await reporterState()).reports ?? 0;
    expect((await openclawOk(['trigger', 'reporter', ...project], opts)).stdout).toMatch(/^Triggered reporter/);
    const reporter = await waitFor('a report', async () => {
      const s = await reporterState();
      return (s.reports ?? 0) > reportsBefore ? s : null;
    });
    expect(reporter.last_report).toMatchObject({ targets_healthy: '1/2', open_incidents: ['broken-api'] });
    expect((reporter.last_report!.checks as number) >= 1).toBe(true);
    const reportLine = new RegExp(`\\[reporter\\] report #${reporter.reports}: \\d+ checks, targets 1/2 healthy, open incidents \\[broken-api\\]`);
    expect((await openclawOk(['logs', 'reporter', ...project], opts)).stdout).toMatch(reportLine);

    // daemon stop: everything it started is gone, daemon.json too.
    const pids = [...descendants(info.pid), ...(await apiGet<{ agents: AgentView[] }>(dir, '/api/agents')).agents.flatMap((a) => a.instances.map((i) => i.pid!))];
    for (const p of pids) trackPid(p);
    expect((await openclawOk(['daemon', 'stop', ...project], opts)).stdout).toBe('Daemon stopped\n');
    expect(alive(info.pid)).toBe(false);
    for (const p of pids) await waitGone(p, 'quickstart process');
    expect(readDaemonJson(dir)).toBeNull();
    const after = await openclaw(['daemon', 'status', ...project], opts);
    expect(after.stdout).toMatch(/Daemon not running/);

    // Nothing was written into the repository's copy.
    if (!repoHadState) expect(fs.existsSync(path.join(SOURCE, '.openclaw'))).toBe(false);
  });
});
