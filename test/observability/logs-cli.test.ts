// `openclaw logs NAME --follow --since 10m --level warn` through the real CLI against a real
// daemon: history since then at the level asked, then live lines, Ctrl-C ends it with 0.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { cleanup, spawnOpenclaw } from '../e2e/helpers.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
let daemon: Daemon | null = null;
afterAll(async () => {
  await daemon?.shutdown('test end');
  await cleanup();
});

describe('openclaw logs --follow --since --level', () => {
  it('prints the warnings of the last 10 minutes, then new ones as they come', { timeout: 60_000 }, async () => {
    const { dir, configFile } = makeProject({
      agents: [`  busy:\n    source: ${path.join(FIX, 'busy.ts')}\n`, `  sink:\n    source: ${path.join(FIX, 'sink.ts')}\n`].join(''),
    });
    const d = (daemon = await Daemon.start(await loadConfig(configFile)));
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));
    // An old warning (20 minutes ago), then two recent ones and the sink's info lines.
    d.logs.write({ time: Date.now() - 20 * 60_000, level: 'warning', agent: 'sink', instance: 'sink#0', msg: 'an old warning' });
    for (const n of [1, 2]) {
      await d.trigger('busy');
      await waitFor(`sink got #${n}`, async () => (await d.getState('sink')).state.last === n);
    }

    const run = spawnOpenclaw(['logs', 'sink', '--follow', '--since', '10m', '--level', 'warn', '--url', d.url], { cwd: dir });
    await waitFor('history printed', () => run.stdout().includes('sink got work.done #2'));
    await d.trigger('busy');
    await waitFor('the live line', () => run.stdout().includes('sink got work.done #3'));
    run.child.kill('SIGINT');
    const exit = await run.exit;
    expect(exit.code).toBe(0);
    const lines = exit.stdout.trim().split('\n');
    expect(lines.map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, ''))).toEqual([
      'WARNING [sink] sink got work.done #1',
      'WARNING [sink] sink got work.done #2',
      'WARNING [sink] sink got work.done #3',
    ]);
  });
});
