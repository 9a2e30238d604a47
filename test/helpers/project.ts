// Builds throwaway OpenClaw projects in temp dirs for daemon-level tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'daemon', 'fixtures');

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

export interface ProjectOptions {
  /** YAML of the `agents:` mapping body, indented by two spaces per level as in the file. */
  agents: string;
  /** `store:` value; default: the sqlite file under .openclaw/. */
  store?: { kind: 'sqlite' } | { kind: 'postgres'; url: string; schema: string };
  extra?: string;
}

export function makeProject(opts: ProjectOptions): { dir: string; configFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-test-'));
  const store =
    opts.store?.kind === 'postgres' ? `store:\n  url: ${opts.store.url}\n  schema: ${opts.store.schema}\n` : '';
  const text = `project: test-project\nversion: "1.0"\n${store}api:\n  port: 0\n  auth: local-trust\n${opts.extra ?? ''}agents:\n${opts.agents}`;
  const configFile = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(configFile, text);
  return { dir, configFile };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `--import` argument that loads tsx from this repo's node_modules, whatever the child's cwd. */
export { tsxUrls } from '../../src/runtime/paths.js';
