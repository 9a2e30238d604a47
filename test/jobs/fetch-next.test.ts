// Complete-and-fetch-next: the group commit that completes a turn's jobs also claims the queue's
// next jobs, once per batch, in the same transaction (JobStore.claimStep, a BatchStep of the
// group commit). On SQLite and PostgreSQL:
//   - in the store: a batch of completions with one that lost its lease (expired) and one whose
//     lease was cancelled — those two fail alone, the others commit with their state; the claim
//     runs once, counting only the completions that committed, and its jobs are leased;
//     a claim step that throws rolls back alone (the completions still commit);
//   - in a daemon: 600 state-writing jobs run to completion exactly once each, and most of them
//     were claimed by the completing commits, not by claim transactions of their own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { JobStore, jobsStoreModule, type ClaimResult } from '../../src/jobs/store.js';
import { DEFAULT_POLICY, type QueuePolicy } from '../../src/jobs/config.js';
import { normalizeEnqueue } from '../../src/jobs/options.js';
import { LeaseLostError } from '../../src/util/errors.js';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { JobsModule } from '../../src/jobs/module.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { havePostgres, PG_URL, uniqueSchema, dropSchemas } from '../helpers/services.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const pgAvailable = await havePostgres();
const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];
const open: Store[] = [];
let daemons: Daemon[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});
afterAll(() => dropSchemas(schemas));

describe.each(backends)('complete-and-fetch-next on %s', (backend) => {
  const storeChoice = () => {
    const schema = uniqueSchema('oc_fetch');
    schemas.push(schema);
    return { kind: 'postgres' as const, url: PG_URL, schema };
  };

  async function setup() {
    const clock = new FakeClock();
    const store =
      backend === 'sqlite'
        ? await openStore({ kind: 'sqlite', path: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-fetch-')), 'o.db') }, { clock })
        : await openStore(storeChoice(), { clock });
    open.push(store);
    await store.migrateModule(jobsStoreModule);
    const jobs = new JobStore(store.handle(), () => clock.now());
    const p: QueuePolicy = { ...DEFAULT_POLICY, backoff: { ...DEFAULT_POLICY.backoff }, leaseMs: 1000, concurrency: 10 };
    await jobs.enqueue(Array.from({ length: 8 }, (_, i) => normalizeEnqueue({ name: 'q', payload: i })), () => p);
    return { clock, store, jobs, p };
  }

  const completion = (store: Store, jobs: JobStore, j: { id: string; leaseToken: string }, step: ReturnType<JobStore['claimStep']>) =>
    ({ writes: [{ namespace: 'agent', key: `done:${j.id}`, value: 1 }], reads: [], emits: [], effects: [jobs.completeEffect(j.id, j.leaseToken, () => 'ok', false, step)] });

  it('completes a batch and claims the next jobs in the same transaction; lost leases fail alone and are not counted', async () => {
    const { clock, store, jobs, p } = await setup();
    const expired = (await jobs.claim('q', p, 1)).jobs[0]!;
    clock.advance(800);
    const [cancelled, a, b] = (await jobs.claim('q', p, 3)).jobs;
    await jobs.cancel(cancelled!.id);
    clock.advance(300); // `expired`'s lease ended 100 ms ago (nobody reclaimed it); the others hold 500 ms more
    const plans: number[] = [];
    const outcomes: Array<{ claimed: ClaimResult | null; limit: number; committed: boolean }> = [];
    const step = jobs.claimStep('q', p, (n) => (plans.push(n), { limit: n, recover: false }), (claimed, limit, committed) => outcomes.push({ claimed, limit, committed }));
    const settled = await store.commitRuns([expired, a!, cancelled!, b!].map((j) => completion(store, jobs, j, step)));

    expect(settled.map((s) => s.ok)).toEqual([false, true, false, true]);
    expect(settled.filter((s) => !s.ok).every((s) => !s.ok && s.error instanceof LeaseLostError)).toBe(true);
    for (const j of [a!, b!]) {
      expect((await store.getState('agent', `done:${j.id}`))?.value).toBe(1);
      expect((await jobs.get(j.id))?.status).toBe('completed');
    }
    for (const j of [expired, cancelled!]) expect(await store.getState('agent', `done:${j.id}`)).toBeUndefined();
    // One claim for the batch, sized by the two completions that committed.
    expect(plans).toEqual([2]);
    expect(outcomes).toHaveLength(1);
    const { claimed, limit, committed } = outcomes[0]!;
    expect([limit, committed, claimed?.jobs.length]).toEqual([2, true, 2]);
    for (const j of claimed!.jobs) {
      const row = await jobs.get(j.id);
      expect([row?.status, row?.leaseToken, row?.attempts]).toEqual(['active', j.leaseToken, 1]);
    }
    // The expired lease was not recovered by this claim (recover: false) and still counts as active.
    expect((await jobs.get(expired.id))?.status).toBe('active');
  });

  it('a claim step that throws rolls back alone: the completions commit, done gets no claim', async () => {
    const { store, jobs, p } = await setup();
    const [a, b] = (await jobs.claim('q', p, 2)).jobs;
    const outcomes: Array<{ claimed: ClaimResult | null; committed: boolean }> = [];
    const step = jobs.claimStep('q', p, () => {
      throw new Error('planning failed');
    }, (claimed, _limit, committed) => outcomes.push({ claimed, committed }));
    const settled = await store.commitRuns([a!, b!].map((j) => completion(store, jobs, j, step)));
    expect(settled.map((s) => s.ok)).toEqual([true, true]);
    expect(outcomes).toEqual([{ claimed: null, committed: true }]);
    expect((await jobs.stats()).find((s) => s.queue === 'q')).toMatchObject({ completed: 2, active: 0, waiting: 6 });
  });

  it('a daemon runs 600 state-writing jobs exactly once each, most of them claimed by the commits that completed others', async () => {
    const store = backend === 'postgres' ? storeChoice() : undefined;
    const { configFile } = makeProject({ store, agents: `  worker:\n    source: ${path.join(here, 'fixtures', 'worker.ts')}\n` });
    const mod = new JobsModule({ pollMs: 1000 });
    const d = await Daemon.start(await loadConfig(configFile), { modules: [mod], listen: false });
    daemons.push(d);
    await waitFor('worker running', async () => (await d.getAgent('worker')).status === 'running');
    const svc = mod.service!;
    // Count what the runner's own claim transactions lease (the fetch steps are not claim() calls).
    let viaClaim = 0;
    const claim = svc.store.claim.bind(svc.store);
    svc.store.claim = async (...args) => {
      const r = await claim(...args);
      viaClaim += r.jobs.length;
      return r;
    };
    const N = 600;
    const ids = (await svc.enqueue(Array.from({ length: N }, (_, i) => ({ name: 'record', payload: { i } })))).map((r) => r.id);
    await waitFor(`${N} completed`, async () => ((await svc.store.stats()).find((s) => s.queue === 'record')?.completed ?? 0) >= N, 120_000, 50);
    const state = (await d.getState('worker')).state;
    expect(ids.filter((id) => state[`done:${id}`] !== 1)).toEqual([]);
    expect(viaClaim).toBeGreaterThan(0);
    expect(viaClaim).toBeLessThan(N / 2);
  }, 150_000);
});
