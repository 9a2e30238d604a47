// The detached daemon driven by the real CLI, as a user would: `openclaw init`, `agent create`,
// `daemon start`, status/trigger/state/pause/resume/logs, `daemon status`, `daemon stop` — and
// the failures a user meets first (a second daemon, a bad config, no daemon at all).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/project.js';
import type { AgentView } from '../../src/daemon/control.js';
import { alive, apiGet, cleanup, type DaemonInfo, descendants, openclaw, openclawJson, openclawOk, readDaemonJson, tempDir, trackPid, trackProject, waitGone } from './helpers.js';

afterAll(cleanup);

describe('a detached daemon, driven by the CLI', () => {
  // One daemon for the steps below, which run in order and build on each other.
  let root: string;
  let dir: string;
  let info: DaemonInfo;
  const cli = (...args: string[]) => openclawOk(args, { cwd: dir });
  const json = <T>(...args: string[]) => openclawJson<T>(args, { cwd: dir });
  const state = async () => (await apiGet<{ state: { runs?: number } }>(dir, '/api/agents/hello/state')).state;
  const SLOW = { timeout: 120_000 };

  beforeAll(async () => {
    root = tempDir();
    await openclawOk(['init', 'fleet'], { cwd: root });
    dir = trackProject(path.join(root, 'fleet'));
    // hello is scheduled every 1m by init; the steps below count its runs and state versions, so
    // it runs only when triggered (a wall-clock run mid-test once made "expected v6, got v7").
    const yamlFile = path.join(dir, 'openclaw.yaml');
    const yaml = fs.readFileSync(yamlFile, 'utf8');
    expect(yaml).toContain('    schedule: every 1m\n');
    fs.writeFileSync(yamlFile, yaml.replace('    schedule: every 1m\n', ''));
    // A second agent from a template: scheduled daily, so it never runs during the test.
    await openclawOk(['agent', 'create', '--name', 'daily', '--template', 'scheduled-report'], { cwd: dir });
  });

  it('daemon start detaches; a second daemon for the project is refused', SLOW, async () => {
    // --port 0: the project from `init` leaves api.port at its default; tests run in parallel.
    const start = await cli('daemon', 'start', '--port', '0');
    expect(start.stdout).toMatch(/Daemon started \(pid \d+\); control API on http:\/\/127\.0\.0\.1:\d+/);
    info = readDaemonJson(dir)!;
    expect(info).not.toBeNull();
    trackPid(info.pid);
    expect(alive(info.pid)).toBe(true);
    // Idle memory: the daemon runs with a young generation capped at 1 MB, two V8 background
    // threads and two malloc arenas (src/daemon/process-tuning.ts).
    expect(fs.readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--v8-pool-size=2']));
    expect(fs.readFileSync(`/proc/${info.pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    expect(start.stdout).toContain(info.url);

    const second = await openclaw(['daemon', 'start', '--port', '0'], { cwd: dir });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`a daemon for this project is already running (pid ${info.pid}`);
    expect(second.stderr).toContain('openclaw daemon stop');
    expect(readDaemonJson(dir)!.pid).toBe(info.pid);
    expect(alive(info.pid)).toBe(true);

    // Nor does a foreground daemon (`dev`, `daemon run`) start next to it: it would run every
    // agent a second time on the same store and take daemon.json over.
    const [dev, run] = await Promise.all([openclaw(['dev', '--port', '0'], { cwd: dir }), openclaw(['daemon', 'run', '--port', '0', '--quiet'], { cwd: dir })]);
    for (const r of [dev, run]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`openclaw: a daemon for this project is already running (pid ${info.pid}, ${info.url})`);
    }
    expect(readDaemonJson(dir)).toMatchObject({ pid: info.pid, url: info.url });
    expect((await apiGet<{ pid: number }>(dir, '/api/health')).pid).toBe(info.pid);
  });

  it('status prints the box table with every agent, and --json parses', SLOW, async () => {
    await waitFor('both agents running', async () => {
      const res = await apiGet<{ agents: AgentView[] }>(dir, '/api/agents');
      for (const a of res.agents) for (const i of a.instances) trackPid(i.pid);
      return res.agents.length === 2 && res.agents.every((a) => a.status === 'running');
    });
    const [table, res] = await Promise.all([cli('status'), json<{ agents: AgentView[] }>('status')]);
    expect(res.agents.map((a) => [a.name, a.status]).sort()).toEqual([
      ['daily', 'running'],
      ['hello', 'running'],
    ]);
    const out = table.stdout;
    expect(out).toMatch(/^┌─+┬/);
    expect(out).toMatch(/│ Agent +│ Status +│ Uptime +│ Last Run +│ Success Rate +│/);
    expect(out).toMatch(/│ hello +│ running +│/);
    expect(out).toMatch(/│ daily +│ running +│/);
    expect(out.trimEnd()).toMatch(/└─+┴.*┘$/);
  });

  it('trigger runs the agent; state list/get/rollback/export show and restore its versions', SLOW, async () => {
    expect((await cli('trigger', 'hello')).stdout).toMatch(/^Triggered hello \(run [0-9a-f-]{36}\)/);
    await waitFor('run 1 in state', async () => (await state()).runs === 1);
    for (let n = 2; n <= 3; n++) {
      await cli('trigger', 'hello');
      await waitFor(`run ${n} in state`, async () => (await state()).runs === n);
    }
    const [versions, listed, current, v1, key] = await Promise.all([
      json<{ versions: Array<{ version: number; keyCount: number }> }>('state', 'list', 'hello'),
      cli('state', 'list', 'hello'),
      cli('state', 'get', 'hello'),
      cli('state', 'get', 'hello', '--version', 'v1'),
      cli('state', 'get', 'hello', '--key', 'runs'),
    ]);
    expect(versions.versions.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(listed.stdout).toMatch(/│ Version +│ Timestamp +│ Size +│ Keys +│/);
    expect(listed.stdout).toMatch(/│ v3 +│/);
    expect(listed.stdout).toMatch(/│ v1 +│/);
    expect(JSON.parse(current.stdout)).toEqual({ runs: 3 });
    expect(JSON.parse(v1.stdout)).toEqual({ runs: 1 });
    expect(key.stdout.trim()).toBe('3');

    // rollback writes the old contents as a new version; the next run builds on it.
    expect((await cli('state', 'rollback', 'hello', '--version', 'v1')).stdout).toMatch(/Rolled back hello to v1 \(written as v4\)/);
    expect(await state()).toEqual({ runs: 1 });
    await cli('trigger', 'hello');
    await waitFor('run after rollback', async () => (await state()).runs === 2);

    // export to a file, relative to the cwd.
    const exported = await cli('state', 'export', 'hello', '--output', 'out/hello.json');
    expect(exported.stdout).toMatch(/Exported hello state v5 \(1 key, .*\) to out\/hello\.json/);
    const file = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'hello.json'), 'utf8')) as unknown;
    expect(file).toEqual({ agent: 'hello', version: 5, state: { runs: 2 } });
  });

  it('pause holds runs back until resume', SLOW, async () => {
    expect((await cli('pause', 'hello')).stdout).toBe('Paused hello (status: paused)\n');
    const [paused, refused] = await Promise.all([json<{ agents: AgentView[] }>('status'), openclaw(['trigger', 'hello'], { cwd: dir })]);
    expect(paused.agents.find((a) => a.name === 'hello')!.status).toBe('paused');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot run now: paused/);
    expect((await cli('resume', 'hello')).stdout).toBe('Resumed hello (status: running)\n');
    await cli('trigger', 'hello');
    await waitFor('run after resume', async () => (await state()).runs === 3);
  });

  it('logs shows the lines the agent logged', SLOW, async () => {
    // The init template greets with its run count: 1, 2, 3, then 2 and 3 again after the rollback.
    await waitFor('the last greeting in the logs', async () => {
      const res = await apiGet<{ lines: Array<{ msg: string }> }>(dir, '/api/agents/hello/logs');
      return res.lines.filter((l) => l.msg === 'Hello from run 3').length === 2;
    });
    const [text, lines] = await Promise.all([cli('logs', 'hello'), json<{ lines: Array<{ agent: string; msg: string }> }>('logs', 'hello')]);
    expect(text.stdout).toMatch(/INFO +\[hello\] Hello from run 1/);
    expect(text.stdout).toMatch(/Hello from run 2/);
    expect(lines.lines.filter((l) => l.msg.startsWith('Hello from run')).map((l) => l.msg)).toEqual([
      'Hello from run 1',
      'Hello from run 2',
      'Hello from run 3',
      'Hello from run 2',
      'Hello from run 3',
    ]);
  });

  it('daemon status reports it; daemon stop drains: no daemon, no agent host, no daemon.json', SLOW, async () => {
    const [ds, dsJson, status] = await Promise.all([
      cli('daemon', 'status'),
      json<{ running: boolean; pid: number; health: { status: string; agents: { running: number } } }>('daemon', 'status'),
      json<{ agents: AgentView[] }>('status'),
    ]);
    expect(ds.stdout).toContain(`Daemon running (pid ${info.pid}) at ${info.url}`);
    expect(ds.stdout).toMatch(/health: ok; agents running 2\/2/);
    expect(dsJson).toMatchObject({ running: true, pid: info.pid, health: { status: 'ok', agents: { running: 2 } } });

    const hosts = descendants(info.pid);
    const agentPids = status.agents.flatMap((a) => a.instances.map((i) => i.pid!));
    for (const pid of hosts) trackPid(pid);
    expect(agentPids.length).toBe(2);
    for (const pid of agentPids) expect(hosts).toContain(pid);
    // Agent hosts run with two malloc arenas (src/runtime/sandbox.ts), as the daemon does.
    for (const pid of agentPids) expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    expect((await cli('daemon', 'stop')).stdout).toBe('Daemon stopped\n');
    expect(alive(info.pid)).toBe(false);
    for (const pid of [...hosts, ...agentPids]) await waitGone(pid, 'agent host');
    expect(fs.existsSync(path.join(dir, '.openclaw', 'daemon.json'))).toBe(false);
    const log = fs.readFileSync(path.join(dir, '.openclaw', 'daemon.log'), 'utf8');
    expect(log).toMatch(/SIGTERM, draining agents/);
    expect(log).toMatch(/openclaw: stopped/);
    // A clean drain is routine: the agent's log file records it at info, not as a warning.
    const agentLog = fs
      .readFileSync(path.join(dir, '.openclaw', 'logs', 'hello.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    const drained = agentLog.filter((l) => l.msg.startsWith('lifecycle: stopping → stopped'));
    expect(drained.map((l) => [l.level, l.msg])).toEqual([[30, 'lifecycle: stopping → stopped (teardown completed)']]);

    // Afterwards: daemon status and stop say nothing runs.
    const [dsAfter, stopAgain] = await Promise.all([openclaw(['daemon', 'status'], { cwd: dir }), cli('daemon', 'stop')]);
    expect(dsAfter.code).toBe(1);
    expect(dsAfter.stdout).toMatch(/Daemon not running/);
    expect(stopAgain.stdout).toBe('No daemon was running for this project\n');
  });

  it('a new daemon starts where the last one stopped (state versions kept)', SLOW, async () => {
    await cli('daemon', 'start', '--port', '0');
    const next = readDaemonJson(dir)!;
    trackPid(next.pid);
    expect(next.pid).not.toBe(info.pid);
    const again = await json<{ version: number; state: { runs?: number } }>('state', 'get', 'hello');
    expect(again).toMatchObject({ version: 6, state: { runs: 3 } });
    await cli('daemon', 'stop');
    expect(readDaemonJson(dir)).toBeNull();
    expect(alive(next.pid)).toBe(false);
  });
});

describe('failures a user meets first', () => {
  it('daemon start with a bad config exits 78 with the located error, and starts nothing', async () => {
    const dir = trackProject(tempDir());
    fs.writeFileSync(path.join(dir, 'openclaw.yaml'), 'project: bad\napi:\n  port: 0\nagents:\n  a:\n    source: agents/a.ts\n    restart_polcy:\n      backoff: linear\n');
    const r = await openclaw(['daemon', 'start'], { cwd: dir });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/openclaw\.yaml:7/);
    expect(r.stderr).toMatch(/agents\.a\.restart_polcy/);
    expect(r.stderr).toMatch(/restart_policy/);
    expect(fs.existsSync(path.join(dir, '.openclaw', 'daemon.json'))).toBe(false);
    // The refused daemon's log holds the same message; no process is left.
    const pidFile = path.join(dir, '.openclaw', 'daemon.pid');
    if (fs.existsSync(pidFile)) expect(alive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('daemon start with a module that does not load exits 78 and names the agent', async () => {
    const dir = trackProject(tempDir());
    fs.mkdirSync(path.join(dir, 'agents'));
    fs.writeFileSync(path.join(dir, 'agents', 'broken.ts'), 'export const notAnAgent = 1;\n');
    fs.writeFileSync(path.join(dir, 'openclaw.yaml'), 'project: bad\napi:\n  port: 0\nagents:\n  broken:\n    source: agents/broken.ts\n');
    const r = await openclaw(['daemon', 'start'], { cwd: dir });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/openclaw\.yaml:6:13: agents\.broken\.source: agents\/broken\.ts: /);
    expect(r.stderr).not.toContain(dir);
    // Refused before anything was created: not even the detached daemon's log file stays behind.
    expect(fs.existsSync(path.join(dir, '.openclaw'))).toBe(false);
  });

  it('without a daemon, the CLI exits 1 with "no daemon answering"', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'openclaw.yaml'), 'project: idle\nagents: {}\n');
    // A port nothing listens on, so the test does not depend on 8400 being free.
    const r = await openclaw(['status'], { cwd: dir, env: { OPENCLAW_URL: 'http://127.0.0.1:9' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: no daemon answering at http:\/\/127\.0\.0\.1:9 — start one with `openclaw daemon start` \(or `openclaw dev`\)/);
    for (const args of [['logs', 'x'], ['state', 'get', 'x'], ['trigger', 'x']]) {
      const res = await openclaw(args, { cwd: dir, env: { OPENCLAW_URL: 'http://127.0.0.1:9' } });
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/no daemon answering/);
    }
  });
});
