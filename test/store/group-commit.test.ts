// Group commit on both stores: the runs of one batch share a transaction, yet a run that
// conflicts, throws or lost its lease rolls back alone and its batch-mates commit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type RunCommit, type RunRecord, type Store } from '../../src/store/index.js';
import { LeaseLostError, StateConflictError } from '../../src/util/errors.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { dropSchemas, havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';

const schemas: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await dropSchemas(schemas);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const pgUp = await havePostgres();
const backends: Array<[string, (clock: FakeClock) => Promise<Store>]> = [
  [
    'sqlite',
    (clock) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-gc-'));
      dirs.push(dir);
      return openStore({ kind: 'sqlite', path: path.join(dir, 'gc.db') }, { clock });
    },
  ],
  ...(pgUp
    ? ([
        [
          'postgres',
          (clock: FakeClock) => {
            const schema = uniqueSchema('oc_gc');
            schemas.push(schema);
            return openStore({ kind: 'postgres', url: PG_URL, schema }, { clock });
          },
        ],
      ] as Array<[string, (clock: FakeClock) => Promise<Store>]>)
    : []),
];

function run(id: string, eventId: string | null, at: number): RunRecord {
  return { id, agent: 'sink', instance: 'sink#0', trigger: 'event', status: 'succeeded', scheduledAt: null, startedAt: at, finishedAt: at, error: null, reason: null, eventId };
}

