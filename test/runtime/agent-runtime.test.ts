import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRuntime, InstanceGoneError, coldStartMs } from '../../src/runtime/index.js';
import type { Runtime, InstanceHandle } from '../../src/runtime/index.js';
import type { Invocation } from '../../src/runtime/protocol.js';
import { SHARED_NAMESPACE } from '../../src/store/types.js';
import { RecordingListener, fixture, spec } from './harness.js';

let n = 0;
const inv = (kind: Invocation['kind'], listener: RecordingListener, agent: string, over: Partial<Invocation> = {}): Invocation => ({
  runId: `run-${++n}`,
  kind,
  versions: listener.versionsOf(agent, SHARED_NAMESPACE),
  ...over,
});

describe('module agents in agent hosts', () => {
  const listener = new RecordingListener();
  let rt: Runtime;
  let basic: InstanceHandle;

  beforeAll(async () => {
    rt = createRuntime(listener);
    basic = await rt.startAgent(spec('basic', 'basic.ts', { config: { greeting: 'hi' } }));
  });
  afterAll(() => rt.shutdown());

  it('describes the class it loaded', () => {
    expect(basic.description).toMatchObject({ className: 'Basic', handlers: [{ event: 'ping', method: 'onPing' }], schedule: null });
    expect(basic.pid).not.toBe(process.pid);
  });

  it('runs setup and returns its buffered writes', async () => {
    const r = await basic.invoke(inv('setup', listener, 'basic'));
    expect(r).toMatchObject({ ok: true, writes: [{ namespace: 'basic', key: 'setupDone', value: true }], emits: [] });
    listener.commit(r.writes);
  });

  it('runs run(): reads see the run\'s own writes; writes, shared writes, emits and reads come back', async () => {
    const r = await basic.invoke(inv('run', listener, 'basic'));
    expect(r.ok).toBe(true);
    const byKey = Object.fromEntries(r.writes.map((w) => [`${w.namespace}/${w.key}`, w]));
    expect(byKey['basic/count']!.value).toBe(1);
    expect(byKey['basic/seen']!.value).toBe(1); // read after write inside the run
    expect(byKey['basic/gone']).toMatchObject({ deleted: true });
    expect(byKey['basic/temp']!.expiresAt).toBeGreaterThan(Date.now() + 9 * 60_000);
    expect(byKey[`${SHARED_NAMESPACE}/shared`]!.value).toBe('hello');
    expect(r.emits).toEqual([{ id: expect.any(String), name: 'ran', data: { n: 1 } }]);
    expect(r.reads).toEqual([{ namespace: 'basic', key: 'count', version: 0 }]);
    listener.commit(r.writes);
    await vi.waitFor(() => {
      expect(listener.logs).toContainEqual(expect.objectContaining({ msg: 'ran', instance: 'basic#0', runId: r.runId, fields: { n: 1, cfg: 'hi' } }));
      expect(listener.logs).toContainEqual(expect.objectContaining({ msg: 'from console', stream: 'stdout' }));
      expect(listener.metricSamples).toContainEqual({ kind: 'counter', name: 'runs', value: 1 });
    });
  });

  it('records the key version a run read (optimistic concurrency)', async () => {
    const r = await basic.invoke(inv('run', listener, 'basic'));
    const committed = listener.state.get('basic')!.get('count')!;
    expect(r.reads).toContainEqual({ namespace: 'basic', key: 'count', version: committed.version });
    expect(r.writes.find((w) => w.key === 'count')!.value).toBe(2);
    listener.commit(r.writes);
  });

  it('calls an event handler with the event', async () => {
    const event = { id: 'e1', name: 'ping', data: { v: 7 }, source: 'api', createdAt: Date.now(), attempt: 2 };
    const r = await basic.invoke(inv('event', listener, 'basic', { method: 'onPing', event }));
    expect(r.ok).toBe(true);
    expect(r.writes).toEqual([{ namespace: 'basic', key: 'lastPing', value: { id: 'e1', v: 7, attempt: 2 } }]);
    expect(r.emits).toEqual([{ id: expect.any(String), name: 'pong', data: { v: 7 } }]);
  });

  it('caches reads until the namespace version moves', async () => {
    listener.commit([{ namespace: 'basic', key: 'k', value: 1 }]);
    const gets = () => listener.calls.filter((c) => c.op === 'state.get' && c.key === 'k').length;
    const before = gets();
    await basic.invoke(inv('run', listener, 'basic', { payload: { read: true } }));
    expect(gets()).toBe(before + 1);
    await basic.invoke(inv('run', listener, 'basic', { payload: { read: true } }));
    expect(gets()).toBe(before + 1); // same version: served from the cache
    listener.commit([{ namespace: 'basic', key: 'other', value: 1 }]);
    await basic.invoke(inv('run', listener, 'basic', { payload: { read: true } }));
    expect(gets()).toBe(before + 2); // version moved: cache dropped
  });

  it('serves a key the instance itself just committed or checkpointed from its cache (no RPC)', async () => {
    const gets = (key: string) => listener.calls.filter((c) => c.op === 'state.get' && c.namespace === 'basic' && c.key === key).length;
    // Run 1 writes count/seen; the daemon commits it and tells the next invocation (commits).
    const r1 = await basic.invoke(inv('run', listener, 'basic'));
    const v1 = listener.commit(r1.writes);
    const before = { count: gets('count'), seen: gets('seen') };
    const r2 = await basic.invoke(inv('run', listener, 'basic', { commits: [{ runId: r1.runId, versions: v1 }] }));
    expect(r2.ok).toBe(true);
    expect(gets('count')).toBe(before.count); // read from the cache: its own write of run 1
    expect(r2.reads).toContainEqual({ namespace: 'basic', key: 'count', version: v1.basic });
    expect(r2.writes.find((w) => w.key === 'count')!.value).toBe((r1.writes.find((w) => w.key === 'count')!.value as number) + 1);
    // A commit the instance did not make moved the version in between: its own writes are not trusted.
    listener.commit(r2.writes);
    listener.commit([{ namespace: 'basic', key: 'count', value: 100 }]);
    const r3 = await basic.invoke(inv('run', listener, 'basic', { commits: [{ runId: r2.runId, versions: { basic: listener.versions.get('basic')! - 1 } }] }));
    expect(gets('count')).toBe(before.count + 1);
    expect(r3.writes.find((w) => w.key === 'count')!.value).toBe(101);
    listener.commit(r3.writes);
    // A checkpoint's writes are read back without an RPC in the same run: the run's first read of
    // count is an RPC (the version moved behind the cache's back), the read after the checkpoint is not.
    const beforeCp = gets('count');
    const cp = await basic.invoke(inv('run', listener, 'basic', { payload: { checkpoint: true, readBack: true } }));
    expect(cp.ok).toBe(true);
    expect(gets('count')).toBe(beforeCp + 1);
  });

  it('checkpoint() commits the buffer so far through the daemon and clears it', async () => {
    const r = await basic.invoke(inv('run', listener, 'basic', { payload: { checkpoint: true } }));
    expect(r.ok).toBe(true);
    const cp = listener.checkpoints.find((c) => c.runId === r.runId)!;
    expect(cp.writes.map((w) => w.key)).toContain('count');
    expect(cp.emits).toHaveLength(1);
    expect(r.writes).toEqual([{ namespace: 'basic', key: 'afterCheckpoint', value: 1 }]);
    expect(r.emits).toEqual([]);
  });

  it('a thrown error gives ok:false, calls onError, and returns nothing of the buffer', async () => {
    const r = await basic.invoke(inv('run', listener, 'basic', { payload: { fail: true } }));
    expect(r).toMatchObject({ ok: false, error: { message: 'boom' }, writes: [], reads: [], emits: [] });
    await vi.waitFor(() => expect(listener.logs).toContainEqual(expect.objectContaining({ msg: 'onError called', fields: { message: 'boom' } })));
  });

  it('rejects emits with an empty name or data that cannot be cloned, with a clear error', async () => {
    const bad = await basic.invoke(inv('run', listener, 'basic', { payload: { badEmit: true } }));
    expect(bad.ok).toBe(false);
    expect(bad.error!.message).toMatch(/emit\('bad'\): data cannot be serialised/);
    const noName = await basic.invoke(inv('run', listener, 'basic', { payload: { badName: true } }));
    expect(noName.error!.message).toMatch(/event name must be a non-empty string/);
  });

  it('refuses an unknown option of state, emit, llm and jobs calls by name, suggesting the right one (issue 14 item 13)', async () => {
    const expected: Record<string, RegExp> = {
      state: /this\.state\.set\('k', value, options\): unknown option expires; valid options: ttl/,
      sharedState: /this\.sharedState\.set\('k', value, options\): unknown option time_to_live; valid options: ttl/,
      emit: /this\.emit\('x', data, options\): unknown option priority; valid options: key/,
      llm: /this\.llm\.complete\(\): unknown option maxTokens; did you mean max_tokens\?/,
      jobs: /this\.jobs\.enqueue: job\.opts: unknown option max_attempts; did you mean maxAttempts\?/,
    };
    for (const [call, message] of Object.entries(expected)) {
      const r = await basic.invoke(inv('run', listener, 'basic', { payload: { badOption: call } }));
      expect(r.ok, call).toBe(false);
      expect(r.error!.message, call).toMatch(message);
    }
  });

  it('reports memory samples', async () => {
    await vi.waitFor(() => expect(listener.memorySamples.get('basic#0')?.hostRss).toBeGreaterThan(0), { timeout: 5000 });
    expect(basic.memory!.heapUsed).toBeGreaterThan(0);
  });

  it("reports a shared worker's memory sample to each instance in it (one message for all of them)", async () => {
    const shared = await Promise.all(['m1', 'm2', 'm3'].map((a) => rt.startAgent(spec(a, 'basic.ts', { isolation: 'shared' }))));
    try {
      await vi.waitFor(() => expect(shared.every((h) => (h.memory?.heapUsed ?? 0) > 0)).toBe(true), { timeout: 10_000 });
      for (const id of ['m1#0', 'm2#0', 'm3#0']) expect(listener.memorySamples.get(id)?.hostRss).toBeGreaterThan(0);
    } finally {
      await Promise.all(shared.map((h) => h.dispose()));
    }
  });

  it('answers liveness and readiness probes', async () => {
    expect(await basic.probe('liveness', 2000)).toBe(true);
    expect(await basic.probe('readiness', 2000)).toBe(true);
  });

  it('starts a second instance fast on a warm host (same pid for dedicated)', async () => {
    const t0 = performance.now();
    const other = await rt.startAgent(spec('basic2', 'basic.ts'));
    const warm = performance.now() - t0;
    expect(other.pid).toBe(basic.pid);
    console.log(`cold start, warm host: ${warm.toFixed(1)} ms (host-measured ${coldStartMs(other)?.toFixed(1)} ms)`);
    await other.dispose();
    expect((await other.exited).reason).toBe('killed');
    await expect(other.invoke(inv('run', listener, 'basic2'))).rejects.toBeInstanceOf(InstanceGoneError);
  });

  it('describes a module without running it', async () => {
    const d = await rt.describe(fixture('described.ts'));
    expect(d).toEqual({
      className: 'Described',
      schedule: { kind: 'every', everyMs: 300_000 },
      handlers: [{ event: 'order_created', method: 'onOrder' }],
      hasLiveness: true,
      hasReadiness: false,
    });
  });

  it('a module that exports no Agent gives a clear error naming the file', async () => {
    const file = fixture('no-agent.ts');
    await expect(rt.describe(file)).rejects.toThrow(file);
    await expect(rt.describe(file)).rejects.toMatchObject({ exitCode: 78 });
    await expect(rt.startAgent(spec('none', 'no-agent.ts'))).rejects.toThrow(/no-agent\.ts.*no Agent subclass|no-agent\.ts.*exports no Agent/);
  });

  it("resolves 'openclaw' to the daemon's SDK for a .ts agent outside any package (no package.json, no node_modules)", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oc-agent-'));
    const file = path.join(dir, 'lonely.ts');
    writeFileSync(file, "import { Agent } from 'openclaw';\nexport default class Lonely extends Agent {\n  override async run(): Promise<void> { await this.state.set('x', 1 as number); }\n}\n");
    const h = await rt.startAgent({ ...spec('lonely', 'basic.ts'), file });
    expect(h.description.className).toBe('Lonely');
    expect((await h.invoke(inv('run', listener, 'lonely'))).writes).toEqual([{ namespace: 'lonely', key: 'x', value: 1 }]);
    await h.dispose();
  });

  it('a module that fails to import gives an error naming the file', async () => {
    await expect(rt.startAgent(spec('missing', 'does-not-exist.ts'))).rejects.toThrow(/does-not-exist\.ts/);
  });
});

