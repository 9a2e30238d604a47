import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../src/util/errors.js';
import { FakeControlPlane } from '../api/fake-control.js';
import { startApi, type Running } from '../api/harness.js';
import { REPO, runCli, spawnCli } from './run-cli.js';

let control: FakeControlPlane;
let api: Running;
let tmp: string;
let project: string;

/** A project folder whose .openclaw/daemon.json points at the test's API server. */
function writeProject(dir: string, url: string): void {
  fs.mkdirSync(path.join(dir, '.openclaw'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), 'project: cli-test\nagents: {}\n');
  const u = new URL(url);
  fs.writeFileSync(
    path.join(dir, '.openclaw', 'daemon.json'),
    JSON.stringify({ pid: process.pid, url, host: u.hostname, port: Number(u.port), project: 'cli-test', config: '', startedAt: Date.now() }),
  );
}

beforeEach(async () => {
  control = new FakeControlPlane();
  const now = Date.now();
  control.addAgent('monitor', { lastRunAt: now - 2 * 60_000 - 5_000 });
  control.addAgent('reporter', { status: 'paused', desired: 'paused', uptimeMs: null, lastRunAt: now - 3_600_000 - 5_000, successRate: 1 });
  api = await startApi(control);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-cli-'));
  project = path.join(tmp, 'proj');
  writeProject(project, api.url);
});
afterEach(async () => {
  await api.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('openclaw status', () => {
  it("prints the seed's table for the project's daemon", async () => {
    const res = await runCli(['status'], { cwd: project });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        '┌──────────┬─────────┬────────┬──────────┬──────────────┐',
        '│ Agent    │ Status  │ Uptime │ Last Run │ Success Rate │',
        '├──────────┼─────────┼────────┼──────────┼──────────────┤',
        '│ monitor  │ running │ 4d 12h │ 2m ago   │ 99.7%        │',
        '│ reporter │ paused  │ -      │ 1h ago   │ 100%         │',
        '└──────────┴─────────┴────────┴──────────┴──────────────┘',
        '',
      ].join('\n'),
    );
  });

  it('--json prints exactly the API answer', async () => {
    const res = await runCli(['status', '--json'], { cwd: path.join(project) });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(JSON.parse(JSON.stringify({ agents: await control.listAgents() })));
  });

  it('finds the daemon from a subfolder of the project', async () => {
    const sub = path.join(project, 'agents');
    fs.mkdirSync(sub);
    const res = await runCli(['status', '--json'], { cwd: sub });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).agents).toHaveLength(2);
  });

  it('uses OPENCLAW_URL outside a project', async () => {
    const res = await runCli(['status', '--json'], { cwd: tmp, env: { OPENCLAW_URL: api.url } });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).agents).toHaveLength(2);
  });
});

describe('exit codes', () => {
  it('exits 1 with a clear message when no daemon answers', async () => {
    const port = await closedPort();
    const res = await runCli(['status', '--url', `http://127.0.0.1:${port}`], { cwd: tmp });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`no daemon answering at http://127.0.0.1:${port} — start one with \`openclaw daemon start\` (or \`openclaw dev\`)`);
  });

  it.each([
    [['bogus']],
    [['state', 'rollback', 'monitor']],
    [['logs', 'monitor', '--lines', 'many']],
    [['trigger', 'monitor', '--payload', '{nope']],
    [['status', '--url', 'not-a-url']],
    [['dead-letters', 'redrive']],
  ])('exits 2 for bad usage: %j', async (args) => {
    const res = await runCli(args, { cwd: project });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/error/);
  });

  it('exits 1 and prints the daemon message for an unknown agent', async () => {
    const res = await runCli(['pause', 'ghost'], { cwd: project });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("error: agent 'ghost' not found");
  });

  it('passes 78 through when the daemon refuses a configuration', async () => {
    control.failWith = new ConfigError([{ file: 'openclaw.yaml', line: 3, column: 5, field: 'agents.monitor.schedule', message: 'not a schedule' }]);
    const res = await runCli(['restart', 'monitor'], { cwd: project });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('openclaw.yaml:3:5: agents.monitor.schedule: not a schedule');
  });

  it('exits 0 for --help', async () => {
    const res = await runCli(['--help'], { cwd: tmp });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Usage: openclaw');
  });
});

