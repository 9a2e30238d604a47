// Shared by the deploy tests: the repository's files, and which environment variables the daemon
// reads. Static checks only: no Docker engine or helm binary runs here (docs/scale-out.md).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART = path.join(ROOT, 'deploy', 'helm', 'openclaw');
export const COMPOSE_DIR = path.join(ROOT, 'deploy', 'compose');

export function read(rel: string): string {
  return fs.readFileSync(path.join(ROOT, rel), 'utf8');
}

export function readYaml<T = unknown>(rel: string): T {
  return parse(read(rel), { merge: true, uniqueKeys: true }) as T;
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'ui' && dir === path.join(ROOT, 'src') ? [] : tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/**
 * OPENCLAW_* variables the daemon or CLI reads from its own environment, found in src/: `env.NAME`
 * not being assigned (the daemon *sets* OPENCLAW_DATA_DIR for agents), and `…ENV = 'NAME'` constants.
 */
export function daemonEnvNames(): Set<string> {
  const names = new Set<string>();
  for (const f of tsFiles(path.join(ROOT, 'src'))) {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\benv\.(OPENCLAW_[A-Z0-9_]+)\b(?!\s*=[^=])/g)) names.add(m[1]);
    for (const m of text.matchAll(/\b\w*ENV\w*\s*=\s*'(OPENCLAW_[A-Z0-9_]+)'/g)) names.add(m[1]);
  }
  return names;
}

/** Variables a config file reads through `${NAME}` / `${NAME:-default}` interpolation. */
export function interpolatedNames(yamlText: string): Set<string> {
  const names = new Set<string>();
  for (const m of yamlText.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}/g)) names.add(m[1]);
  return names;
}