describe('cold start', () => {
  it('measures spawn → described for a dedicated TypeScript agent with a fresh host', async () => {
    const listener = new RecordingListener();
    const rt = createRuntime(listener);
    try {
      const t0 = performance.now();
      const h = await rt.startAgent(spec('cold', 'basic.ts'));
      console.log(`cold start, new host: ${(performance.now() - t0).toFixed(1)} ms (worker spawn → described ${coldStartMs(h)?.toFixed(1)} ms)`);
      expect(h.description.className).toBe('Basic');
    } finally {
      await rt.shutdown();
    }
  });
});

describe('idle worker memory', () => {
  const listener = new RecordingListener();
  let rt: Runtime;
  beforeAll(() => {
    rt = createRuntime(listener);
  });
  afterAll(() => rt.shutdown());

  it("collects a worker's load garbage once it is quiet after setup (an idle isolate never would), without giving agent code gc()", async () => {
    const h = await rt.startAgent(spec('garbage', 'boot-garbage.ts'));
    const setup = await h.invoke({ runId: 'r-setup', kind: 'setup', versions: {} });
    expect(setup.ok).toBe(true);
    // Right after setup the dropped objects are still in the heap (setup's own figure)…
    const line = await vi.waitFor(
      () => {
        const l = listener.logs.find((x) => x.instance === 'garbage#0' && x.msg.startsWith('heap after setup: '));
        if (!l) throw new Error('no line from setup yet');
        return l;
      },
      { timeout: 5000 },
    );
    const atSetupEnd = Number(line!.msg.slice('heap after setup: '.length)) / 1048576;
    expect(atSetupEnd).toBeGreaterThan(15);
    // …and a second or so later, with no invocation running, they are gone.
    await vi.waitFor(() => expect(h.memory!.heapUsed / 1048576).toBeLessThan(atSetupEnd - 10), { timeout: 10_000, interval: 100 });
    expect(listener.logs).toContainEqual(expect.objectContaining({ msg: 'gc visible to agent code: undefined' }));
    await h.dispose();
  });
});
