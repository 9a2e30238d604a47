// A real daemon for the dashboard tests: token auth, a few agents, a workflow with an approval gate,
// an admin and a viewer token, and a seeded LLM usage ledger — on SQLite or on PostgreSQL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import type { DaemonModule } from '../../src/daemon/modules.js';
import { run as runCli } from '../../src/cli/main.js';
import { SqlRunner, num } from '../../src/llm/sql.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { fixture } from '../helpers/project.js';
import { PG_URL, uniqueSchema } from '../helpers/services.js';

export type Backend = 'sqlite' | 'postgres';

export interface UiDaemon {
  backend: Backend;
  dir: string;
  daemon: Daemon;
  url: string;
  admin: string;
  viewer: string;
  /** A second connection to the daemon's database (seeding, reconciliation). */
  store: Store;
  sql: SqlRunner;
  schema: string | null;
  api(token: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** SUM(cost_nusd) of the ledger rows since the start of the UTC day `days - 1` days ago. */
  ledgerNusd(days: number): Promise<number>;
  close(): Promise<void>;
}

const AGENTS = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];

export async function startUiDaemon(backend: Backend, opts: { modules?: (m: DaemonModule[]) => DaemonModule[] } = {}): Promise<UiDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ui-'));
  const schema = backend === 'postgres' ? uniqueSchema('oc_ui') : null;
  const store = backend === 'postgres' ? `store:\n  url: ${PG_URL}\n  schema: ${schema}\n` : '';
  const agents = AGENTS.map((a, i) =>
    i === 0
      ? `  ${a}:\n    source: ${fixture('counter.ts')}\n    owner: payments\n`
      : `  ${a}:\n    source: ${fixture('ticker.ts')}\n    schedule: every 1h\n${i % 2 ? '    owner: search\n' : ''}`,
  ).join('');
  const yaml = `project: ui-test
${store}api:
  port: 0
  auth: token
agents:
${agents}workflows:
  release:
    steps:
      - { id: build, type: shell, command: 'echo built' }
      - { id: signoff, type: approval, needs: build, message: 'Ship it?' }
      - { id: ship, type: shell, needs: signoff, command: 'echo shipped' }
`;
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml);
  const config = await loadConfig(path.join(dir, 'openclaw.yaml'));
  const modules = opts.modules ? opts.modules(createModules()) : undefined;
  const daemon = await Daemon.start(config, modules ? { modules } : {});
  const admin = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim();
  const viewer = await createToken(daemon.url, admin, '--role', 'viewer', '--name', 'ui-viewer');
  const second = await openStore(config.store);
  const sql = new SqlRunner(second.handle());
  const api = async (token: string, method: string, route: string, body?: unknown) => {
    const res = await fetch(daemon.url + route, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return {
    backend,
    dir,
    daemon,
    url: daemon.url,
    admin,
    viewer,
    store: second,
    sql,
    schema,
    api,
    async ledgerNusd(days) {
      const from = (Math.floor(Date.now() / 86_400_000) - days + 1) * 86_400_000;
      return num((await sql.all(`SELECT COALESCE(SUM(cost_nusd), 0) AS c FROM {p}llm_usage WHERE ts >= ?`, from))[0]?.c);
    },
    async close() {
      await daemon.shutdown('test end');
      await second.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `openclaw token create ARGS` as the admin; returns the new token. */
export async function createToken(url: string, admin: string, ...args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'openclaw', 'token', 'create', ...args, '--url', url, '--token', admin], { out: (s) => void (out += s), err: (s) => void (err += s) });
  expect(code, err).toBe(0);
  return out.trim();
}

/**
 * Writes `n` usage rows over the last three days (agents, models and keys mixed) with costs that do
 * not round to whole cents, so a page that summed rounded dollars would be off.
 */
export async function seedLedger(d: UiDaemon, n: number, now = Date.now()): Promise<void> {
  const agents = ['alpha', 'bravo', null];
  const models = ['gpt-4o-mini', 'claude-haiku'];
  const keys = ['k1', 'k2', null];
  for (let i = 0; i < n; i++) {
    await d.sql.all(
      `INSERT INTO {p}llm_usage (id, ts, agent, key_id, session, user_id, scope, model, provider, input_tokens, output_tokens, cached_tokens,
        cost_nusd, latency_ms, ttft_ms, status, cache_hit, estimated, stream) VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, 'fake', ?, ?, 0, ?, 10, NULL, ?, ?, 0, 0)`,
      `seed-${i}`, now - (i % 3) * 86_400_000 - (i % 7) * 1000, agents[i % 3], keys[i % 3], models[i % 2], 100 + i, 50 + i,
      1_234_567 + i * 7_654_321, i % 11 === 0 ? 'error' : 'ok', i % 5 === 0 ? 1 : 0,
    );
  }
}

/** Dollars to the cent, as the spend page prints them. */
export function usd(nusd: number): string {
  return `$${(Math.round(nusd / 1e7) / 100).toFixed(2)}`;
}