describe('agent commands', () => {
  it('pauses and resumes an agent', async () => {
    const paused = await runCli(['pause', 'monitor'], { cwd: project });
    expect(paused).toMatchObject({ code: 0, stdout: 'Paused monitor (status: paused)\n' });
    expect(control.agents.get('monitor')!.status).toBe('paused');
    const resumed = await runCli(['resume', 'monitor', '--json'], { cwd: project });
    expect(JSON.parse(resumed.stdout)).toMatchObject({ name: 'monitor', status: 'running' });
  });

  it('triggers a run with a JSON payload', async () => {
    const res = await runCli(['trigger', 'monitor', '--payload', '{"url":"https://example.com"}'], { cwd: project });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('Triggered monitor (run run-1)\n');
    expect(control.triggers).toEqual([{ name: 'monitor', payload: { url: 'https://example.com' } }]);
  });

  it('publishes an event', async () => {
    const res = await runCli(['events', 'publish', 'ticket.created', '--data', '{"id":7}', '--id', 'ext-7'], { cwd: project });
    expect(res).toMatchObject({ code: 0, stdout: 'Published ticket.created (id ext-7)\n' });
    expect(control.events[0]).toMatchObject({ id: 'ext-7', name: 'ticket.created', payload: { id: 7 } });
  });
});

describe('openclaw state', () => {
  beforeEach(() => {
    control.commitState('monitor', { checks: 1 }, Date.UTC(2026, 3, 18, 14, 20));
    control.commitState('monitor', { checks: 2, history: ['up'] }, Date.UTC(2026, 3, 18, 14, 25));
  });

  it("lists versions as the seed's table", async () => {
    const res = await runCli(['state', 'list', 'monitor'], { cwd: project });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        '┌─────────┬──────────────────────┬──────┬──────┐',
        '│ Version │ Timestamp            │ Size │ Keys │',
        '├─────────┼──────────────────────┼──────┼──────┤',
        '│ v2      │ 2026-04-18T14:25:00Z │ 29 B │ 2    │',
        '│ v1      │ 2026-04-18T14:20:00Z │ 12 B │ 1    │',
        '└─────────┴──────────────────────┴──────┴──────┘',
        '',
      ].join('\n'),
    );
  });

  it('rolls back to a version given as v1', async () => {
    const res = await runCli(['state', 'rollback', 'monitor', '--version', 'v1'], { cwd: project });
    expect(res).toMatchObject({ code: 0, stdout: 'Rolled back monitor to v1 (written as v3)\n' });
    expect((await control.getState('monitor')).state).toEqual({ checks: 1 });
  });

  it('exits 1 when the version does not exist', async () => {
    const res = await runCli(['state', 'rollback', 'monitor', '--version', 'v140'], { cwd: project });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('state_version');
  });

  it('exports the state to a file', async () => {
    const res = await runCli(['state', 'export', 'monitor', '--output', 'state.json'], { cwd: project });
    expect(res.code).toBe(0);
    const written = JSON.parse(fs.readFileSync(path.join(project, 'state.json'), 'utf8'));
    expect(written).toEqual({ agent: 'monitor', version: 2, state: { checks: 2, history: ['up'] } });
    expect(res.stdout).toMatch(/^Exported monitor state v2 \(2 keys, .*\) to state\.json\n$/);
  });

  it('gets the state at an earlier version', async () => {
    const res = await runCli(['state', 'get', 'monitor', '--version', 'v1'], { cwd: project });
    expect(JSON.parse(res.stdout)).toEqual({ checks: 1 });
  });
});

describe('openclaw logs', () => {
  it('prints recent lines', async () => {
    control.emitLog({ agent: 'monitor', msg: 'checked 3 targets', time: Date.UTC(2026, 3, 18, 14, 30, 1, 5) });
    const res = await runCli(['logs', 'monitor'], { cwd: project });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('14:30:01.005 INFO    [monitor] checked 3 targets\n');
  });

  it('--follow prints new lines as they come, and exits 0 on Ctrl-C', async () => {
    const run = spawnCli(['logs', 'monitor', '--follow'], { cwd: project });
    while (control.followerCount('monitor') === 0) await new Promise((r) => setTimeout(r, 10));
    control.emitLog({ agent: 'monitor', msg: 'live line' });
    while (!run.stdout().includes('live line')) await new Promise((r) => setTimeout(r, 10));
    run.child.kill('SIGINT');
    const exit = await run.exit;
    expect(exit).toEqual({ code: 0, signal: null });
    while (control.followerCount('monitor') > 0) await new Promise((r) => setTimeout(r, 10));
  });

  it('--follow exits 1 for an unknown agent', async () => {
    const res = await runCli(['logs', 'ghost', '--follow'], { cwd: project });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("agent 'ghost' not found");
  });
});

