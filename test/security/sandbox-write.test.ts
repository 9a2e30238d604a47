// `permissions.write` with relative paths whose directories do not exist when the agent's host
// starts: Node's permission model grants a path that is no directory at launch as a single file,
// so writing inside a directory created later was refused (ERR_ACCESS_DENIED). The sandbox now
// creates a missing write path as a directory before granting it; a path not granted stays refused.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { makeProject, waitFor } from '../helpers/project.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'late-writer.ts');
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('sandbox: permissions.write', () => {
  for (const isolation of ['process', 'dedicated'] as const) {
    it(`a relative write path created after the daemon started is writable (${isolation})`, async () => {
      const { dir, configFile } = makeProject({
        agents:
          `  writer:\n    source: ${FIXTURE}\n    isolation: ${isolation}\n` +
          '    permissions:\n      write: [out/later, out/own]\n' +
          `    config: { createdLater: ${dir_('out/later')}, createdByAgent: ${dir_('out/own/sub')}, notGranted: ${dir_('elsewhere.txt')} }\n`,
      });
      // The config names paths in the project dir, known only now: fill them in.
      fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replaceAll('@DIR@', dir));
      cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      const d = await Daemon.start(await loadConfig(configFile));
      cleanups.push(() => d.shutdown('test end'));
      await waitFor('writer running', async () => (await d.getAgent('writer')).status === 'running');
      fs.mkdirSync(path.join(dir, 'out', 'later'), { recursive: true });

      await d.trigger('writer');
      const wrote = await waitFor('the writer’s outcome', async () => (await d.getState('writer')).state.wrote);
      expect(wrote).toEqual({ createdLater: 'ok', createdByAgent: 'ok', notGranted: 'refused:ERR_ACCESS_DENIED' });
      expect(fs.readFileSync(path.join(dir, 'out', 'later', 'a.txt'), 'utf8')).toBe('a');
      expect(fs.readFileSync(path.join(dir, 'out', 'own', 'sub', 'b.txt'), 'utf8')).toBe('b');
      expect(fs.existsSync(path.join(dir, 'elsewhere.txt'))).toBe(false);
    }, 60_000);
  }
});

function dir_(rel: string): string {
  return `"@DIR@/${rel}"`;
}
