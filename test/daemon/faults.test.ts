// Fault containment: agents that throw in setup, throw in run, leave a rejection unhandled, loop
// forever, allocate Buffers without bound, call process.exit and flood logs are each contained,
// shown with a reason and restarted per policy, while a neighbour keeps its schedule.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';

let daemon: Daemon | null = null;
afterAll(async () => {
  await daemon?.shutdown('test end');
});

const policy = `    restart_policy: { backoff: exponential, initial_delay: 200ms, max_delay: 1s, max_retries: 1000 }\n`;
const every = `    schedule: every 1s\n`;

function agent(name: string, file: string, extra = ''): string {
  return `  ${name}:\n    source: ${fixture(file)}\n${every}${policy}${extra}`;
}

describe('fault containment', () => {
  it('contains every kind of misbehaving agent while the neighbour keeps its schedule', async () => {
    const { configFile } = makeProject({
      agents:
        agent('neighbour', 'ticker.ts') +
        agent('bad-setup', 'throw-in-setup.ts') +
        agent('bad-run', 'throw-in-run.ts') +
        agent('bad-promise', 'unhandled-rejection.ts') +
        agent('bad-loop', 'infinite-loop.ts', `    health_check:\n      liveness: { interval: 300ms, timeout: 200ms, unhealthy_threshold: 2 }\n`) +
        agent('bad-memory', 'buffer-hog.ts', `    resources: { memory: 96Mi }\n`) +
        agent('bad-exit', 'process-exit.ts') +
        agent('bad-logs', 'log-flood.ts'),
    });
    daemon = await Daemon.start(await loadConfig(configFile));
    const d = daemon;

    await waitFor('neighbour running', async () => (await d.getAgent('neighbour')).status === 'running');
    const startRuns = (await d.getAgent('neighbour')).runsTotal;

    const expectations: Record<string, RegExp> = {
      'bad-setup': /setup exploded/,
      'bad-run': /run exploded/,
      'bad-promise': /nobody handles this/,
      'bad-loop': /liveness|unresponsive/,
      'bad-memory': /oom|memory/i,
      'bad-exit': /exit/i,
    };
    for (const [name, reason] of Object.entries(expectations)) {
      const transitions = await waitFor(`${name} contained and restarted`, async () => {
        const t = await d.listTransitions(name, { limit: 200 });
        const failed = t.filter((x) => reason.test(x.reason));
        const view = await d.getAgent(name);
        return failed.length > 0 && view.restarts >= 1 ? t : null;
      }, 60_000, 100);
      expect(transitions.some((t) => t.to === 'error' || t.to === 'initializing')).toBe(true);
      const view = await d.getAgent(name);
      expect(view.restarts).toBeGreaterThanOrEqual(1);
      expect(view.instances[0].lastError ?? view.reason ?? '').not.toBe('');
    }

    // The flood was cut at the agent's side and counted; the daemon kept answering.
    await waitFor('log lines dropped', () => d.logs.droppedTotal > 0, 30_000);

    // Meanwhile the neighbour kept running on schedule, never restarted.
    await waitFor('neighbour keeps its schedule', async () => (await d.getAgent('neighbour')).runsTotal >= startRuns + 3, 30_000);
    const neighbour = await d.getAgent('neighbour');
    expect(neighbour.status).toBe('running');
    expect(neighbour.restarts).toBe(0);
    expect(neighbour.runsFailed).toBe(0);
  }, 180_000);
});
