// `openclaw daemon install`: the unit text (restart policy, exit 78, stop timeout above the drain
// budget, control-group kill, ExecStart of this CLI for this project), written by the real CLI,
// and `systemd-analyze verify` on it where that tool exists.
import { haveTool } from '../helpers/services.js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { drainBudgetMs, quoteArg, renderUnit, stopTimeoutSec, unitName } from '../../src/daemon/systemd.js';
import { cleanup, CLI, openclaw, openclawOk, tempDir } from '../e2e/helpers.js';
import { fixture } from '../helpers/project.js';

afterAll(cleanup);

function project(name = 'shop floor'): { dir: string; file: string } {
  const dir = tempDir('openclaw-install-');
  const yaml = [
    `project: ${name}`,
    'agents:',
    '  quick:',
    `    source: ${fixture('ticker.ts')}`,
    '  slow:',
    `    source: ${fixture('ticker.ts')}`,
    '    graceful_shutdown: { timeout: 90s, teardown_timeout: 20s }',
    '',
  ];
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml.join('\n'));
  return { dir, file: path.join(dir, 'openclaw.yaml') };
}

const haveAnalyze = haveTool('systemd-analyze', ['--version'], 'systemd');

describe('the systemd unit', () => {
  it('restarts except on 78, outlasts the drain budget, kills the group, runs this CLI for this project', async () => {
    const { dir, file } = project();
    const config = await loadConfig(file);
    expect(drainBudgetMs(config)).toBe(110_000);
    expect(stopTimeoutSec(config)).toBe(140);
    const text = renderUnit({ config, node: '/usr/bin/node', execArgv: ['--import', 'file:///opt/tsx/loader.mjs'], script: '/opt/openclaw/src/cli/main.ts', user: false, runAs: 'ops', pathEnv: '/usr/bin:/bin' });
    const lines = text.split('\n');
    for (const l of [
      'Restart=always',
      'RestartPreventExitStatus=78',
      'KillMode=control-group',
      'TimeoutStopSec=140',
      'User=ops',
      'WantedBy=multi-user.target',
      `WorkingDirectory=${quoteArg(dir)}`,
      `ExecStart=/usr/bin/node --import file:///opt/tsx/loader.mjs /opt/openclaw/src/cli/main.ts daemon run --project ${quoteArg(file)}`,
      'EnvironmentFile=-/etc/openclaw/openclaw-shop-floor.env',
    ]) {
      expect(lines).toContain(l);
    }
    expect(unitName('shop floor')).toBe('openclaw-shop-floor.service');
    expect(quoteArg('/a b/100%$x')).toBe('"/a b/100%%$$x"');
  });

  it('`daemon install --output` writes it and says how to enable it; --user writes a user unit', { timeout: 60_000 }, async () => {
    const { dir, file } = project();
    const out = path.join(dir, 'openclaw-shop-floor.service');
    const r = await openclawOk(['daemon', 'install', '--output', out], { cwd: dir });
    expect(r.stdout).toContain(`Wrote ${out} (TimeoutStopSec=140`);
    expect(r.stdout).toContain('sudo systemctl daemon-reload');
    expect(r.stdout).toContain('sudo systemctl enable --now openclaw-shop-floor.service');
    const text = fs.readFileSync(out, 'utf8');
    // The CLI that ran (built by test/helpers/test-dist.ts, or from source through tsx) names itself.
    // With the daemon's V8 flags and malloc arenas (src/daemon/process-tuning.ts).
    expect(text).toContain('Environment=MALLOC_ARENA_MAX=2');
    expect(text).toContain(`ExecStart=${[process.execPath, '--max-semi-space-size=1', '--v8-pool-size=2', ...CLI.execArgv, CLI.script].map(quoteArg).join(' ')} daemon run --project ${quoteArg(file)}`);

    const home = tempDir('openclaw-home-');
    const u = await openclawOk(['daemon', 'install', '--user'], { cwd: dir, env: { HOME: home } });
    const userUnit = path.join(home, '.config', 'systemd', 'user', 'openclaw-shop-floor.service');
    expect(u.stdout).toContain(`Wrote ${userUnit}`);
    expect(u.stdout).toContain('systemctl --user enable --now openclaw-shop-floor.service');
    const userText = fs.readFileSync(userUnit, 'utf8');
    expect(userText).toContain('WantedBy=default.target');
    expect(userText).toContain('EnvironmentFile=-%h/.config/openclaw/openclaw-shop-floor.env');
    expect(userText).not.toMatch(/^User=/m);

    // Where it may not write: the error says what to do instead.
    if (process.getuid?.() !== 0) {
      const denied = await openclaw(['daemon', 'install', '--output', '/proc/openclaw.service'], { cwd: dir });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain('cannot write /proc/openclaw.service');
    }
  });

  it('passes systemd-analyze verify', { timeout: 60_000 }, async (t) => {
    if (!haveAnalyze) t.skip(); // locally only: under CI=true haveTool throws
    const { dir } = project('verify-me');
    const out = path.join(dir, 'openclaw-verify-me.service');
    // A user unit: verify then needs no account named in User= to exist on this machine.
    await openclawOk(['daemon', 'install', '--user', '--output', out], { cwd: dir });
    const r = spawnSync('systemd-analyze', ['verify', out], { encoding: 'utf8' });
    const complaints = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('openclaw-verify-me'));
    expect({ status: r.status, complaints }, fs.readFileSync(out, 'utf8')).toEqual({ status: 0, complaints: [] });
  });
});
