// Spare workers: a host keeps a pre-loaded worker ready, so a restart after a crash is a hand-over,
// not a spawn. Observable through openclaw_agent_worker_starts_total{worker="spare"|"new"}.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

async function workerStarts(d: Daemon, agent: string): Promise<{ spare: number; new: number }> {
  const text = await d.metrics.getSingleMetricAsString('openclaw_agent_worker_starts_total');
  const count = (worker: string) => Number(new RegExp(`\\{agent="${agent}",worker="${worker}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { spare: count('spare'), new: count('new') };
}

describe('spare workers', () => {
  it('a crashed dedicated agent is restarted in the host\'s spare worker, and the spare is replaced', async () => {
    const { configFile } = makeProject({
      agents: `  crasher:\n    source: ${fixture('process-exit.ts')}\n    restart_policy: { backoff: immediate, max_retries: 50 }\n`,
    });
    const d = await Daemon.start(await loadConfig(configFile));
    daemons.push(d);
    await waitFor('crasher running', async () => (await d.getAgent('crasher')).status === 'running');
    // The first instance of the host had no spare to take.
    expect(await workerStarts(d, 'crasher')).toEqual({ spare: 0, new: 1 });

    for (let crash = 1; crash <= 2; crash++) {
      await d.trigger('crasher');
      await waitFor(`restart ${crash} done`, async () => {
        const t = await d.listTransitions('crasher', { limit: 20 });
        return t.filter((x) => x.to === 'running').length === crash + 1 && (await d.getAgent('crasher')).status === 'running';
      });
      // Each restart took the spare booted after the previous start: no spawn on the path.
      expect(await workerStarts(d, 'crasher')).toEqual({ spare: crash, new: 1 });
    }
    const t = await d.listTransitions('crasher', { limit: 20 });
    expect(t.some((x) => x.to === 'error' && /exited/.test(x.reason))).toBe(true);
  });
});
