// The first start of a daemon, as a new user sees it: runs that come due while an agent is still in
// its first setup are not "missed" (the first waits and runs once the agent is up, the rest fold into
// it, without a warning); health says 'starting' until then, not "0/1 running"; a paused agent has
// no uptime. Time is a FakeClock: the schedule fires when the test moves it, never on its own.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';

let d: Daemon | null = null;
afterAll(async () => {
  await d?.shutdown('test end');
});

describe('first start', () => {
  it('queues the runs due (and a manual trigger) during the first setup instead of warning that they were missed; health is starting, then ok', async () => {
    const clock = new FakeClock();
    const { dir, configFile } = makeProject({
      agents: [
        '  gated:',
        `    source: ${fixture('gated-setup.ts')}`,
        '    schedule: every 10s',
        '    health_check: { startup: { timeout: 1h } }',
        '    permissions: { write: [gates] }', // the gate file
        `    config: { gate: ${path.join('GATE_DIR', 'gates', 'open')} }`,
        '',
      ].join('\n'),
    });
    fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace('GATE_DIR', dir));
    d = await Daemon.start(await loadConfig(configFile), { clock });
    const daemon = d;
    await waitFor('gated in its first setup', async () => (await daemon.getAgent('gated')).status === 'initializing');
    expect(daemon.health()).toMatchObject({ status: 'starting', agents: { total: 1, running: 0, starting: 1 } });

    // 35 s of a 10 s schedule: at least three fire times while setup still runs (the first is queued).
    clock.advance(35_000);
    const stillStarting = () => daemon.logs.recent('gated').filter((l) => /still starting/.test(l.msg));
    await waitFor('the fire times handled', () => stillStarting().length >= 2);
    const skipped = stillStarting().length;
    // A manual trigger in that window is queued as well (not refused as "not running").
    const manual = await daemon.trigger('gated');
    fs.writeFileSync(path.join(dir, 'gates', 'open'), '');
    await waitFor('the queued runs ran once gated was up', async () => (await daemon.getState('gated')).state.runs === 2);
    expect((await daemon.listRuns('gated')).find((r) => r.id === manual.runId)?.status).toBe('succeeded');

    const lines = daemon.logs.recent('gated');
    expect(lines.filter((l) => l.level === 'warning')).toEqual([]);
    expect(lines.filter((l) => /run skipped .*still starting; one run is already queued/.test(l.msg)).map((l) => l.level)).toEqual(Array(skipped).fill('info'));
    expect(daemon.health()).toMatchObject({ status: 'ok', agents: { running: 1, starting: 0 } });

    // Later fire times run as usual.
    clock.advance(10_000);
    await waitFor('the next scheduled run', async () => (await daemon.getState('gated')).state.runs === 3);

    // Paused: no uptime (running: some).
    expect((await daemon.getAgent('gated')).uptimeMs).toBeGreaterThanOrEqual(0);
    await daemon.action('gated', 'pause');
    expect((await daemon.getAgent('gated')).uptimeMs).toBeNull();
  });
});
