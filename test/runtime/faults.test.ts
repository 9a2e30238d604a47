// A misbehaving agent is contained and reported; its neighbours keep running.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRuntime } from '../../src/runtime/index.js';
import type { Runtime, InstanceHandle } from '../../src/runtime/index.js';
import type { Invocation } from '../../src/runtime/protocol.js';
import { RecordingListener, fixture, processAlive, spec } from './harness.js';

let n = 0;
const run = (payload?: unknown): Invocation => ({ runId: `f-${++n}`, kind: 'run', versions: {}, payload });
/** Starts a run that is not expected to finish; its rejection (instance gone) is expected. */
const fireAndForget = (h: InstanceHandle, payload: unknown) => void h.invoke(run(payload)).catch(() => {});

describe('faults in module agents', () => {
  const listener = new RecordingListener();
  let rt: Runtime;
  let neighbour: InstanceHandle;

  beforeAll(async () => {
    rt = createRuntime(listener);
    neighbour = await rt.startAgent(spec('neighbour', 'basic.ts'));
  });
  afterAll(() => rt.shutdown());

  async function neighbourStillRuns(pid: number): Promise<void> {
    expect(neighbour.pid).toBe(pid);
    expect(processAlive(pid)).toBe(true);
    const r = await neighbour.invoke({ runId: `nb-${++n}`, kind: 'run', versions: {} });
    expect(r.ok).toBe(true);
  }

  it('process.exit() in a worker ends only that instance ("exited"); the host and a neighbour keep running', async () => {
    const h = await rt.startAgent(spec('exiter', 'misbehaving.ts'));
    expect(h.pid).toBe(neighbour.pid);
    await expect(h.invoke(run({ mode: 'exit' }))).rejects.toThrow(/instance exiter#0 is gone \(exited/);
    expect(await h.exited).toMatchObject({ reason: 'exited', exitCode: 3 });
    await neighbourStillRuns(h.pid);
  });

  it('an unhandled rejection is not silent: the instance ends as "crashed" with the reason', async () => {
    const h = await rt.startAgent(spec('rejecter', 'misbehaving.ts'));
    fireAndForget(h, { mode: 'reject' });
    const exit = await h.exited;
    expect(exit.reason).toBe('crashed');
    expect(exit.message).toMatch(/unhandled promise rejection: nobody catches this/);
    await neighbourStillRuns(h.pid);
  });

  it('an exception thrown outside a run ends the instance as "crashed"', async () => {
    const h = await rt.startAgent(spec('thrower', 'misbehaving.ts'));
    fireAndForget(h, { mode: 'throwLater' });
    expect(await h.exited).toMatchObject({ reason: 'crashed', message: expect.stringMatching(/thrown from a timer/) });
  });

  it('a busy loop makes liveness fail, and kill() ends it', async () => {
    const h = await rt.startAgent(spec('spinner', 'misbehaving.ts', { heartbeatTimeoutMs: 1500 }));
    expect(await h.probe('liveness', 2000)).toBe(true);
    fireAndForget(h, { mode: 'busy' });
    await vi.waitFor(async () => expect(await h.probe('liveness', 1000)).toBe(false), { timeout: 10_000, interval: 100 });
    expect(await h.probe('readiness', 300)).toBe(false); // the worker cannot answer
    await h.kill('liveness failed');
    expect(await h.exited).toMatchObject({ reason: 'killed' });
    await neighbourStillRuns(h.pid);
  });

  it('unbounded Buffer allocation (outside the V8 heap) is caught by the hard limit → "oom"', async () => {
    const h = await rt.startAgent(spec('leaker', 'misbehaving.ts', { memory: { hardBytes: 256 * 2 ** 20 } }));
    await h.invoke(run({ mode: 'buffers' }));
    const exit = await h.exited;
    expect(exit.reason).toBe('oom');
    expect(exit.message).toMatch(/over the hard limit of 256 MB/);
    await neighbourStillRuns(h.pid);
  });

  it('going over the soft limit is reported to the daemon, which decides (the instance keeps running)', async () => {
    const h = await rt.startAgent(spec('holder', 'misbehaving.ts', { memory: { softBytes: 64 * 2 ** 20, hardBytes: 1024 * 2 ** 20 } }));
    await h.invoke(run({ mode: 'hold' }));
    await vi.waitFor(() => expect(listener.softLimits).toContain('holder#0'), { timeout: 10_000 });
    expect(listener.softLimits.filter((i) => i === 'holder#0')).toHaveLength(1);
    expect(await h.probe('liveness', 2000)).toBe(true);
    await h.kill('done');
  });

  it('a V8 heap blow-up hits the heap cap → "oom"', async () => {
    const h = await rt.startAgent(spec('hog', 'misbehaving.ts', { memory: { heapMb: 48 } }));
    fireAndForget(h, { mode: 'heap' });
    const exit = await h.exited;
    expect(exit.reason).toBe('oom');
    expect(exit.message).toMatch(/heap limit/);
    await neighbourStillRuns(h.pid);
  });

  it('this.signal fires at the invocation deadline and on abort()', async () => {
    const h = await rt.startAgent(spec('waiter', 'misbehaving.ts'));
    const timedOut = await h.invoke({ ...run({ mode: 'waitAbort' }), deadlineMs: 200 });
    expect(timedOut.writes).toEqual([{ namespace: 'waiter', key: 'abortedBecause', value: expect.stringMatching(/passed its deadline/) }]);
    const pending = h.invoke(run({ mode: 'waitAbort' }));
    await vi.waitFor(async () => expect(await h.probe('liveness', 1000)).toBe(true));
    h.abort('draining for restart');
    expect((await pending).writes).toEqual([{ namespace: 'waiter', key: 'abortedBecause', value: 'draining for restart' }]);
    await h.dispose();
  });

  it('a log flood is rate-limited in the worker and the drops are counted', async () => {
    const h = await rt.startAgent(spec('flooder', 'misbehaving.ts', { maxLogLinesPerSecond: 100 }));
    const r = await h.invoke(run({ mode: 'flood', lines: 20_000 }));
    expect(r.ok).toBe(true);
    const lines = () => listener.logs.filter((l) => l.instance === 'flooder#0').length;
    await vi.waitFor(() => expect(lines() + listener.dropped).toBe(20_000));
    expect(listener.dropped).toBeGreaterThan(0);
    expect(lines()).toBeLessThan(20_000);
    await h.kill('done');
  });
});

describe('isolation', () => {
  const listener = new RecordingListener();
  let rt: Runtime;
  beforeAll(() => {
    rt = createRuntime(listener);
  });
  afterAll(() => rt.shutdown());

  it('dedicated instances share a host process; a process-isolated one gets its own', async () => {
    const a = await rt.startAgent(spec('a', 'basic.ts'));
    const b = await rt.startAgent(spec('b', 'basic.ts'));
    const p = await rt.startAgent(spec('p', 'basic.ts', { isolation: 'process' }));
    expect(a.pid).toBe(b.pid);
    expect(p.pid).not.toBe(a.pid);
    expect(p.pid).not.toBe(process.pid);
    await p.kill('test');
    expect(await p.exited).toMatchObject({ reason: 'killed' });
    await vi.waitFor(() => expect(processAlive(p.pid)).toBe(false));
    expect(processAlive(a.pid)).toBe(true);
  });

  it('shared instances are packed into the shared workers and run side by side', async () => {
    const s1 = await rt.startAgent(spec('s1', 'basic.ts', { isolation: 'shared' }));
    const s2 = await rt.startAgent(spec('s2', 'basic.ts', { isolation: 'shared' }));
    const s3 = await rt.startAgent(spec('s3', 'basic.ts', { isolation: 'shared' }));
    const results = await Promise.all([s1, s2, s3].map((h, i) => h.invoke({ runId: `s-${i}`, kind: 'run', versions: {} })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => r.writes.find((w) => w.key === 'count')!.namespace)).toEqual(['s1', 's2', 's3']);
    await s2.kill('test');
    expect((await s2.exited).reason).toBe('killed');
    expect((await s1.invoke({ runId: 's-x', kind: 'run', versions: {} })).ok).toBe(true);
    expect((await s3.invoke({ runId: 's-y', kind: 'run', versions: {} })).ok).toBe(true);
  });

  it('a host whose process dies reports its instances as "host_died"', async () => {
    const p = await rt.startAgent(spec('victim', 'basic.ts', { isolation: 'process' }));
    process.kill(p.pid, 'SIGKILL');
    expect(await p.exited).toMatchObject({ reason: 'host_died', signal: 'SIGKILL' });
  });
});

describe('host lifetime', () => {
  it('a host exits when its parent (the daemon) is killed with SIGKILL', async () => {
    const parent = spawn(process.execPath, ['--import', 'tsx', fixture('host-parent.ts'), fixture('basic.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: parent.stdout! }).once('line', resolve);
        parent.once('exit', (code) => reject(new Error(`parent exited early with ${code}`)));
      });
      const { hostPid } = JSON.parse(first) as { hostPid: number };
      expect(processAlive(hostPid)).toBe(true);
      parent.kill('SIGKILL');
      await vi.waitFor(() => expect(processAlive(hostPid)).toBe(false), { timeout: 15_000, interval: 100 });
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
