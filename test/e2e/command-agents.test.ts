// Command agents (any executable) under a detached daemon, driven by the CLI: they find the
// daemon through OPENCLAW_URL/OPENCLAW_AGENT, write their state over the control API, their
// stdout/stderr are their logs, an HTTP liveness probe watches them, a kill -9 from outside is
// restarted by policy, and `openclaw stop` escalates SIGTERM to SIGKILL after the stop timeout.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/project.js';
import { haveTool } from '../helpers/services.js';
import type { AgentView } from '../../src/daemon/control.js';
import { alive, apiGet, cleanup, e2eFixture, freePort, openclaw, openclawJson, openclawOk, readDaemonJson, tempDir, trackPid, trackProject, waitGone } from './helpers.js';

const havePython = haveTool('python3', ['-c', 'import urllib.request'], 'python3');

afterAll(cleanup);

interface LogsResponse {
  lines: Array<{ msg: string; stream?: string; level: string; instance: string }>;
}

describe('command agents under a detached daemon', () => {
  let dir: string;
  let probePort: number;
  const cli = (...args: string[]) => openclawOk(args, { cwd: dir });
  const json = <T>(...args: string[]) => openclawJson<T>(args, { cwd: dir });
  const agent = (name: string) => apiGet<AgentView>(dir, `/api/agents/${name}`);
  const logs = async (name: string) => (await apiGet<LogsResponse>(dir, `/api/agents/${name}/logs?limit=1000`)).lines.map((l) => l.msg);
  const runningPid = async (name: string): Promise<number | null> => {
    const a = await agent(name);
    const pid = a.status === 'running' ? a.instances[0].pid : null;
    trackPid(pid);
    return pid;
  };

  beforeAll(async () => {
    dir = trackProject(tempDir());
    probePort = await freePort();
    const node = JSON.stringify(process.execPath);
    const yaml = [
      'project: command-agents',
      'api:',
      '  port: 0',
      'agents:',
      '  node-cmd:',
      `    command: [${node}, ${JSON.stringify(e2eFixture('cmd-agent.mjs'))}]`,
      '    env:',
      `      PROBE_PORT: "${probePort}"`,
      '    health_check:',
      '      liveness:',
      `        http: { port: ${probePort}, path: /health }`,
      '        interval: 400ms',
      '        timeout: 2s',
      '        unhealthy_threshold: 6',
      '    restart_policy: { backoff: immediate, initial_delay: 100ms, max_retries: 50 }',
      '  stubborn:',
      `    command: [${node}, ${JSON.stringify(e2eFixture('cmd-agent.mjs'))}]`,
      '    env: { IGNORE_SIGTERM: "1" }',
      '    graceful_shutdown: { timeout: 1s }',
      ...(havePython ? ['  py-cmd:', '    command: python3', `    args: [${JSON.stringify(e2eFixture('cmd-agent.py'))}]`] : []),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml);
    await cli('daemon', 'start');
    trackPid(readDaemonJson(dir)!.pid);
  });

  /** The running process of node-cmd once it has written its state (so its start is counted). */
  const settledNode = () =>
    waitFor('node-cmd running and its state written', async () => {
      const pid = await runningPid('node-cmd');
      const s = (await apiGet<{ state: { starts?: number; pid?: number; lang?: string } }>(dir, '/api/agents/node-cmd/state')).state;
      return pid && s.pid === pid ? { pid, state: s } : null;
    });

  it('a Node script writes its own state and its stdout/stderr become its logs', async () => {
    const { pid, state } = await settledNode();
    // starts is 1 unless the probe restarted a slow first start; either way the state is its own.
    expect(state).toEqual({ starts: state.starts, pid, lang: 'node' });
    expect(JSON.parse((await cli('state', 'get', 'node-cmd')).stdout)).toEqual(state);

    await waitFor('stderr line logged', async () => (await logs('node-cmd')).includes('node-cmd: a line on stderr'));
    const text = (await cli('logs', 'node-cmd')).stdout;
    expect(text).toMatch(new RegExp(`node-cmd: start #${state.starts} as pid ${pid}, wrote state v\\d+`));
    expect(text).toContain('node-cmd: a line on stderr');
    const lines = (await json<LogsResponse>('logs', 'node-cmd')).lines;
    expect(lines.find((l) => l.msg === 'node-cmd: a line on stderr')).toMatchObject({ stream: 'stderr', instance: 'node-cmd#0' });
    expect(lines.find((l) => l.msg.startsWith(`node-cmd: start #${state.starts} `))).toMatchObject({ stream: 'stdout' });

    // A command agent has no run(): trigger is refused with a clear message.
    const trig = await openclaw(['trigger', 'node-cmd'], { cwd: dir });
    expect(trig.code).not.toBe(0);
    expect(trig.stderr).toMatch(/node-cmd' is a command agent; it has no run\(\) to trigger/);
  });

  it.skipIf(!havePython)('a Python script (urllib only) does the same', async () => {
    const state = await waitFor('py-cmd wrote its state', async () => {
      const s = (await apiGet<{ state: Record<string, unknown> }>(dir, '/api/agents/py-cmd/state')).state;
      return s.lang === 'python' ? s : null;
    });
    const pid = await waitFor('py-cmd running', () => runningPid('py-cmd'));
    expect(state.pid).toBe(pid);
    const got = JSON.parse((await cli('state', 'get', 'py-cmd')).stdout) as Record<string, unknown>;
    expect(got).toMatchObject({ lang: 'python', pid });
    await waitFor('python lines logged', async () => (await logs('py-cmd')).includes('py-cmd: python stderr line'));
    const text = (await cli('logs', 'py-cmd')).stdout;
    expect(text).toMatch(new RegExp(`py-cmd: hello from python pid ${pid}, state v1`));
    expect(text).toContain('py-cmd: python stderr line');
  });

  it('an HTTP liveness probe reaches the port the script serves, and a failing probe restarts it', async () => {
    await waitFor('a probe reached /health', async () => (await logs('node-cmd')).includes('node-cmd: first health probe'));
    const { pid: before } = await settledNode();
    const restartsBefore = (await agent('node-cmd')).restarts;

    const res = await fetch(`http://127.0.0.1:${probePort}/sick`, { method: 'POST' });
    expect(res.status).toBe(200);
    const after = await waitFor('restarted after failing probes', async () => {
      const a = await agent('node-cmd');
      const pid = a.status === 'running' ? a.instances[0].pid : null;
      trackPid(pid);
      return pid && pid !== before ? a : null;
    });
    expect(after.restarts).toBeGreaterThan(restartsBefore);
    expect(after.instances[0].lastError).toMatch(/liveness probe failed 6 times in a row/);
    await waitGone(before, 'the sick node-cmd');
    const lines = await logs('node-cmd');
    expect(lines.some((l) => /liveness probe failed \(6\/6\)/.test(l))).toBe(true);
  });

  it('a kill -9 from outside is restarted by policy: new pid, restarts counted, state kept', async () => {
    const { pid: before, state: settled } = await settledNode();
    const { restarts } = await agent('node-cmd');
    const starts = settled.starts!;

    process.kill(before, 'SIGKILL');
    const after = await waitFor('node-cmd restarted with a new pid', async () => {
      const pid = await runningPid('node-cmd');
      return pid && pid !== before ? pid : null;
    });
    expect(alive(before)).toBe(false);
    const view = await agent('node-cmd');
    expect(view.restarts).toBeGreaterThanOrEqual(restarts + 1);
    expect(view.instances[0].lastError).toMatch(/exited \(signal SIGKILL\)/);
    // The new process read its old state and counted one more start.
    const state = await waitFor('the new process wrote its state', async () => {
      const s = (await apiGet<{ state: { starts: number; pid: number } }>(dir, '/api/agents/node-cmd/state')).state;
      return s.pid === after ? s : null;
    });
    expect(state.starts).toBe(starts + 1);
  });

  it('`openclaw stop` sends SIGTERM, and SIGKILLs a script that ignores it after graceful_shutdown.timeout', async () => {
    const pid = (await waitFor('stubborn running', () => runningPid('stubborn')))!;
    await waitFor('stubborn set up its SIGTERM handler', async () => (await logs('stubborn')).some((l) => l.startsWith('stubborn: start #1')));

    const stop = await cli('stop', 'stubborn');
    expect(stop.stdout).toBe('Stopped stubborn (status: stopped)\n');
    // It ignored SIGTERM, so only SIGKILL can have ended it, and `stop` waited for that.
    expect(alive(pid)).toBe(false);
    const lines = await logs('stubborn');
    expect(lines).toContain('stubborn: got SIGTERM, ignoring it');
    expect(lines.some((l) => /killed with SIGKILL: still running 1000 ms after SIGTERM/.test(l))).toBe(true);
    const view = await agent('stubborn');
    expect(view).toMatchObject({ status: 'stopped', desired: 'stopped' });
    expect(view.instances[0].pid).toBeNull();

    // A well-behaved script exits on SIGTERM by itself.
    const nodePid = (await waitFor('node-cmd running', () => runningPid('node-cmd')))!;
    await cli('stop', 'node-cmd');
    expect(alive(nodePid)).toBe(false);
    expect(await logs('node-cmd')).toContain('node-cmd: got SIGTERM, exiting');
    expect((await logs('node-cmd')).some((l) => /SIGKILL: still running/.test(l))).toBe(false);

    // start brings it back.
    await cli('start', 'stubborn');
    const second = await waitFor('stubborn running again', async () => {
      const p = await runningPid('stubborn');
      return p && p !== pid ? p : null;
    });
    // Its SIGTERM handler is in place once it has logged its start.
    await waitFor('stubborn set up again', async () => (await logs('stubborn')).some((l) => l.startsWith(`stubborn: start #2 as pid ${second}`)));

    // restart: the same escalation, then a fresh process.
    const restarted = await cli('restart', 'stubborn');
    expect(restarted.stdout).toMatch(/^Restarted stubborn \(status: (running|initializing)\)/);
    expect(alive(second)).toBe(false);
    await waitFor('stubborn running after restart', async () => {
      const p = await runningPid('stubborn');
      return p && p !== second;
    });
    expect((await logs('stubborn')).filter((l) => /killed with SIGKILL/.test(l)).length).toBe(2);
  });

  it('daemon stop ends every command agent (and SIGKILLs the stubborn one)', async () => {
    const info = readDaemonJson(dir)!;
    const pids = (await apiGet<{ agents: AgentView[] }>(dir, '/api/agents')).agents.flatMap((a) => a.instances.map((i) => i.pid)).filter((p): p is number => p != null);
    for (const p of pids) trackPid(p);
    expect(pids.length).toBeGreaterThanOrEqual(1);
    expect((await cli('daemon', 'stop')).stdout).toBe('Daemon stopped\n');
    expect(alive(info.pid)).toBe(false);
    for (const p of pids) await waitGone(p, 'command agent');
    expect(readDaemonJson(dir)).toBeNull();
  });
});
