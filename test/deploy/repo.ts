// Shared by the deploy tests: the repository's files, and which environment variables the daemon
// reads. Static checks only: no Docker engine or helm binary runs here (docs/scale-out.md).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import type { ProjectConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/util/errors.js';

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

export const COMPOSE_PROJECT = 'deploy/compose/project/openclaw.yaml';

/**
 * The Compose project's openclaw.yaml, loaded as the daemons in compose.yaml load it. Until the bus
 * section lands (branch wt-buses) `bus:` is an unknown top-level key: that issue, and only that one,
 * is set aside by loading the file without the section. Once it lands the file loads as it is.
 */
export function loadComposeProject(env: NodeJS.ProcessEnv): ProjectConfig {
  const file = path.join(ROOT, COMPOSE_PROJECT);
  const text = read(COMPOSE_PROJECT);
  try {
    return parseConfig(text, file, { env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const other = err.issues.filter((i) => !(i.field === 'bus' && i.message.startsWith('unknown key')));
    if (other.length > 0) throw err;
    return parseConfig(text.replace(/^bus:\n(?: {2}.*\n)+/m, ''), file, { env });
  }
}

/** The environment compose.yaml gives its daemons (the master key aside). */
export const COMPOSE_ENV = {
  OPENCLAW_BUS_BACKEND: 'redis',
  OPENCLAW_BUS_URL: 'redis://redis:6379',
  OPENCLAW_DB_URL: 'postgres://openclaw:openclaw@postgres:5432/openclaw',
};
