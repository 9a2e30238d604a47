// Issue 14, item 7: a graceful daemon stop kills every process an agent started, in each isolation
// kind and for command agents — also when the agent's host had already exited by itself.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { makeProject, waitFor } from '../helpers/project.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed child not yet reaped by init is a zombie: it is dead.
  try {
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

it('stopping the daemon kills what each agent spawned (dedicated, shared, process, command)', async () => {
  const spawner = path.join(HERE, 'fixtures', 'spawner.ts');
  const { dir, configFile } = makeProject({
    agents:
      // Spawning is a permission (a sandboxed host that loads only JavaScript may not start processes).
      ['dedicated', 'shared', 'process'].map((k) => `  spawn-${k}:\n    source: ${spawner}\n    isolation: ${k}\n    permissions: { child_process: true }\n`).join('') +
      `  spawn-die:\n    source: ${spawner}#SpawnThenDie\n    isolation: process\n    restart_policy: { max_retries: 0 }\n    permissions: { child_process: true }\n` +
      `  spawn-command:\n    command: [sh, -c, 'sleep 1000 & echo $! > "$PID_FILE"; wait']\n    env: { PID_FILE: __DIR__/command.pid }\n`,
  });
  fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace('__DIR__', dir));
  const daemon = await Daemon.start(await loadConfig(configFile), { modules: createModules() });
  const pids: number[] = [];
  try {
    for (const k of ['dedicated', 'shared', 'process']) {
      await waitFor(`spawn-${k} running`, () => daemon.trigger(`spawn-${k}`).then(() => true));
      pids.push(await waitFor(`spawn-${k}'s sleep`, async () => (await daemon.getState(`spawn-${k}`)).state.pid as number));
    }
    await waitFor('spawn-die running', () => daemon.trigger('spawn-die').then(() => true));
    const orphan = await waitFor("spawn-die's sleep", async () => (await daemon.getState('spawn-die')).state.pid as number);
    // Its host is gone; what it spawned goes with it, before any daemon stop.
    await waitFor('the dead host’s sleep gone', () => !alive(orphan), 10_000);
    pids.push(await waitFor('the command agent’s sleep', () => (fs.existsSync(path.join(dir, 'command.pid')) ? Number(fs.readFileSync(path.join(dir, 'command.pid'), 'utf8')) : 0)));
    for (const pid of pids) expect(alive(pid)).toBe(true);
  } finally {
    await daemon.shutdown();
  }
  // Gone: waits for the kill to land, never for a fixed time.
  await waitFor('every spawned sleep gone', () => pids.every((p) => !alive(p)), 10_000);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);
