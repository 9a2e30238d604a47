// Replicas and starts (issue 14 item 17): runs rotate over the replicas one by one (a capacity
// check or a manual trigger does not shift the rotation), and the startup timeout covers the whole
// start path, not only setup().
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createRuntime } from '../../src/runtime/index.js';
import type { Runtime } from '../../src/runtime/types.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

describe('replicas', () => {
  it('spreads manual runs over the replicas in turn', async () => {
    const { configFile } = makeProject({ agents: `  ticker:\n    source: ${fixture('ticker.ts')}\n    replicas: 2\n` });
    const d = await Daemon.start(await loadConfig(configFile));
    daemons.push(d);
    await waitFor('both replicas running', async () => (await d.getAgent('ticker')).instances.filter((i) => i.status === 'running').length === 2);
    const instances: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { runId } = await d.trigger('ticker');
      const run = await waitFor(`run ${i} finished`, async () => (await d.listRuns('ticker')).find((r) => r.id === runId && r.finishedAt !== null) ?? null);
      instances.push(String(run.instance));
    }
    expect(instances).toEqual(['ticker#0', 'ticker#1', 'ticker#0', 'ticker#1']);
  });
});

describe('startup timeout', () => {
  it('fails a start that hangs before setup() (the host never answers), with the reason', async () => {
    const { configFile } = makeProject({ agents: `  ticker:\n    source: ${fixture('ticker.ts')}\n    health_check: { startup: { timeout: 1s } }\n    restart_policy: { max_retries: 0 }\n` });
    const config = await loadConfig(configFile);
    // A runtime that describes the module but whose start never completes (a wedged host).
    const real = createRuntime({ rpc: async () => null, log() {}, metrics() {}, memory() {}, logsDropped() {} });
    const runtime: Runtime = { describe: (f, e) => real.describe(f, e), startAgent: () => new Promise(() => undefined), startCommand: (s) => real.startCommand(s), shutdown: () => real.shutdown() };
    const d = await Daemon.start(config, { runtime });
    daemons.push(d);
    const inst = await waitFor('the start failed', async () => (await d.getAgent('ticker')).instances.find((i) => i.lastError !== null) ?? null);
    expect(inst.lastError).toMatch(/did not load within the startup timeout/);
  });
});
