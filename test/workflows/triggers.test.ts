// Triggers start runs from events (the run input is the event), files arriving in a watched
// directory (each file once, also after a restart) and schedules (claimFire: two trigger sets on
// one store never start a fire time twice).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/scheduler/types.js';
import { Triggers } from '../../src/workflows/triggers.js';
import { waitFor } from '../helpers/project.js';
import { dropSchemas, finished, makeHarness, type Harness } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await dropSchemas();
});

async function setup(yaml: string): Promise<{ h: Harness; start: () => Promise<Triggers> }> {
  const h = await makeHarness('sqlite', yaml);
  cleanups.push(() => h.close());
  const start = async () => {
    const t = new Triggers({ store: h.store, repo: h.repo, engine: h.engine, clock: systemClock, root: h.dir, log: (l, m) => void h.logs.push(`${l}: ${m}`), eventPollMs: 50 }, h.defs);
    await t.start();
    cleanups.push(() => t.stop());
    return t;
  };
  return { h, start };
}

describe('workflow triggers', () => {
  it('an event starts one run with the event as input; events before the first start do not', async () => {
    const { h, start } = await setup(`
  on-order:
    triggers: [{ event: orders.closed }]
    steps:
      - { id: echo, type: shell, env: { ORDER: '\${{ inputs.data.order }}' }, command: 'printf %s "$ORDER"' }
`);
    await h.store.publish([{ id: 'old-1', name: 'orders.closed', payload: { order: 'OLD' }, source: null, createdAt: Date.now() }]);
    await start();
    await h.store.publish([{ id: 'e-1', name: 'orders.closed', payload: { order: 'A-1' }, source: null, createdAt: Date.now() }, { id: 'e-2', name: 'orders.other', payload: {}, source: null, createdAt: Date.now() }]);
    const [run] = await waitFor('a run', async () => {
      const runs = await h.repo.listRuns({ workflow: 'on-order' });
      return runs.length > 0 ? runs : null;
    });
    expect((await finished(h, run.id)).status).toBe('succeeded');
    expect(run.input).toMatchObject({ id: 'e-1', name: 'orders.closed', data: { order: 'A-1' } });
    expect(((await h.repo.getSteps(run.id))[0].output as { stdout: string }).stdout).toBe('A-1');
    // Instead of waiting a while: a later matching event proves the trigger read past e-2.
    await h.store.publish([{ id: 'e-3', name: 'orders.closed', payload: { order: 'A-3' }, source: null, createdAt: Date.now() }]);
    const runs = await waitFor('the run for e-3', async () => {
      const all = await h.repo.listRuns({ workflow: 'on-order' });
      return all.length >= 2 ? all : null;
    });
    expect(runs.map((r) => (r.input as { id: string }).id).sort()).toEqual(['e-1', 'e-3']);
  });

  it('a file arriving in the watched directory starts a run once, also after a restart', async () => {
    const { h, start } = await setup(`
  ingest:
    triggers: [{ files: { dir: inbox, pattern: '*.csv' } }]
    steps:
      - { id: count, type: shell, env: { F: '\${{ inputs.path }}' }, command: 'wc -l < "$F"' }
`);
    const t1 = await start();
    fs.writeFileSync(path.join(h.dir, 'inbox', 'a.csv'), 'x\ny\n');
    fs.writeFileSync(path.join(h.dir, 'inbox', 'skip.txt'), 'no');
    const [run] = await waitFor('a run for a.csv', async () => {
      const runs = await h.repo.listRuns({ workflow: 'ingest' });
      return runs.length > 0 ? runs : null;
    });
    expect(run.input).toMatchObject({ name: 'a.csv' });
    expect(((await h.repo.getSteps((await finished(h, run.id)).id))[0].output as { stdout: string }).stdout.trim()).toBe('2');
    await t1.stop();
    await start(); // sees a.csv again on its initial scan
    // Instead of waiting a while: a later file proves the restarted trigger has looked at the inbox.
    fs.writeFileSync(path.join(h.dir, 'inbox', 'b.csv'), 'z\n');
    const runs = await waitFor('the run for b.csv', async () => {
      const all = await h.repo.listRuns({ workflow: 'ingest' });
      return all.some((r) => (r.input as { name: string }).name === 'b.csv') ? all : null;
    });
    expect(runs.map((r) => (r.input as { name: string }).name).sort()).toEqual(['a.csv', 'b.csv']);
  });

  it('a schedule fires each time once, even with two trigger sets on one store', async () => {
    const { h, start } = await setup(`
  tick:
    triggers: [{ schedule: 'every 300ms' }]
    steps:
      - { id: t, type: shell, command: 'true' }
`);
    await Promise.all([start(), start()]);
    const runs = await waitFor('three runs', async () => {
      const r = await h.repo.listRuns({ workflow: 'tick', limit: 100 });
      return r.length >= 3 ? r : null;
    }, 20_000);
    const fireTimes = runs.map((r) => r.trigger.fireAt);
    expect(new Set(fireTimes).size).toBe(fireTimes.length);
    expect(runs.every((r) => r.trigger.type === 'schedule')).toBe(true);
  });
});
