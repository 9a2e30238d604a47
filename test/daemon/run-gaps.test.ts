// Issue 9, item 5: run-transaction gaps of the agent controller.
//  - A scheduled or manual run whose commit conflicts every time (a hot key written elsewhere) is
//    recorded as failed; it never takes the instance down (the old code killed it after 3 retries).
//  - A run that fails does not lose the other runs in flight on its instance: the instance is
//    taken out of admission and drained before it is replaced (the old code killed it at once, so
//    an event handler in flight was lost and redelivered as attempt 2).
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { openStore } from '../../src/store/index.js';
import type { RunCommit, Store } from '../../src/store/types.js';
import { StateConflictError } from '../../src/util/errors.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

/** A real SQLite store whose run commits conflict while `conflicting` is on. */
async function conflictingStore(file: string) {
  const store = await openStore({ kind: 'sqlite', path: file });
  const ctl = { conflicting: false, attempts: 0 };
  const proxy = new Proxy(store, {
    get(target, key) {
      if (key === 'commitRun') {
        return (c: RunCommit) => {
          if (ctl.conflicting && (c.run?.trigger === 'manual' || c.run?.trigger === 'schedule')) {
            ctl.attempts++;
            return Promise.reject(new StateConflictError('inflight', 'runs'));
          }
          return target.commitRun(c);
        };
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store;
  return { store: proxy, ctl };
}

async function boot(store?: Store) {
  const { dir, configFile } = makeProject({ agents: `  inflight:\n    source: ${fixture('inflight.ts')}\n    permissions: { write: [gates] }\n` }); // its gate files
  const d = await Daemon.start(await loadConfig(configFile), { listen: false, ...(store ? { store } : {}) });
  daemons.push(d);
  await waitFor('agent running', async () => (await d.getAgent('inflight')).status === 'running', 60_000);
  return { d, dir };
}

describe('run-transaction gaps', () => {
  it('a run that conflicts on every commit is recorded as failed and the instance keeps running', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-gaps-')), 'state.db');
    const { store, ctl } = await conflictingStore(file);
    await store.migrate();
    const { d } = await boot(store);
    ctl.conflicting = true;
    const { runId } = await d.trigger('inflight', {});
    const settled = await waitFor('the run settled', async () => {
      const run = (await d.listRuns('inflight')).find((r) => r.id === runId);
      return run || (await d.getAgent('inflight')).restarts > 0 ? { run } : null;
    });
    expect(ctl.attempts).toBeGreaterThan(3);
    expect(settled.run).toMatchObject({ status: 'failed', trigger: 'manual' });
    expect(settled.run!.error).toMatch(/state conflict/);
    const view = await d.getAgent('inflight');
    expect([view.status, view.restarts]).toEqual(['running', 0]);
    expect((await d.listTransitions('inflight')).filter((t) => t.to === 'error')).toEqual([]);
    // The same instance commits the next run once the key is quiet.
    ctl.conflicting = false;
    const next = await d.trigger('inflight', {});
    await waitFor('next run succeeded', async () => (await d.listRuns('inflight')).find((r) => r.id === next.runId && r.status === 'succeeded'));
    expect((await d.getState('inflight')).state.runs).toBe(1);
    await store.close();
  });

  it("a failing run waits for the instance's other runs in flight before the instance is replaced", async () => {
    const { d, dir } = await boot();
    const gate = path.join(dir, 'gates', 'gate');
    const started = path.join(dir, 'gates', 'started');
    await d.publishEvent({ name: 'work', data: { gate, started } });
    await waitFor('handler in flight', () => fs.existsSync(started));
    const { runId } = await d.trigger('inflight', { fail: true });
    await waitFor('failed run recorded', async () => (await d.listRuns('inflight')).find((r) => r.id === runId && r.status === 'failed'));
    fs.writeFileSync(gate, '');
    const handled = await waitFor('handler committed', async () => (await d.getState('inflight')).state.handled as { attempt: number } | undefined);
    // Committed by its first attempt: the failing run did not kill it mid-flight.
    expect(handled).toEqual({ attempt: 1 });
    // …and the instance was still replaced for the failed run, once drained.
    await waitFor('instance replaced', async () => (await d.listTransitions('inflight')).some((t) => t.to === 'error' && /run\(\) failed/.test(t.reason)));
    await waitFor('running again', async () => (await d.getAgent('inflight')).status === 'running');
  });
});
