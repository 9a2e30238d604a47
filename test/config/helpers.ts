// Real config files in temp directories, and a way to get the ConfigError a load throws.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { ConfigError } from '../../src/util/errors.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Creates a project directory holding `openclaw.yaml` with `yaml` plus the given extra files. */
export function project(yaml: string, files: Record<string, string> = {}): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-config-'));
  dirs.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  const file = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(file, yaml);
  return { dir, file };
}

/** Awaits `p`, which must reject with a ConfigError, and returns it. */
export async function configError(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw new Error(`expected a ConfigError, got: ${String(err)}`);
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

/** Same for a synchronous call. */
export function configErrorSync(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw new Error(`expected a ConfigError, got: ${String(err)}`);
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

export const AGENT_TS = 'export default class {}\n';
