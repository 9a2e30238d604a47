// Bad input at start: each error names file, line and field; the daemon exits 78 and nothing
// starts half-way (no daemon file, no store created).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, tsxUrls } from '../helpers/project.js';

function run(yaml: string): { code: number | null; stderr: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bad-'));
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml);
  const r = spawnSync(process.execPath, ['--import', tsxUrls().loader, fixture('run-daemon.ts'), path.join(dir, 'openclaw.yaml')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr + r.stdout, dir };
}

function nothingStarted(dir: string): void {
  expect(fs.existsSync(path.join(dir, '.openclaw', 'daemon.json'))).toBe(false);
  expect(fs.existsSync(path.join(dir, '.openclaw', 'openclaw.db'))).toBe(false);
}

describe('the daemon refuses bad configuration with exit 78', () => {
  it('malformed YAML names the line', () => {
    const r = run('project: x\nagents:\n  a:\n    source: [unclosed\n');
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/openclaw\.yaml:\d+/);
    nothingStarted(r.dir);
  });

  it('an unknown key names line and field and suggests the right one', () => {
    const r = run(`project: x\napi:\n  port: 0\nagents:\n  a:\n    source: ${fixture('ticker.ts')}\n    restart_polcy:\n      backoff: linear\n`);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/openclaw\.yaml:7/);
    expect(r.stderr).toMatch(/agents\.a\.restart_polcy/);
    expect(r.stderr).toMatch(/restart_policy/);
    nothingStarted(r.dir);
  });

  it('a wrong type names the field', () => {
    const r = run(`project: x\napi:\n  port: 0\nagents:\n  a:\n    source: ${fixture('ticker.ts')}\n    replicas: many\n`);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/openclaw\.yaml:7/);
    expect(r.stderr).toMatch(/agents\.a\.replicas/);
    nothingStarted(r.dir);
  });

  it('a missing agent file names the field and the path', () => {
    const r = run('project: x\napi:\n  port: 0\nagents:\n  a:\n    source: agents/nope.ts\n');
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/agents\.a\.source/);
    expect(r.stderr).toMatch(/nope\.ts/);
    nothingStarted(r.dir);
  });

  it('a module that exports no Agent names the agent, the file and the line, and starts nothing', () => {
    const r = run(`project: x\napi:\n  port: 0\nagents:\n  good:\n    source: ${fixture('ticker.ts')}\n  a:\n    source: ${fixture('no-agent.ts')}\n`);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/openclaw\.yaml:7/);
    expect(r.stderr).toMatch(/agents\.a\.source/);
    expect(r.stderr).toMatch(/no-agent\.ts/);
    nothingStarted(r.dir);
  });
});
