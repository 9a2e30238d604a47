// Command agents: any executable, supervised like systemd supervises a service.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRuntime } from '../../src/runtime/index.js';
import type { CommandAgentSpec, Runtime } from '../../src/runtime/index.js';
import { RecordingListener, processAlive } from './harness.js';

const node = (script: string, over: Partial<CommandAgentSpec> = {}): CommandAgentSpec => ({
  instanceId: 'cmd#0',
  agent: 'cmd',
  replica: 0,
  command: { command: process.execPath, args: ['-e', script], env: { FROM_COMMAND_ENV: 'a' }, cwd: process.cwd() },
  env: { OPENCLAW_AGENT: 'cmd', OPENCLAW_INSTANCE: 'cmd#0' },
  stopTimeoutMs: 5000,
  ...over,
});

describe('command agents', () => {
  const listener = new RecordingListener();
  let rt: Runtime;
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    rt = createRuntime(listener);
    server = http.createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? 200 : req.url === '/teapot' ? 418 : 500;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await rt.shutdown();
    server.close();
  });

  it('turns stdout and stderr lines into log lines and passes the environment', async () => {
    const h = await rt.startCommand(
      node(`console.log('hello ' + process.env.OPENCLAW_AGENT + ' ' + process.env.FROM_COMMAND_ENV); console.error('oops'); process.stdout.write('x'.repeat(100000) + '\\n');`),
    );
    const exit = await h.exited;
    expect(exit).toMatchObject({ reason: 'exited', exitCode: 0 });
    const mine = listener.logs.filter((l) => l.instance === 'cmd#0');
    expect(mine).toContainEqual(expect.objectContaining({ msg: 'hello cmd a', stream: 'stdout', agent: 'cmd' }));
    expect(mine).toContainEqual(expect.objectContaining({ msg: 'oops', stream: 'stderr' }));
    const long = mine.find((l) => l.msg.startsWith('xxx'))!;
    expect(long.msg.length).toBeLessThan(20_000);
    expect(long.msg).toMatch(/truncated/);
  });

  it('floods of output are limited and the drops counted', async () => {
    const before = listener.dropped;
    const h = await rt.startCommand(node(`for (let i = 0; i < 5000; i++) console.log('line ' + i);`, { instanceId: 'flood#0', agent: 'flood' }));
    await h.exited;
    const lines = listener.logs.filter((l) => l.instance === 'flood#0').length;
    await vi.waitFor(() => expect(lines + listener.dropped - before).toBe(5000));
    expect(listener.dropped - before).toBeGreaterThan(0);
  });

  it('HTTP probe: 2xx (or the expected status) is healthy; anything else or no answer is not', async () => {
    const h = await rt.startCommand(node('setInterval(() => {}, 1000)'));
    expect(await h.probe({ http: { url: `${base}/healthz` } }, 2000)).toBe(true);
    expect(await h.probe({ http: { url: `${base}/broken` } }, 2000)).toBe(false);
    expect(await h.probe({ http: { url: `${base}/teapot`, expectStatus: 418 } }, 2000)).toBe(true);
    expect(await h.probe({ http: { url: 'http://127.0.0.1:1/' } }, 2000)).toBe(false);
    await h.stop();
  });

  it('exec probe: exit 0 within the timeout is healthy', async () => {
    const h = await rt.startCommand(node('setInterval(() => {}, 1000)'));
    expect(await h.probe({ exec: { command: 'sh', args: ['-c', 'exit 0'] } }, 2000)).toBe(true);
    expect(await h.probe({ exec: { command: 'sh', args: ['-c', 'exit 3'] } }, 2000)).toBe(false);
    expect(await h.probe({ exec: { command: 'sleep', args: ['10'] } }, 200)).toBe(false);
    expect(await h.probe({ exec: { command: '/no/such/probe', args: [] } }, 2000)).toBe(false);
    await h.stop();
  });

  it('stop() sends SIGTERM to the process group', async () => {
    const h = await rt.startCommand(node('setInterval(() => {}, 1000)'));
    expect(await h.stop()).toMatchObject({ reason: 'killed', signal: 'SIGTERM' });
    expect(processAlive(h.pid)).toBe(false);
  });

  it('a command that ignores SIGTERM is killed with SIGKILL after the stop timeout, children included', async () => {
    const script = `
      process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
      const c = require('node:child_process').spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
      console.log('child ' + c.pid);
      setInterval(() => {}, 1000);`;
    const h = await rt.startCommand(node(script, { instanceId: 'stubborn#0', agent: 'stubborn', stopTimeoutMs: 300 }));
    let childPid = 0;
    await vi.waitFor(() => {
      const line = listener.logs.find((l) => l.instance === 'stubborn#0' && l.msg.startsWith('child '));
      expect(line).toBeDefined();
      childPid = Number(line!.msg.slice(6));
    });
    const exit = await h.stop();
    expect(exit).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
    expect(exit.message).toMatch(/SIGKILL/);
    await vi.waitFor(() => expect(processAlive(childPid)).toBe(false));
    expect(listener.logs).toContainEqual(expect.objectContaining({ instance: 'stubborn#0', msg: 'ignoring SIGTERM' }));
  });

  it('a command that cannot be started gives a clear error', async () => {
    await expect(rt.startCommand(node('', { command: { command: '/no/such/binary', args: [], env: {}, cwd: process.cwd() } }))).rejects.toThrow(
      /cannot start \/no\/such\/binary.*ENOENT/,
    );
  });
});
