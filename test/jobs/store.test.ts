// The job repository on SQLite and PostgreSQL: every feature of the queue at the storage level,
// with time moved by a test clock. Same suite, both dialects (describe.each).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import type { Clock } from '../../src/scheduler/types.js';
import { JobStore, jobsStoreModule } from '../../src/jobs/store.js';
import { DEFAULT_POLICY, backoffDelay, parseRateLimit, type QueuePolicy } from '../../src/jobs/config.js';
import { normalizeEnqueue } from '../../src/jobs/options.js';
import type { EnqueueOptions } from '../../src/jobs/types.js';
import { LeaseLostError } from '../../src/util/errors.js';
import { havePostgres, PG_URL, uniqueSchema, dropSchemas } from '../helpers/services.js';

class TestClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  setTimer(): () => void {
    return () => {};
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const pgAvailable = await havePostgres();
const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];
const open: Store[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
afterAll(() => dropSchemas(schemas));

describe.each(backends)('job store on %s', (backend) => {
  async function setup(policy: Partial<QueuePolicy> = {}) {
    const clock = new TestClock();
    let store: Store;
    if (backend === 'sqlite') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-jobs-'));
      store = await openStore({ kind: 'sqlite', path: path.join(dir, 'o.db') }, { clock });
    } else {
      const schema = uniqueSchema('oc_jobs');
      schemas.push(schema);
      store = await openStore({ kind: 'postgres', url: PG_URL, schema }, { clock });
    }
    open.push(store);
    await store.migrateModule(jobsStoreModule);
    await store.migrateModule(jobsStoreModule); // idempotent
    const jobs = new JobStore(store.handle(), () => clock.now());
    const p: QueuePolicy = { ...DEFAULT_POLICY, backoff: { ...DEFAULT_POLICY.backoff }, ...policy };
    const enqueue = (name: string, payload?: unknown, opts?: EnqueueOptions) => jobs.enqueue([normalizeEnqueue({ name, payload, ...(opts ? { opts } : {}) })], () => p).then((r) => r[0]!);
    return { clock, store, jobs, p, enqueue };
  }

  it('claims by priority (higher first), then by run time; delayed jobs wait and report when they are due', async () => {
    const { clock, jobs, p, enqueue } = await setup();
    await enqueue('q', { n: 'low' });
    clock.advance(1);
    await enqueue('q', { n: 'high' }, { priority: 10 });
    clock.advance(1);
    await enqueue('q', { n: 'later' }, { delay: '10s', priority: 99 });
    clock.advance(1);
    await enqueue('q', { n: 'low2' });
    const r = await jobs.claim('q', p, 10);
    expect(r.jobs.map((j) => (j.payload as { n: string }).n)).toEqual(['high', 'low', 'low2']);
    expect(r.nextAt).toBe(clock.t - 1 + 10_000);
    expect(r.jobs.every((j) => j.status === 'active' && j.attempts === 1 && j.leaseToken && j.runId === j.leaseToken)).toBe(true);
    clock.advance(10_000);
    const r2 = await jobs.claim('q', p, 10);
    expect(r2.jobs.map((j) => (j.payload as { n: string }).n)).toEqual(['later']);
    // runAt wins over delay
    const at = clock.t + 5000;
    const { id } = await enqueue('q', null, { runAt: new Date(at).toISOString(), delay: 1 });
    expect((await jobs.get(id))?.runAt).toBe(at);
  });

  it('retries with backoff until max attempts, then dead-letters; the dead letter is listed and re-driven', async () => {
    const { clock, jobs, p, enqueue } = await setup();
    const { id } = await enqueue('q', { x: 1 }, { maxAttempts: 3, backoff: { type: 'fixed', delay: '2s' } });
    let c = (await jobs.claim('q', p, 1)).jobs[0]!;
    expect(await jobs.fail(id, c.leaseToken, 'first')).toEqual({ outcome: 'retry', retryAt: clock.t + 2000 });
    expect((await jobs.claim('q', p, 1)).jobs).toHaveLength(0);
    clock.advance(2000);
    c = (await jobs.claim('q', p, 1)).jobs[0]!;
    expect(c.attempts).toBe(2);
    expect((await jobs.fail(id, c.leaseToken, 'second')).outcome).toBe('retry');
    clock.advance(2000);
    c = (await jobs.claim('q', p, 1)).jobs[0]!;
    expect((await jobs.fail(id, c.leaseToken, 'third')).outcome).toBe('dead');
    const dead = await jobs.list({ status: 'dead', queue: 'q' });
    expect(dead.map((j) => [j.id, j.attempts, j.error])).toEqual([[id, 3, 'third']]);
    expect((await jobs.stats()).find((s) => s.queue === 'q')?.dead).toBe(1);
    expect(await jobs.redrive({ queue: 'q' })).toEqual({ redriven: 1, queues: ['q'] });
    const again = (await jobs.claim('q', p, 1)).jobs[0]!;
    expect([again.id, again.attempts]).toEqual([id, 1]);
    // A final failure (unrecoverable) skips the remaining attempts.
    expect((await jobs.fail(id, again.leaseToken, 'bad input', { final: true })).outcome).toBe('dead');
  });

  it('backoff: fixed, exponential with a cap, jitter within [0, cap]', () => {
    expect([1, 2, 3].map((a) => backoffDelay({ type: 'fixed', delayMs: 500, maxMs: 0 }, a))).toEqual([500, 500, 500]);
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay({ type: 'exponential', delayMs: 100, maxMs: 1000 }, a))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay({ type: 'jitter', delayMs: 100, maxMs: 1000 }, 3, () => 0.5)).toBe(200);
    expect(backoffDelay({ type: 'jitter', delayMs: 100, maxMs: 1000 }, 9, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(backoffDelay({ type: 'jitter', delayMs: 100, maxMs: 1000 }, 9, () => 0)).toBe(0);
  });

  it('a lease fences the job: wrong token, expired lease, or a reclaimed job cannot be completed', async () => {
    const { clock, jobs, p, enqueue } = await setup({ leaseMs: 1000 });
    const { id } = await enqueue('q', 1);
    const a = (await jobs.claim('q', p, 1)).jobs[0]!;
    await expect(jobs.complete(id, 'not-the-token')).rejects.toBeInstanceOf(LeaseLostError);
    // Heartbeats keep it alive.
    clock.advance(900);
    expect(await jobs.extend([{ id, token: a.leaseToken }], 1000)).toEqual([]);
    clock.advance(900);
    expect((await jobs.get(id))?.status).toBe('active');
    // Expired, not reclaimed yet: completion still refused (expiry checked in the same statement).
    clock.advance(200);
    await expect(jobs.complete(id, a.leaseToken)).rejects.toThrow(/lease expired/);
    expect(await jobs.extend([{ id, token: a.leaseToken }], 1000)).toEqual([id]);
    // The next claim recovers it (crash recovery within the lease time) with a new token.
    const b = await jobs.claim('q', p, 1);
    expect(b.recovered).toBe(1);
    expect(b.jobs[0]!.id).toBe(id);
    expect(b.jobs[0]!.attempts).toBe(2);
    expect(b.jobs[0]!.leaseToken).not.toBe(a.leaseToken);
    await expect(jobs.complete(id, a.leaseToken)).rejects.toBeInstanceOf(LeaseLostError);
    expect((await jobs.fail(id, a.leaseToken, 'zombie')).outcome).toBe('lost');
    await jobs.complete(id, b.jobs[0]!.leaseToken, { ok: true });
    const done = await jobs.get(id);
    expect([done?.status, done?.result, done?.attempts]).toEqual(['completed', { ok: true }, 2]);
  });

  it('a lease that expires on the last attempt dead-letters the job', async () => {
    const { clock, jobs, p, enqueue } = await setup({ leaseMs: 1000 });
    const { id } = await enqueue('q', 1, { maxAttempts: 1 });
    await jobs.claim('q', p, 1);
    clock.advance(1001);
    const r = await jobs.claim('q', p, 1);
    expect([r.jobs.length, r.deadLettered]).toEqual([0, 1]);
    expect((await jobs.get(id))?.status).toBe('dead');
  });

  it('the completion effect commits with a run and aborts it when the lease is lost', async () => {
    const { clock, store, jobs, p, enqueue } = await setup({ leaseMs: 1000 });
    const { id } = await enqueue('q', 1);
    const a = (await jobs.claim('q', p, 1)).jobs[0]!;
    clock.advance(1500); // expired
    await expect(
      store.commitRun({ writes: [{ namespace: 'agent', key: `done:${id}`, value: 1 }], reads: [], emits: [], effects: [jobs.completeEffect(id, a.leaseToken, () => 'r')] }),
    ).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.getState('agent', `done:${id}`)).toBeUndefined();
    const b = (await jobs.claim('q', p, 1)).jobs[0]!;
    await store.commitRun({ writes: [{ namespace: 'agent', key: `done:${id}`, value: 1 }], reads: [], emits: [], effects: [jobs.completeEffect(id, b.leaseToken, () => ({ v: 2 }))] });
    expect((await store.getState('agent', `done:${id}`))?.value).toBe(1);
    expect((await jobs.get(id))?.result).toEqual({ v: 2 });
    // Enqueue as an effect of a run: committed with it.
    await store.commitRun({ writes: [], reads: [], emits: [], effects: [jobs.enqueueEffect([normalizeEnqueue({ name: 'q2', payload: 7 })], () => p)] });
    expect((await jobs.list({ queue: 'q2' })).map((j) => j.payload)).toEqual([7]);
  });

  it('idempotency keys: dedupe keeps the first, replace swaps the payload, debounce also moves the run time', async () => {
    const { clock, jobs, p, enqueue } = await setup();
    const a = await enqueue('q', { v: 1 }, { key: 'k1' });
    const b = await enqueue('q', { v: 2 }, { key: 'k1', mode: 'dedupe' });
    expect(a.created).toBe(true);
    expect(b).toEqual({ id: a.id, created: false });
    expect((await jobs.get(a.id))?.payload).toEqual({ v: 1 });

    const r1 = await enqueue('q', { v: 1 }, { key: 'k2', mode: 'replace', delay: '5s' });
    clock.advance(1000);
    const r2 = await enqueue('q', { v: 2 }, { key: 'k2', mode: 'replace', delay: '5s' });
    expect(r2.id).toBe(r1.id);
    const replaced = await jobs.get(r1.id);
    expect([replaced?.payload, replaced?.runAt]).toEqual([{ v: 2 }, clock.t - 1000 + 5000]);

    const d1 = await enqueue('q', { v: 1 }, { key: 'k3', mode: 'debounce', delay: '5s' });
    clock.advance(3000);
    const d2 = await enqueue('q', { v: 2 }, { key: 'k3', mode: 'debounce', delay: '5s' });
    expect(d2.id).toBe(d1.id);
    const debounced = await jobs.get(d1.id);
    expect([debounced?.payload, debounced?.runAt]).toEqual([{ v: 2 }, clock.t + 5000]);
    expect((await jobs.list({ queue: 'q' })).length).toBe(3);

    // While k1's job runs: dedupe returns it; replace/debounce queue a new one behind it.
    const running = (await jobs.claim('q', p, 10)).jobs.find((j) => j.id === a.id)!;
    expect(running).toBeDefined();
    expect((await enqueue('q', { v: 3 }, { key: 'k1' })).id).toBe(a.id);
    const next = await enqueue('q', { v: 4 }, { key: 'k1', mode: 'replace' });
    expect(next.created).toBe(true);
    // A caller-chosen id is unique.
    const x = await enqueue('q', 1, { id: 'my-id' });
    const y = await enqueue('q', 2, { id: 'my-id' });
    expect([x, y]).toEqual([{ id: 'my-id', created: true }, { id: 'my-id', created: false }]);
  });

  it('batch enqueue commits all jobs in one transaction', async () => {
    const { jobs, p } = await setup();
    const batch = Array.from({ length: 250 }, (_, i) => normalizeEnqueue({ name: 'bulk', payload: { i } }));
    const res = await jobs.enqueue(batch, () => p);
    expect(res.filter((r) => r.created)).toHaveLength(250);
    expect((await jobs.stats()).find((s) => s.queue === 'bulk')?.waiting).toBe(250);
    expect((await jobs.pending()).bulk).toBe(250);
  });

  it('concurrency: per queue (active rows) and per concurrency key', async () => {
    const { jobs, p, enqueue } = await setup({ concurrency: 3, keyConcurrency: 1 });
    for (let i = 0; i < 4; i++) await enqueue('q', { i, k: 'a' }, { concurrencyKey: 'a' });
    for (let i = 0; i < 4; i++) await enqueue('q', { i, k: 'b' }, { concurrencyKey: 'b' });
    await enqueue('q', { i: 0, k: null });
    const first = await jobs.claim('q', p, 10);
    // One per key, plus the unkeyed job: 3 = the queue's concurrency.
    expect(first.jobs.map((j) => j.concurrencyKey).sort()).toEqual([null, 'a', 'b'].sort());
    expect((await jobs.claim('q', p, 10)).jobs).toHaveLength(0);
    const a = first.jobs.find((j) => j.concurrencyKey === 'a')!;
    await jobs.complete(a.id, a.leaseToken);
    const second = await jobs.claim('q', p, 10);
    expect(second.jobs.map((j) => j.concurrencyKey)).toEqual(['a']);
  });

  it('rate limits: per queue ("3/s") and per key, with the refill time reported', async () => {
    const { clock, jobs, enqueue } = await setup();
    const p: QueuePolicy = { ...DEFAULT_POLICY, rateLimit: parseRateLimit('3/s') };
    for (let i = 0; i < 10; i++) await enqueue('r', { i });
    const a = await jobs.claim('r', p, 10);
    expect(a.jobs).toHaveLength(3);
    for (const j of a.jobs) await jobs.complete(j.id, j.leaseToken);
    const b = await jobs.claim('r', p, 10);
    expect(b.jobs).toHaveLength(0);
    expect(b.nextAt).toBe(clock.t + 334);
    clock.advance(334);
    expect((await jobs.claim('r', p, 10)).jobs).toHaveLength(1);
    clock.advance(1000);
    expect((await jobs.claim('r', p, 10)).jobs).toHaveLength(3);

    const pk: QueuePolicy = { ...DEFAULT_POLICY, keyRateLimit: parseRateLimit('2/min') };
    for (let i = 0; i < 3; i++) await enqueue('k', { i }, { concurrencyKey: 'tenant-1' });
    await enqueue('k', { i: 9 }, { concurrencyKey: 'tenant-2' });
    const c = await jobs.claim('k', pk, 10);
    expect(c.jobs.map((j) => j.concurrencyKey)).toEqual(['tenant-1', 'tenant-1', 'tenant-2']);
    expect(c.nextAt).toBe(clock.t + 30_000);
  });

  it('cancel, retention sweep, listing by status, release without spending the attempt', async () => {
    const { clock, jobs, p, enqueue } = await setup();
    const w = await enqueue('q', 'w');
    expect((await jobs.cancel(w.id))?.status).toBe('cancelled');
    const a = await enqueue('q', 'a');
    const b = await enqueue('q', 'b', { delay: '1h' });
    const claimed = (await jobs.claim('q', p, 10)).jobs;
    expect(claimed.map((j) => j.id)).toEqual([a.id]);
    expect((await jobs.list({ status: 'delayed' })).map((j) => j.id)).toEqual([b.id]);
    expect(await jobs.release([{ id: a.id, token: claimed[0]!.leaseToken }])).toBe(1);
    const again = (await jobs.claim('q', p, 10)).jobs[0]!;
    expect(again.attempts).toBe(1);
    // Cancelling an active job takes its lease away.
    await jobs.cancel(a.id);
    await expect(jobs.complete(a.id, again.leaseToken)).rejects.toBeInstanceOf(LeaseLostError);
    const c = await enqueue('q', 'c');
    const cc = (await jobs.claim('q', p, 10)).jobs[0]!;
    await jobs.complete(c.id, cc.leaseToken);
    clock.advance(1000);
    expect(await jobs.sweep(() => 5000)).toBe(0);
    clock.advance(5000);
    expect(await jobs.sweep(() => 5000)).toBe(3); // two cancelled, one completed
    expect((await jobs.list({ queue: 'q' })).map((j) => j.id)).toEqual([b.id]);
  });
});
