// The documented scrape: `openclaw token create --role metrics` gives a token that reads
// /api/metrics (and health) and nothing else, used the way deploy/prometheus/scrape.yml tells
// Prometheus to; the snippet itself passes `promtool check config`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { runCli } from '../cli/run-cli.js';
import { promtool, runPromtool } from './promtool.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRAPE = path.join(REPO, 'deploy', 'prometheus', 'scrape.yml');

interface ScrapeConfig {
  job_name: string;
  metrics_path: string;
  authorization: { type: string; credentials_file: string };
  static_configs: Array<{ targets: string[] }>;
}

let dir: string;
let daemon: Daemon;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-scrape-'));
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), 'project: scrape\napi:\n  port: 0\n  auth: token\nagents: {}\n');
  daemon = await Daemon.start(await loadConfig(path.join(dir, 'openclaw.yaml')));
});
afterAll(async () => {
  await daemon?.shutdown('test end');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('deploy/prometheus/scrape.yml', () => {
  it('scrapes /api/metrics with a metrics-role token from `openclaw token create --role metrics`', { timeout: 120_000 }, async () => {
    const created = await runCli(['token', 'create', '--role', 'metrics', '--name', 'prometheus'], { cwd: dir, env: { OPENCLAW_URL: daemon.url } });
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^oc_\S+\n$/);
    expect(created.stderr).toMatch(/role metrics/);
    const token = created.stdout.trim();

    const job = (parseYaml(fs.readFileSync(SCRAPE, 'utf8')) as { scrape_configs: ScrapeConfig[] }).scrape_configs[0]!;
    const scrape = await fetch(daemon.url + job.metrics_path, { headers: { authorization: `${job.authorization.type} ${token}` } });
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await scrape.text()).toMatch(/^# TYPE openclaw_[a-z_]+ (counter|gauge|histogram)$/m);

    // Nothing but metrics and health: no agents, state, tokens; and no token at all is a 401.
    const headers = { authorization: `Bearer ${token}` };
    expect((await fetch(`${daemon.url}/api/health`, { headers })).status).toBe(200);
    for (const route of ['/api/agents', '/api/tokens', '/api/agents/x/state']) expect((await fetch(daemon.url + route, { headers })).status, route).toBe(403);
    expect((await fetch(daemon.url + job.metrics_path)).status).toBe(401);
  });

  it.runIf(runPromtool)('passes promtool check config', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-promcfg-'));
    const credentials = path.join(tmp, 'openclaw-metrics.token');
    fs.writeFileSync(credentials, 'oc_example');
    fs.writeFileSync(path.join(tmp, 'prometheus.yml'), fs.readFileSync(SCRAPE, 'utf8').replaceAll('/etc/prometheus/openclaw-metrics.token', credentials));
    fs.copyFileSync(path.join(REPO, 'deploy', 'prometheus', 'alerts.yml'), path.join(tmp, 'alerts.yml'));
    const r = promtool(['check', 'config', path.join(tmp, 'prometheus.yml')]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });
});
