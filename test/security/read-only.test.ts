// Issue 14, item 9: `security.sandbox.read_only_filesystem` is enforced where it can be (agent
// hosts: no writable path at all) and refused with a located config error where it cannot
// (command agents).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { ConfigError } from '../../src/util/errors.js';
import { makeProject, waitFor } from '../helpers/project.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const READ_ONLY = 'security:\n  sandbox:\n    read_only_filesystem: true\n';

it('refuses read_only_filesystem with a command agent, naming the agent and what to do', async () => {
  const { dir, configFile } = makeProject({ agents: `  worker:\n    command: [sleep, "1000"]\n`, extra: READ_ONLY });
  try {
    const err = await Daemon.start(await loadConfig(configFile), { modules: createModules(), listen: false }).then(
      async (d) => {
        await d.shutdown();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(78);
    expect((err as Error).message).toMatch(/openclaw\.yaml:\d+: agents\.worker: security\.sandbox\.read_only_filesystem is true but agent 'worker' is a command agent/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('gives a module agent no writable path under read_only_filesystem, not even its data directory', async () => {
  const probe = path.join(HERE, 'fixtures', 'sandbox-probe.ts');
  const { dir, configFile } = makeProject({ agents: '', extra: READ_ONLY });
  fs.appendFileSync(
    configFile,
    `  ro:\n    source: ${probe}\n    isolation: process\n    config: { dataDir: ${dir}/.openclaw, projectDir: ${dir}, blockedHost: 127.0.0.2, allowedUrl: "http://127.0.0.1:9/", port: 9, tlsPort: 9 }\n`,
  );
  const daemon = await Daemon.start(await loadConfig(configFile), { modules: createModules() });
  try {
    await waitFor('ro running', () => daemon.trigger('ro').then(() => true));
    const p = await waitFor('the probe', async () => (await daemon.getState('ro')).state.probe as Record<string, unknown>);
    expect(p.writeDataDir).toBe('refused:ERR_ACCESS_DENIED');
    expect(p.writeProject).toBe('refused:ERR_ACCESS_DENIED');
    expect(p.readProject).toBe('ok');
  } finally {
    await daemon.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
