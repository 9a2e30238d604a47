// The quickstart running as a user starts it (`openclaw daemon start`), scraped like Prometheus
// would: `promtool check metrics` finds nothing to complain about and every metric of seed 003
// §9 is there, with samples for the agents that ran.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/project.js';
import type { AgentView } from '../../src/daemon/control.js';
import { apiGet, cleanup, freePort, openclawOk, readDaemonJson, REPO, tempDir, trackPid, trackProject } from '../e2e/helpers.js';
import { checkMetrics, EXTRA_METRICS, runPromtool, sample, SEED_METRICS, types } from './promtool.js';

afterAll(cleanup);

describe('metrics of the running quickstart', () => {
  it('are clean for promtool and name every seed 003 metric', { timeout: 120_000 }, async () => {
    const root = tempDir();
    const dir = trackProject(path.join(root, 'examples', 'quickstart'));
    fs.cpSync(path.join(REPO, 'examples', 'quickstart'), dir, { recursive: true, filter: (src) => path.basename(src) !== '.openclaw' });
    const opts = { cwd: root, env: { QUICKSTART_PORT: String(await freePort()) } };
    const project = ['--project', 'examples/quickstart'];
    await openclawOk(['daemon', 'start', ...project, '--port', '0'], opts);
    const info = readDaemonJson(dir)!;
    trackPid(info.pid);
    await waitFor('every agent running', async () => {
      const { agents } = await apiGet<{ agents: AgentView[] }>(dir, '/api/agents');
      for (const a of agents) for (const i of a.instances) trackPid(i.pid);
      return agents.length === 6 && agents.every((a) => a.status === 'running');
    });
    // Token auth (daemon start): scrape with the admin token the daemon wrote for the CLI, as a
    // Prometheus job would with its bearer token; without it the scrape is refused.
    expect((await fetch(`${info.url}/api/metrics`)).status).toBe(401);
    const token = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim();
    const scrape = async () => {
      const res = await fetch(`${info.url}/api/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      return res.text();
    };
    // The monitor's first check (every 10 s) is a run that emits; the collector's batches too.
    const text = await waitFor('the monitor ran and the analyzer consumed', async () => {
      const t = await scrape();
      return (sample(t, 'openclaw_agent_runs_total', { agent: 'monitor' }) ?? 0) >= 1 && (sample(t, 'openclaw_events_consumed_total', { agent: 'analyzer' }) ?? 0) >= 1 ? t : null;
    }, 60_000);

    const t = types(text);
    for (const [name, type] of Object.entries({ ...SEED_METRICS, ...EXTRA_METRICS })) expect([name, t.get(name)]).toEqual([name, type]);
    for (const a of ['targets', 'monitor', 'collector', 'analyzer', 'alerter', 'reporter']) expect(sample(text, 'openclaw_agent_up', { agent: a })).toBe(1);
    expect(sample(text, 'openclaw_events_emitted_total', { agent: 'collector' })).toBeGreaterThanOrEqual(1);
    // The monitor's own gauges (this.metrics) appear with its agent label.
    expect(sample(text, 'openclaw_custom_targets', { agent: 'monitor' })).toBe(2); // a gauge: no _total

    if (runPromtool) {
      const lint = checkMetrics(text);
      expect(lint.out).toBe('');
      expect(lint.code).toBe(0);
    }
    await openclawOk(['daemon', 'stop', ...project], opts);
  });
});
