// Issue 9, item 3: with no other agent active, one run enqueues 50,000 no-op jobs (50 ×
// enqueueBatch of 1,000) for a @job handler with default settings. On the old main the queue
// sat at 10 active for tens of seconds: the daemon grouped the run's intents by copying the list
// once per intent (quadratic), twice per commit — the second time after the commit, before the
// queue's wake-up — blocking its event loop (40 s on a quiet machine at 50,000, 250 s at load 19).
//
// Here the daemon's clock is a FakeClock that never moves, so no timer of the runner (safety
// poll, delayed-job timer, rate-limit refill, heartbeat) can fire: the jobs run through the
// wake-ups alone (the commit's wake-up, then each freed slot claiming again on the next turn).
// 100 batches instead of 50 make the old quadratic cost (about 4× the 50,000 case: 160 s on a
// quiet machine) unmistakable against the bound below; the linear path took 57 s at load 27.
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { JobsModule } from '../../src/jobs/module.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { FakeClock } from '../helpers/fake-clock.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let daemon: Daemon | null = null;
afterAll(async () => {
  await daemon?.shutdown('test end');
});

describe('job runner wake-ups', () => {
  it('starts draining 100,000 jobs enqueued in one run at once, with a clock that never advances', async () => {
    const clock = new FakeClock();
    const { configFile } = makeProject({ agents: `  producer:\n    source: ${path.join(here, 'fixtures', 'producer.ts')}\n` });
    const mod = new JobsModule();
    daemon = await Daemon.start(await loadConfig(configFile), { modules: [mod], listen: false, clock });
    const d = daemon;
    await waitFor('producer running', async () => (await d.getAgent('producer')).status === 'running', 60_000);
    const start = clock.now();
    await d.trigger('producer', { batches: 100 });
    const svc = mod.service!;
    const noop = async () => (await svc.store.stats()).find((s) => s.queue === 'noop');
    // The whole batch committed with the run, and the queue drains past the first claims.
    const s = await waitFor('1,000 of 100,000 jobs completed', async () => {
      const q = await noop();
      return q && q.completed >= 1000 ? q : null;
    }, 120_000, 100);
    expect(s.completed + s.active + s.waiting).toBe(100_000);
    expect(s.dead).toBe(0);
    // The clock never moved: nothing here was woken by a timer.
    expect(clock.now()).toBe(start);
  }, 180_000);
});
