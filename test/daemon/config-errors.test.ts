// Bad input at start: each error names file, line and field; the daemon exits 78 and nothing
// starts half-way (no daemon file, no store created).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture } from '../helpers/project.js';
import { daemonRunArgv } from '../helpers/daemon-process.js';

function run(yaml: string): { code: number | null; stderr: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bad-'));
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml);
  const r = spawnSync(process.execPath, daemonRunArgv(path.join(dir, 'openclaw.yaml')), { cwd: dir, encoding: 'utf8', timeout: 60_000 });
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
    expect(r.stderr).toMatch(/openclaw\.yaml:8:\d+: agents\.a\.source/);
    expect(r.stderr).toMatch(/agents\.a\.source/);
    expect(r.stderr).toMatch(/no-agent\.ts/);
    nothingStarted(r.dir);
  });

  it('checks workflow steps and validator schema files before creating anything on disk, all at once, in one format (issue 14 item 11)', () => {
    const r = run(
      [
        'project: x',
        'api:',
        '  port: 0',
        'agents:',
        '  good:',
        `    source: ${fixture('ticker.ts')}`,
        'security:',
        '  validators:',
        '    - { type: json_schema, action: block, schema_path: schemas/missing.json }',
        'workflows:',
        '  deploy:',
        '    steps:',
        '      - id: call',
        '        type: agent',
        '        agent: goood',
        '        method: run',
        '',
      ].join('\n'),
    );
    expect(r.code).toBe(78);
    // Both problems in one run, each located like a loader error, the file relative, no absolute path.
    expect(r.stderr).toMatch(/^openclaw\.yaml:9:\d+: security\.validators\[0\]\.schema_path: cannot read the JSON Schema schemas\/missing\.json: ENOENT/m);
    expect(r.stderr).toMatch(/^openclaw\.yaml:15:16: workflows\.deploy\.steps\[0\]\.agent: no agent named 'goood' \(did you mean 'good'\?\)/m);
    expect(r.stderr).not.toContain(r.dir);
    expect(r.stderr).not.toMatch(/steps\.0/);
    // Nothing was created: no store, no token, no log directory — not even .openclaw/.
    expect(fs.existsSync(path.join(r.dir, '.openclaw'))).toBe(false);
  });

  it('reports every problem of the file at once: schema, sections and llm models together (issue 15)', () => {
    const r = run(
      [
        'project: x',
        'api:',
        '  port: 0',
        'agents:',
        '  a:',
        `    source: ${fixture('ticker.ts')}`,
        '    replicas: many',
        '    restart_polcy: { backoff: linear }',
        'llm:',
        '  providers:',
        '    openai: { api_key: sk-1, models: [gpt-4o] }',
        '  defaults: { primary: gpt-5 }',
        'jobs:',
        '  queues:',
        '    q: { concurency: 2 }',
        '',
      ].join('\n'),
    );
    expect(r.code).toBe(78);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('openclaw.yaml:'));
    expect(lines.map((l) => l.split(': ')[1])).toEqual(['agents.a.replicas', 'agents.a.restart_polcy', 'llm.defaults.primary', 'jobs.queues.q.concurency']);
    expect(fs.existsSync(path.join(r.dir, '.openclaw'))).toBe(false);
  });
});
