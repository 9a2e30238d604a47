// Issue 14, item 6: `security.events` (what team tokens may publish) is checked before the daemon
// starts: an `emits` key that names no agent, and a malformed pattern, are located config errors.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { ConfigError } from '../../src/util/errors.js';
import { fixture, makeProject } from '../helpers/project.js';

async function refusal(extra: string): Promise<ConfigError> {
  const { dir, configFile } = makeProject({ agents: `  billing:\n    source: ${fixture('throw-in-handler.ts')}\n    owner: team-a\n`, extra });
  try {
    const err = await loadConfig(configFile)
      .then((cfg) => Daemon.start(cfg, { modules: createModules(), listen: false }))
      .then(
        async (d) => {
          await d.shutdown();
          return null;
        },
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ConfigError);
    expect(fs.existsSync(`${dir}/.openclaw/openclaw.db`)).toBe(false);
    return err as ConfigError;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

it('refuses an emits key that names no agent, with its line and a did-you-mean', async () => {
  const err = await refusal('security:\n  events:\n    emits:\n      biling: ["invoice.*"]\n');
  expect(err.message).toMatch(/openclaw\.yaml:\d+(:\d+)?: security\.events\.emits\.biling: no agent 'biling' is configured; did you mean billing\?/);
});

it('refuses a pattern that is no event name', async () => {
  const err = await refusal('security:\n  events:\n    public: ["bad name"]\n');
  expect(err.message).toMatch(/security\.events\.public\[0\]: must be an event name .* \(got "bad name"\)/);
});