describe.each(backends)('group commit on %s', (_name, open) => {
  it('commits the good runs of a batch and rolls back each bad one alone', async () => {
    const clock = new FakeClock();
    const store = await open(clock);
    try {
      await store.setSubscriptions('sink', ['in']);
      await store.setSubscriptions('next', ['out']);
      await store.publish(Array.from({ length: 5 }, (_, i) => ({ id: `in-${i}`, name: 'in', payload: i, source: null, createdAt: clock.now() })));
      await store.commitRun({ writes: [{ namespace: 'sink', key: 'seen', value: 0 }], reads: [], emits: [] });
      const ds = await store.claimDeliveries('sink', { limit: 5, leaseMs: 60_000 });
      expect(ds).toHaveLength(5);
      const now = clock.now();
      const commit = (i: number, extra: Partial<RunCommit> = {}): RunCommit => ({
        writes: [{ namespace: 'sink', key: `k${i}`, value: i }],
        reads: [],
        emits: [{ id: `out-${i}`, name: 'out', payload: i, source: 'sink', createdAt: now }],
        ack: { deliveryId: ds[i]!.deliveryId, leaseToken: ds[i]!.leaseToken },
        run: run(`r${i}`, ds[i]!.event.id, now),
        ...extra,
      });
      const batch: RunCommit[] = [
        commit(0),
        // read 'seen' at a version that is not the current one: a conflict
        commit(1, { reads: [{ namespace: 'sink', key: 'seen', version: 99 }] }),
        // a subsystem effect that throws after the state writes were applied
        commit(2, { effects: [{ sqlite: () => { throw new Error('effect failed'); }, postgres: async () => { throw new Error('effect failed'); } }] }),
        // an ack token that is not the lease's
        commit(3, { ack: { deliveryId: ds[3]!.deliveryId, leaseToken: 'stale' } }),
        commit(4),
      ];
      const settled = await store.commitRuns(batch);
      expect(settled.map((s) => s.ok)).toEqual([true, false, false, false, true]);
      expect((settled[1] as { error: unknown }).error).toBeInstanceOf(StateConflictError);
      expect(((settled[2] as { error: Error }).error).message).toBe('effect failed');
      expect((settled[3] as { error: unknown }).error).toBeInstanceOf(LeaseLostError);
      expect(settled[0]).toMatchObject({ ok: true, result: { published: 1 } });

      // State: only the good runs' keys.
      const keys = (await store.listState('sink')).map((e) => e.key).sort();
      expect(keys).toEqual(['k0', 'k4', 'seen']);
      // Each good run applied once (SQLite tries the batch without savepoints first, rolls that
      // attempt back when a run fails, and runs it again with one savepoint per run).
      expect(await store.namespaceVersion('sink')).toBe(3);
      // Acks: the good runs' deliveries are gone; the bad ones still leased (they come back).
      expect(await store.pendingCount('sink')).toBe(3);
      clock.advance(60_001);
      const back = await store.claimDeliveries('sink', { limit: 10, leaseMs: 60_000 });
      expect(back.map((d) => d.event.id).sort()).toEqual(['in-1', 'in-2', 'in-3']);
      // Outbox and run records: only the good runs'.
      expect((await store.claimDeliveries('next', { limit: 10, leaseMs: 60_000 })).map((d) => d.event.id).sort()).toEqual(['out-0', 'out-4']);
      expect((await store.listRuns('sink')).map((r) => r.id).sort()).toEqual(['r0', 'r4']);
      expect((await store.agentStats('sink'))[0]).toMatchObject({ runsTotal: 2, runsFailed: 0 });
    } finally {
      await store.close();
    }
  });

  it('groups commitRun calls of one turn into one transaction, each resolving on its own', async () => {
    const clock = new FakeClock();
    const store = await open(clock);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          store.commitRun({ writes: [{ namespace: `a${i % 5}`, key: `k${i}`, value: i }], reads: i === 7 ? [{ namespace: 'a2', key: 'nope', version: 3 }] : [], emits: [] }),
        ),
      );
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect((await store.listState('a0')).length).toBe(10);
      expect((await store.listState('a2')).length).toBe(9);
      // The versions of one namespace advance once per run that wrote it, as if sequential.
      expect(await store.namespaceVersion('a1')).toBe(10);
    } finally {
      await store.close();
    }
  });
  it('records the run records of a batch as if one after another: duplicates once, stats folded per agent', async () => {
    const clock = new FakeClock();
    const store = await open(clock);
    try {
      const t = clock.now();
      // 87 commits: past every multi-row chunk size (64 + 16 + 4 + 1 + 1 + 1); one id twice, one
      // id already stored; two agents; the latest start is not the last run in the batch.
      await store.recordRun({ ...run('old', null, t), agent: 'a' });
      const runs: RunRecord[] = Array.from({ length: 84 }, (_, i) => ({ ...run(`r${i}`, null, t + (i % 10)), agent: i % 2 ? 'a' : 'b', status: i % 7 === 0 ? 'failed' : 'succeeded' }));
      runs[50] = { ...runs[50]!, startedAt: t + 100, status: 'failed' }; // agent b's latest
      runs.push({ ...runs[3]! }, { ...run('old', null, t + 500), agent: 'a' }, { ...run('missed', null, t + 1000), agent: 'a', status: 'missed' });
      const settled = await store.commitRuns(runs.map((r) => ({ writes: [], reads: [], emits: [], run: r })));
      expect(settled.every((s) => s.ok)).toBe(true);
      const a = runs.slice(0, 84).filter((r) => r.agent === 'a');
      const b = runs.slice(0, 84).filter((r) => r.agent === 'b');
      const failed = (rs: RunRecord[]) => rs.filter((r) => r.status === 'failed').length;
      expect(await store.agentStats()).toEqual([
        { agent: 'a', runsTotal: a.length + 1, runsFailed: failed(a), lastRunAt: t + 9, lastStatus: 'succeeded' },
        { agent: 'b', runsTotal: b.length, runsFailed: failed(b), lastRunAt: t + 100, lastStatus: 'failed' },
      ]);
      expect(await store.listRuns('a', { limit: 500 })).toHaveLength(a.length + 2); // + 'old' once + 'missed'
      expect(await store.listRuns('b', { limit: 500 })).toHaveLength(b.length);
    } finally {
      await store.close();
    }
  });
  it("publishes a run's large emit set once per id, fanned out to each subscribed group in log order", async () => {
    const clock = new FakeClock();
    const store = await open(clock);
    try {
      await store.setSubscriptions('one', ['e']);
      await store.setSubscriptions('all', ['*', 'e']);
      await store.setSubscriptions('other', ['f']);
      const ev = (id: string, i: number) => ({ id, name: 'e', payload: { i }, source: null, createdAt: clock.now() });
      await store.publish([ev('x5', -1)]);
      // 87 events past the multi-row chunk sizes, with an id repeated in the batch and one stored.
      const batch = Array.from({ length: 85 }, (_, i) => ev(`x${i}`, i));
      batch.push(ev('x7', 999), ev('y', 85));
      const [s] = await store.commitRuns([{ writes: [], reads: [], emits: batch, run: run('emitter-run', null, clock.now()) }]);
      expect(s).toMatchObject({ ok: true, result: { published: 85 } }); // x0..x84 less x5, plus y
      expect(await store.pendingCounts()).toEqual({ one: 86, all: 86, other: 0 });
      for (const group of ['one', 'all']) {
        const ds = await store.claimDeliveries(group, { limit: 200, leaseMs: 60_000 });
        expect(ds.map((d) => d.event.id)).toEqual(['x5', ...batch.slice(0, 85).map((e) => e.id).filter((id) => id !== 'x5'), 'y']);
        expect(ds.find((d) => d.event.id === 'x7')!.event.payload).toEqual({ i: 7 });
      }
    } finally {
      await store.close();
    }
  });
});