describe('openclaw init', () => {
  it('creates the project structure', async () => {
    const res = await runCli(['init', 'my-project'], { cwd: tmp });
    expect(res.code).toBe(0);
    const root = path.join(tmp, 'my-project');
    for (const f of ['openclaw.yaml', 'agents/hello.ts', 'tests', 'docker-compose.yml', '.openclaw', '.gitignore']) {
      expect(fs.existsSync(path.join(root, f)), f).toBe(true);
    }
    const config = parseYaml(fs.readFileSync(path.join(root, 'openclaw.yaml'), 'utf8'));
    expect(config).toMatchObject({ project: 'my-project', agents: { hello: { source: 'agents/hello.ts', schedule: 'every 1m' } } });
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8')).toContain('.openclaw/');
  });

  it('writes a package.json that depends on the published SDK, and a tsconfig.json for tsc', async () => {
    const res = await runCli(['init', 'My-Project'], { cwd: tmp });
    expect(res.code).toBe(0);
    const root = path.join(tmp, 'My-Project');
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const own = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'my-project', type: 'module', dependencies: { 'openclaw-runtime': `^${own.version}` } });
    expect(Object.keys(pkg.devDependencies)).toEqual(['typescript', '@types/node']);
    const tsconfig = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
    expect(tsconfig.compilerOptions).toMatchObject({ strict: true, noEmit: true, moduleResolution: 'NodeNext' });
    expect(tsconfig.include).toContain('agents/**/*.ts');
    expect(fs.readFileSync(path.join(root, 'agents', 'hello.ts'), 'utf8')).toContain("from 'openclaw-runtime'");
  });

  it('--sdk points the dependency at a tarball or a built checkout, and refuses anything else', async () => {
    fs.writeFileSync(path.join(tmp, 'openclaw-runtime-9.9.9.tgz'), 'not really a tarball');
    const tgz = await runCli(['init', 'a', '--sdk', 'openclaw-runtime-9.9.9.tgz'], { cwd: tmp });
    expect(tgz.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'a', 'package.json'), 'utf8')).dependencies).toEqual({
      'openclaw-runtime': `file:${path.join(tmp, 'openclaw-runtime-9.9.9.tgz')}`,
    });
    const checkout = path.join(tmp, 'checkout');
    fs.mkdirSync(path.join(checkout, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(checkout, 'package.json'), JSON.stringify({ name: 'openclaw-runtime' }));
    const unbuilt = await runCli(['init', 'b', '--sdk', checkout], { cwd: tmp });
    expect(unbuilt.code).toBe(2);
    expect(unbuilt.stderr).toContain('the checkout is not built');
    fs.writeFileSync(path.join(checkout, 'dist', 'index.js'), '');
    expect((await runCli(['init', 'b', '--sdk', checkout], { cwd: tmp })).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'b', 'package.json'), 'utf8')).dependencies['openclaw-runtime']).toBe(`file:${checkout}`);

    const missing = await runCli(['init', 'c', '--sdk', 'nowhere.tgz'], { cwd: tmp });
    expect(missing.stderr).toMatch(/--sdk nowhere\.tgz: .* does not exist/);
    const other = await runCli(['init', 'c', '--sdk', path.join(tmp, 'a')], { cwd: tmp });
    expect(other.stderr).toContain("is not a checkout of openclaw-runtime (its package.json names a)");
    expect(fs.existsSync(path.join(tmp, 'c'))).toBe(false);
  });

  it('refuses a folder that is not empty', async () => {
    fs.mkdirSync(path.join(tmp, 'taken'));
    fs.writeFileSync(path.join(tmp, 'taken', 'keep.txt'), 'mine');
    const res = await runCli(['init', 'taken'], { cwd: tmp });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('already exists and is not empty');
    expect(fs.readdirSync(path.join(tmp, 'taken'))).toEqual(['keep.txt']);
  });

  it('adds an agent from a template to an initialised project', async () => {
    await runCli(['init', 'p2'], { cwd: tmp });
    const root = path.join(tmp, 'p2');
    const res = await runCli(['agent', 'create', '--name', 'monitor', '--template', 'watchdog'], { cwd: root });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(fs.existsSync(path.join(root, 'agents', 'monitor.ts'))).toBe(true);
    const text = fs.readFileSync(path.join(root, 'openclaw.yaml'), 'utf8');
    const config = parseYaml(text);
    expect(Object.keys(config.agents)).toEqual(['hello', 'monitor']);
    expect(config.agents.monitor.source).toBe('agents/monitor.ts');
    expect(text).toContain('# The control API'); // comments survive
    const again = await runCli(['agent', 'create', '--name', 'monitor', '--template', 'watchdog'], { cwd: root });
    expect(again.code).toBe(1);
  });
});

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
