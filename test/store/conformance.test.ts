// ONE conformance suite for every Store backend: each test runs against a real SQLite file and a
// real PostgreSQL schema, each on a fresh, empty store, with time moved by a test clock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreConfig } from '../../src/config/types.js';
import type { Clock } from '../../src/scheduler/types.js';
import { openStore, SHARED_NAMESPACE, type NewEvent, type RunCommit, type RunRecord, type RunStatus, type Store } from '../../src/store/index.js';
import { LeaseLostError, StateConflictError, StateSizeError } from '../../src/util/errors.js';
import { havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';

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

/** A fresh, empty store location plus raw access for what the contract cannot show (storage rows). */
interface Location {
  config: StoreConfig;
  /** Runs raw SQL; `t('events')` names a table of this store. */
  query(sql: (t: (table: string) => string) => string): Promise<Record<string, unknown>[]>;
  destroy(): Promise<void>;
}

function sqliteLocation(): Location {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-store-'));
  const file = path.join(dir, 'nested', 'openclaw.db'); // the store creates missing directories
  return {
    config: { kind: 'sqlite', path: file },
    async query(sql) {
      const db = new Database(file);
      try {
        const stmt = db.prepare(sql((t) => t));
        return stmt.reader ? (stmt.all() as Record<string, unknown>[]) : (stmt.run(), []);
      } finally {
        db.close();
      }
    },
    async destroy() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const pgSchemas: string[] = [];
let pgAdmin: pg.Pool | undefined;
function postgresLocation(): Location {
  const schema = uniqueSchema('oc_store');
  pgSchemas.push(schema);
  pgAdmin ??= new pg.Pool({ connectionString: PG_URL, max: 2 });
  const admin = pgAdmin;
  return {
    config: { kind: 'postgres', url: PG_URL, schema },
    async query(sql) {
      return (await admin.query(sql((t) => `"${schema}".${t}`))).rows;
    },
    async destroy() {},
  };
}

afterAll(async () => {
  if (!pgAdmin) return;
  for (const s of pgSchemas) await pgAdmin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pgAdmin.end();
});

const pgUp = await havePostgres();

describe.each([
  { name: 'sqlite', up: true, location: sqliteLocation },
  { name: 'postgres', up: pgUp, location: postgresLocation },
])('Store conformance: $name', ({ up, location }) => {
  let loc: Location;
  let clock: TestClock;
  let store: Store;
  const opened: Store[] = [];
  /** Another handle on the same store: a restarted daemon, or a second daemon sharing it. */
  const open = async () => {
    const s = await openStore(loc.config, { clock });
    opened.push(s);
    return s;
  };
  const count = async (table: string) => Number((await loc.query((t) => `SELECT count(*) AS n FROM ${t(table)}`))[0].n);

  beforeEach(async (ctx) => {
    if (!up) ctx.skip();
    clock = new TestClock();
    loc = location();
    store = await open();
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    await loc?.destroy();
  });

  const ev = (id: string, name: string, payload: unknown = { id }): NewEvent => ({ id, name, payload, source: 'test', createdAt: clock.now(), traceId: null });
  const runRec = (id: string, agent: string, status: RunStatus, startedAt = clock.now(), extra: Partial<RunRecord> = {}): RunRecord => ({
    id,
    agent,
    instance: `${agent}#0`,
    trigger: 'schedule',
    status,
    scheduledAt: startedAt,
    startedAt,
    finishedAt: startedAt + 5,
    error: status === 'failed' ? 'boom' : null,
    reason: status === 'missed' ? 'daemon down' : null,
    eventId: null,
    ...extra,
  });
  const commit = (c: Partial<RunCommit>) => store.commitRun({ writes: [], reads: [], emits: [], ...c });
  const set = (namespace: string, kv: Record<string, unknown>, extra: Partial<RunCommit> = {}) =>
    commit({ writes: Object.entries(kv).map(([key, value]) => ({ namespace, key, value })), ...extra });

  // ---- state ---------------------------------------------------------------------------------

  describe('state', () => {
    it('commits writes as a new namespace version that reads return with their key version', async () => {
      expect(await store.namespaceVersion('mon')).toBe(0);
      const r1 = await set('mon', { a: { n: 1 }, b: [1, 'x', null], c: null, d: 'text', e: true, f: 1.5 });
      expect(r1.versions).toEqual({ mon: 1 });
      const r2 = await set('mon', { a: { n: 2 } });
      expect(r2.versions).toEqual({ mon: 2 });

      expect(await store.getState('mon', 'a')).toEqual({ key: 'a', value: { n: 2 }, version: 2, expiresAt: null });
      expect(await store.getState('mon', 'b')).toEqual({ key: 'b', value: [1, 'x', null], version: 1, expiresAt: null });
      expect((await store.getState('mon', 'c'))?.value).toBeNull();
      expect(await store.getState('mon', 'missing')).toBeUndefined();
      expect(await store.getState('other', 'a')).toBeUndefined();
      expect(await store.namespaceVersion('mon')).toBe(2);
      expect((await store.listState('mon')).map((e) => [e.key, e.value])).toEqual([
        ['a', { n: 2 }],
        ['b', [1, 'x', null]],
        ['c', null],
        ['d', 'text'],
        ['e', true],
        ['f', 1.5],
      ]);
    });

    it('lists by key prefix, in key order', async () => {
      await set('ns', { 'job/2': 2, 'job/1': 1, 'job/é': 3, 'job0': 0, jo: -1, 'job/\u{10FFFF}x': 4, zzz: 9 });
      expect((await store.listState('ns', 'job/')).map((e) => e.key)).toEqual(['job/1', 'job/2', 'job/é', 'job/\u{10FFFF}x']);
      expect((await store.listState('ns', 'zz')).map((e) => e.key)).toEqual(['zzz']);
      expect(await store.listState('ns', 'nope')).toEqual([]);
    });

    it('makes one version per namespace per commit, last write to a key winning', async () => {
      const r = await commit({
        writes: [
          { namespace: 'agent', key: 'x', value: 1 },
          { namespace: SHARED_NAMESPACE, key: 'y', value: 'a' },
          { namespace: 'agent', key: 'z', value: 1 },
          { namespace: 'agent', key: 'x', value: 2 },
        ],
        runId: 'run-1',
        reason: 'checkpoint',
      });
      expect(r.versions).toEqual({ agent: 1, [SHARED_NAMESPACE]: 1 });
      expect((await store.getState('agent', 'x'))?.value).toBe(2);
      const [v] = await store.listVersions('agent');
      expect(v).toEqual({ version: 1, createdAt: clock.now(), sizeBytes: 2, keyCount: 2, changedKeys: ['z', 'x'], runId: 'run-1', reason: 'checkpoint' });
      expect(await count('state_history')).toBe(3);
    });

    it('records the run id and default reason of a run commit on its version', async () => {
      await commit({ writes: [{ namespace: 'a', key: 'k', value: 1 }], run: runRec('r-9', 'a', 'succeeded') });
      const [v] = await store.listVersions('a');
      expect(v.runId).toBe('r-9');
      expect(v.reason).toBe('run');
    });

    it('deletes keys as a new version; deleting an absent key changes nothing', async () => {
      await set('ns', { a: 1, b: 2 });
      const del = await commit({ writes: [{ namespace: 'ns', key: 'a', deleted: true }] });
      expect(del.versions).toEqual({ ns: 2 });
      expect(await store.getState('ns', 'a')).toBeUndefined();
      expect((await store.listVersions('ns'))[0]).toMatchObject({ version: 2, changedKeys: ['a'], keyCount: 1 });

      const noop = await commit({ writes: [{ namespace: 'ns', key: 'never', deleted: true }] });
      expect(noop.versions).toEqual({});
      expect(await store.namespaceVersion('ns')).toBe(2);
    });

    it('accounts size as the byte length of the JSON text', async () => {
      await set('ns', { a: 'é', b: { x: 1 } }); // "é" is 4 bytes as JSON text, {"x":1} is 7
      expect(await store.stateSize('ns')).toBe(11);
      await set('ns', { a: 'ab' }); // "ab" = 4
      expect(await store.stateSize('ns')).toBe(11);
      await commit({ writes: [{ namespace: 'ns', key: 'b', deleted: true }] });
      expect(await store.stateSize('ns')).toBe(4);
      expect(await store.stateSize('empty')).toBe(0);
      expect((await store.listVersions('ns')).map((v) => [v.version, v.sizeBytes, v.keyCount])).toEqual([
        [3, 4, 1],
        [2, 11, 2],
        [1, 11, 2],
      ]);
    });

    it('rejects a value that is not JSON data', async () => {
      await expect(commit({ writes: [{ namespace: 'ns', key: 'u', value: undefined }] })).rejects.toMatchObject({ code: 'state_value_invalid' });
      await expect(commit({ writes: [{ namespace: 'ns', key: 'n', value: 10n }] })).rejects.toMatchObject({ code: 'state_value_invalid' });
      expect(await store.namespaceVersion('ns')).toBe(0);
    });

    it('pages versions newest first with limit and beforeVersion', async () => {
      for (let i = 1; i <= 5; i++) await set('ns', { k: i });
      expect((await store.listVersions('ns')).map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
      expect((await store.listVersions('ns', { limit: 2 })).map((v) => v.version)).toEqual([5, 4]);
      expect((await store.listVersions('ns', { limit: 2, beforeVersion: 4 })).map((v) => v.version)).toEqual([3, 2]);
      expect(await store.listVersions('none')).toEqual([]);
    });
  });

  describe('optimistic concurrency', () => {
    it('commits when every read key still has the version the run saw', async () => {
      await set('ns', { k: 1 });
      const r = await commit({
        reads: [
          { namespace: 'ns', key: 'k', version: 1 },
          { namespace: 'ns', key: 'absent', version: 0 },
        ],
        writes: [{ namespace: 'ns', key: 'k', value: 2 }],
      });
      expect(r.versions).toEqual({ ns: 2 });
    });

    it('rejects a commit whose read key was changed by another commit', async () => {
      await set('ns', { k: 1 });
      await set('ns', { k: 99 }); // another run got there first: k is now at version 2
      await expect(commit({ reads: [{ namespace: 'ns', key: 'k', version: 1 }], writes: [{ namespace: 'ns', key: 'k', value: 2 }] })).rejects.toBeInstanceOf(
        StateConflictError,
      );
      expect((await store.getState('ns', 'k'))?.value).toBe(99);
    });

    it('rejects a commit that saw a key absent when another commit created it', async () => {
      await set('ns', { k: 1 });
      await expect(commit({ reads: [{ namespace: 'ns', key: 'k', version: 0 }], writes: [{ namespace: 'other', key: 'x', value: 1 }] })).rejects.toMatchObject({
        code: 'state_conflict',
      });
      expect(await store.namespaceVersion('other')).toBe(0);
    });

    it('rejects a commit that saw a key which another commit deleted', async () => {
      await set('ns', { k: 1 });
      await commit({ writes: [{ namespace: 'ns', key: 'k', deleted: true }] });
      await expect(commit({ reads: [{ namespace: 'ns', key: 'k', version: 1 }] })).rejects.toBeInstanceOf(StateConflictError);
    });

    it('detects the conflict between two stores sharing the database', async () => {
      const other = await open();
      await set('ns', { k: 0 });
      const seen = (await store.getState('ns', 'k'))!.version;
      await other.commitRun({ reads: [{ namespace: 'ns', key: 'k', version: seen }], writes: [{ namespace: 'ns', key: 'k', value: 1 }], emits: [] });
      await expect(commit({ reads: [{ namespace: 'ns', key: 'k', version: seen }], writes: [{ namespace: 'ns', key: 'k', value: 2 }] })).rejects.toBeInstanceOf(
        StateConflictError,
      );
      expect((await store.getState('ns', 'k'))?.value).toBe(1);
    });

    it('lets exactly one of many concurrent read-modify-write commits on one key win per version', async () => {
      const other = await open();
      await set('ns', { counter: 0 });
      const stores = [store, other];
      // Every attempt reads then commits; losers retry, as the runtime does. No increment may be lost.
      const increment = async (s: Store) => {
        for (;;) {
          const cur = (await s.getState('ns', 'counter'))!;
          try {
            await s.commitRun({ reads: [{ namespace: 'ns', key: 'counter', version: cur.version }], writes: [{ namespace: 'ns', key: 'counter', value: (cur.value as number) + 1 }], emits: [] });
            return;
          } catch (err) {
            if (!(err instanceof StateConflictError)) throw err;
          }
        }
      };
      await Promise.all(Array.from({ length: 20 }, (_, i) => increment(stores[i % 2])));
      expect((await store.getState('ns', 'counter'))?.value).toBe(20);
      expect(await store.namespaceVersion('ns')).toBe(21);
    });
  });

  describe('size limits', () => {
    it('rejects a commit that grows a namespace past max_state_size, naming the sizes', async () => {
      await set('ns', { a: 'xxxx' }); // 6 bytes
      const err = await commit({ writes: [{ namespace: 'ns', key: 'b', value: 'yyyyyy' }], maxStateSize: { ns: 10 } }).catch((e) => e);
      expect(err).toBeInstanceOf(StateSizeError);
      expect(err.message).toContain('14 bytes');
      expect(err.message).toContain('10 bytes');
      expect(await store.getState('ns', 'b')).toBeUndefined();
      expect(await store.stateSize('ns')).toBe(6);
      // within the limit, and a limit on another namespace does not apply
      await expect(commit({ writes: [{ namespace: 'ns', key: 'b', value: 'y' }], maxStateSize: { ns: 10, other: 1 } })).resolves.toMatchObject({ versions: { ns: 2 } });
    });

    it('lets a commit shrink a namespace that is already over a lowered limit', async () => {
      await set('ns', { a: 'x'.repeat(50), b: 'y'.repeat(50) });
      await expect(commit({ writes: [{ namespace: 'ns', key: 'a', deleted: true }], maxStateSize: { ns: 10 } })).resolves.toMatchObject({ versions: { ns: 2 } });
      await expect(commit({ writes: [{ namespace: 'ns', key: 'c', value: 1 }], maxStateSize: { ns: 10 } })).rejects.toBeInstanceOf(StateSizeError);
    });
  });

  describe('versions, history and rollback', () => {
    it('reconstructs the namespace as it was after any version', async () => {
      await set('ns', { a: 1, b: 1 }); // v1
      await set('ns', { a: 2 }); // v2
      await commit({ writes: [{ namespace: 'ns', key: 'b', deleted: true }] }); // v3
      await set('ns', { b: 3 }); // v4
      expect(await store.stateAt('ns', 0)).toEqual({});
      expect(await store.stateAt('ns', 1)).toEqual({ a: 1, b: 1 });
      expect(await store.stateAt('ns', 2)).toEqual({ a: 2, b: 1 });
      expect(await store.stateAt('ns', 3)).toEqual({ a: 2 });
      expect(await store.stateAt('ns', 4)).toEqual({ a: 2, b: 3 });
      await expect(store.stateAt('ns', 5)).rejects.toMatchObject({ code: 'state_version_invalid' });
      await expect(store.stateAt('ns', -1)).rejects.toMatchObject({ code: 'state_version_invalid' });
    });

    it('grows history by the changed keys, not by the namespace size', async () => {
      const hundred = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, { i, pad: 'x'.repeat(20) }]));
      await set('big', hundred);
      expect(await count('state_history')).toBe(100);
      for (let i = 0; i < 50; i++) await set('big', { k7: { i, pad: 'y' } });
      expect(await count('state_history')).toBe(150); // 100 + 50, not 100 x 51
      expect(await count('state_versions')).toBe(51);
      expect(await count('state_current')).toBe(100);
      expect((await store.stateAt('big', 26)).k7).toEqual({ i: 24, pad: 'y' });
      expect((await store.stateAt('big', 1)).k99).toEqual(hundred.k99);
    });

    it('rolls back by writing a new version that holds only the diff', async () => {
      await set('ns', Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]))); // v1
      await set('ns', { k1: 'changed', k2: 'changed', added: true }); // v2
      await commit({ writes: [{ namespace: 'ns', key: 'k3', deleted: true }] }); // v3
      const historyBefore = await count('state_history');

      const v = await store.rollback('ns', 1);
      expect(v).toBe(4);
      expect(await store.namespaceVersion('ns')).toBe(4);
      const info = (await store.listVersions('ns', { limit: 1 }))[0];
      expect(info.reason).toBe('rollback to v1');
      expect([...info.changedKeys].sort()).toEqual(['added', 'k1', 'k2', 'k3']);
      expect(await count('state_history')).toBe(historyBefore + 4);
      expect(Object.fromEntries((await store.listState('ns')).map((e) => [e.key, e.value]))).toEqual(await store.stateAt('ns', 1));
      expect(await store.stateAt('ns', 3)).toMatchObject({ k1: 'changed', added: true }); // history kept
      expect(await store.stateSize('ns')).toBe(10);
      // the rollback is itself a version that can be undone
      await store.rollback('ns', 3, 'undo');
      expect((await store.getState('ns', 'k1'))?.value).toBe('changed');
      expect((await store.listVersions('ns', { limit: 1 }))[0].reason).toBe('undo');
    });

    it('treats a rollback to the current state as no change', async () => {
      await set('ns', { a: 1 });
      await set('ns', { a: 1 }); // same value, new version
      expect(await store.rollback('ns', 1)).toBe(2);
      expect(await store.namespaceVersion('ns')).toBe(2);
      await expect(store.rollback('ns', 7)).rejects.toMatchObject({ code: 'state_version_invalid' });
    });
  });

  describe('TTL', () => {
    it('hides expired keys from reads, keeps them in history, and purges them as a new version', async () => {
      await commit({
        writes: [
          { namespace: 'ns', key: 'short', value: 'bye', expiresAt: clock.now() + 1000 },
          { namespace: 'ns', key: 'keep', value: 'stay' },
          { namespace: 'other', key: 'short2', value: 1, expiresAt: clock.now() + 500 },
        ],
      });
      expect(await store.getState('ns', 'short')).toEqual({ key: 'short', value: 'bye', version: 1, expiresAt: clock.now() + 1000 });
      clock.advance(999);
      expect((await store.getState('ns', 'short'))?.value).toBe('bye');
      clock.advance(1);
      expect(await store.getState('ns', 'short')).toBeUndefined();
      expect((await store.listState('ns')).map((e) => e.key)).toEqual(['keep']);
      expect(await store.stateAt('ns', 1)).toEqual({ short: 'bye', keep: 'stay' });
      expect(await store.stateSize('ns')).toBe(11); // stored until purged

      expect(await store.purgeExpired()).toBe(2);
      expect(await store.namespaceVersion('ns')).toBe(2);
      expect(await store.namespaceVersion('other')).toBe(2);
      expect((await store.listVersions('ns', { limit: 1 }))[0]).toMatchObject({ changedKeys: ['short'], reason: 'ttl', sizeBytes: 6, keyCount: 1 });
      expect(await store.stateSize('ns')).toBe(6);
      expect(await store.purgeExpired()).toBe(0);
      expect(await store.namespaceVersion('ns')).toBe(2);
    });

    it('reads an expired key as absent for conflict checks', async () => {
      await commit({ writes: [{ namespace: 'ns', key: 'k', value: 1, expiresAt: clock.now() + 10 }] });
      clock.advance(10);
      await expect(commit({ reads: [{ namespace: 'ns', key: 'k', version: 0 }], writes: [{ namespace: 'ns', key: 'k', value: 2 }] })).resolves.toMatchObject({
        versions: { ns: 2 },
      });
      expect(await store.getState('ns', 'k')).toMatchObject({ value: 2, expiresAt: null });
    });
  });

  // ---- events and deliveries -----------------------------------------------------------------

  describe('events', () => {
    it('dedupes events by id, in publish and in run commits', async () => {
      expect(await store.publish([ev('e1', 'a'), ev('e2', 'a'), ev('e1', 'a')])).toBe(2);
      expect(await store.publish([ev('e1', 'a', { changed: true }), ev('e3', 'b')])).toBe(1);
      expect((await commit({ emits: [ev('e3', 'b'), ev('e4', 'b')] })).published).toBe(1);
      expect((await store.listEvents()).map((e) => e.id)).toEqual(['e1', 'e2', 'e3', 'e4']);
      expect((await store.getEvent('e1'))?.payload).toEqual({ id: 'e1' });
    });

    it('stores events with their fields and pages the log by seq and name', async () => {
      await store.publish([
        { id: 'x1', name: 'order.created', payload: { n: 1, s: 'é' }, source: 'shop', createdAt: 123, traceId: 'tr-1' },
        ev('x2', 'order.paid'),
        ev('x3', 'order.created'),
      ]);
      const e1 = await store.getEvent('x1');
      expect(e1).toEqual({ seq: e1!.seq, id: 'x1', name: 'order.created', payload: { n: 1, s: 'é' }, source: 'shop', createdAt: 123, traceId: 'tr-1' });
      expect(await store.getEvent('nope')).toBeUndefined();
      const all = await store.listEvents();
      expect(all.map((e) => e.id)).toEqual(['x1', 'x2', 'x3']);
      expect(all[0].seq).toBeLessThan(all[1].seq);
      expect((await store.listEvents({ afterSeq: all[0].seq })).map((e) => e.id)).toEqual(['x2', 'x3']);
      expect((await store.listEvents({ limit: 1 })).map((e) => e.id)).toEqual(['x1']);
      expect((await store.listEvents({ name: 'order.created' })).map((e) => e.id)).toEqual(['x1', 'x3']);
      expect((await store.listEvents({ name: 'order.created', afterSeq: all[0].seq })).map((e) => e.id)).toEqual(['x3']);
    });

    it('persists subscriptions and replaces a consumer group’s set', async () => {
      await store.setSubscriptions('billing', ['order.paid', 'order.created', 'order.paid']);
      await store.setSubscriptions('audit', ['*']);
      expect(await store.getSubscriptions()).toEqual({ audit: ['*'], billing: ['order.created', 'order.paid'] });
      await store.setSubscriptions('billing', ['refund']);
      await store.setSubscriptions('audit', []);
      expect(await store.getSubscriptions()).toEqual({ billing: ['refund'] });
    });

    it('fans each event out to every subscribed consumer group once', async () => {
      await store.setSubscriptions('billing', ['order.paid']);
      await store.setSubscriptions('audit', ['*', 'order.paid']);
      await store.setSubscriptions('shipping', ['order.shipped']);
      await store.publish([ev('p1', 'order.paid'), ev('c1', 'order.created')]);
      await commit({ emits: [ev('p2', 'order.paid')] });

      expect(await store.pendingCounts()).toEqual({ billing: 2, audit: 3, shipping: 0 });
      const billing = await store.claimDeliveries('billing', { limit: 10, leaseMs: 1000 });
      const audit = await store.claimDeliveries('audit', { limit: 10, leaseMs: 1000 });
      expect(billing.map((d) => d.event.id)).toEqual(['p1', 'p2']);
      expect(audit.map((d) => d.event.id)).toEqual(['p1', 'c1', 'p2']);
      expect(await store.claimDeliveries('shipping', { limit: 10, leaseMs: 1000 })).toEqual([]);
      // each group acknowledges independently
      await commit({ ack: { deliveryId: billing[0].deliveryId, leaseToken: billing[0].leaseToken } });
      expect(await store.pendingCount('billing')).toBe(1);
      expect(await store.pendingCount('audit')).toBe(3);
    });

    it('does not deliver events published before a subscription', async () => {
      await store.publish([ev('old', 'tick')]);
      await store.setSubscriptions('late', ['tick']);
      await store.publish([ev('new', 'tick')]);
      expect((await store.claimDeliveries('late', { limit: 10, leaseMs: 1000 })).map((d) => d.event.id)).toEqual(['new']);
    });
  });

  describe('deliveries', () => {
    const leaseMs = 30_000;
    beforeEach(async () => {
      if (!store) return;
      await store.setSubscriptions('worker', ['job']);
    });

    it('claims due deliveries oldest first with a fresh lease, up to the limit', async () => {
      await store.publish([ev('j1', 'job'), ev('j2', 'job'), ev('j3', 'job')]);
      const first = await store.claimDeliveries('worker', { limit: 2, leaseMs });
      expect(first.map((d) => d.event.id)).toEqual(['j1', 'j2']);
      expect(first[0]).toMatchObject({ consumer: 'worker', attempts: 1, leaseExpiresAt: clock.now() + leaseMs });
      expect(first[0].event).toMatchObject({ name: 'job', payload: { id: 'j1' }, source: 'test' });
      expect(first[0].leaseToken).toMatch(/.{16,}/);
      expect(first[0].leaseToken).not.toBe(first[1].leaseToken);
      expect(first[0].deliveryId).not.toBe(first[1].deliveryId);
      // leased rows are not handed out again while the lease holds
      expect((await store.claimDeliveries('worker', { limit: 10, leaseMs })).map((d) => d.event.id)).toEqual(['j3']);
      expect(await store.claimDeliveries('worker', { limit: 10, leaseMs })).toEqual([]);
      expect(await store.pendingCount('worker')).toBe(3); // pending + inflight
      expect(await store.pendingCount('nobody')).toBe(0);
    });

    it('acknowledges in the run commit, atomically with its state and events', async () => {
      await store.publish([ev('j1', 'job')]);
      const [d] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      const r = await commit({ ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken }, writes: [{ namespace: 'worker', key: 'done', value: 'j1' }] });
      expect(r.versions).toEqual({ worker: 1 });
      expect(await store.pendingCount('worker')).toBe(0);
      clock.advance(leaseMs * 2);
      expect(await store.claimDeliveries('worker', { limit: 1, leaseMs })).toEqual([]);
      await expect(commit({ ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken } })).rejects.toBeInstanceOf(LeaseLostError);
    });

    it('hands an expired lease to another claimant and rejects the stale token', async () => {
      const otherDaemon = await open();
      await store.publish([ev('j1', 'job')]);
      const [stale] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      clock.advance(leaseMs - 1);
      expect(await otherDaemon.claimDeliveries('worker', { limit: 1, leaseMs })).toEqual([]);
      clock.advance(1);
      const [fresh] = await otherDaemon.claimDeliveries('worker', { limit: 1, leaseMs });
      expect(fresh).toMatchObject({ deliveryId: stale.deliveryId, attempts: 2 });
      expect(fresh.leaseToken).not.toBe(stale.leaseToken);

      await expect(commit({ ack: { deliveryId: stale.deliveryId, leaseToken: stale.leaseToken }, writes: [{ namespace: 'worker', key: 'k', value: 'stale' }] })).rejects.toBeInstanceOf(
        LeaseLostError,
      );
      expect(await store.getState('worker', 'k')).toBeUndefined();
      expect(await store.extendDelivery(stale.deliveryId, stale.leaseToken, leaseMs)).toBe(false);
      expect(await store.failDelivery(stale.deliveryId, stale.leaseToken, { error: 'x', dead: true })).toBe(false);
      await otherDaemon.commitRun({ reads: [], writes: [], emits: [], ack: { deliveryId: fresh.deliveryId, leaseToken: fresh.leaseToken } });
      expect(await store.pendingCount('worker')).toBe(0);
    });

    it('hands out expired leases, due retries and ready deliveries together, oldest first', async () => {
      await store.publish([ev('j1', 'job'), ev('j2', 'job'), ev('j3', 'job'), ev('j4', 'job')]);
      await store.claimDeliveries('worker', { limit: 1, leaseMs: 10 }); // j1: lease runs out at +10
      const [d2] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      expect(await store.failDelivery(d2.deliveryId, d2.leaseToken, { error: 'later', retryAt: clock.now() + 10 })).toBe(true); // j2: retry at +10
      clock.advance(10);
      const mixed = await store.claimDeliveries('worker', { limit: 3, leaseMs });
      expect(mixed.map((d) => [d.event.id, d.attempts])).toEqual([
        ['j1', 2],
        ['j2', 2],
        ['j3', 1],
      ]);
      expect((await store.claimDeliveries('worker', { limit: 10, leaseMs })).map((d) => d.event.id)).toEqual(['j4']);
    });

    it('rejects an ack once the lease expired, even before anyone reclaimed it', async () => {
      await store.publish([ev('j1', 'job')]);
      const [d] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      clock.advance(leaseMs);
      await expect(commit({ ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken } })).rejects.toBeInstanceOf(LeaseLostError);
      expect((await store.claimDeliveries('worker', { limit: 1, leaseMs }))[0]).toMatchObject({ deliveryId: d.deliveryId, attempts: 2 });
    });

    it('extends a held lease so the delivery is not reclaimed', async () => {
      await store.publish([ev('j1', 'job')]);
      const [d] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      clock.advance(leaseMs - 1);
      expect(await store.extendDelivery(d.deliveryId, d.leaseToken, leaseMs)).toBe(true);
      clock.advance(leaseMs - 1); // past the original expiry
      expect(await store.claimDeliveries('worker', { limit: 1, leaseMs })).toEqual([]);
      expect(await store.extendDelivery(d.deliveryId, 'not-the-token', leaseMs)).toBe(false);
      await expect(commit({ ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken } })).resolves.toBeDefined();
    });

    it('retries a failed delivery at the requested time', async () => {
      await store.publish([ev('j1', 'job')]);
      const [d] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      expect(await store.failDelivery(d.deliveryId, d.leaseToken, { error: 'timeout', retryAt: clock.now() + 5000 })).toBe(true);
      expect(await store.failDelivery(d.deliveryId, d.leaseToken, { error: 'again' })).toBe(false); // lease gone
      expect(await store.pendingCount('worker')).toBe(1);
      clock.advance(4999);
      expect(await store.claimDeliveries('worker', { limit: 1, leaseMs })).toEqual([]);
      clock.advance(1);
      const [again] = await store.claimDeliveries('worker', { limit: 1, leaseMs });
      expect(again).toMatchObject({ deliveryId: d.deliveryId, attempts: 2 });
      // without retryAt it is due at once
      expect(await store.failDelivery(again.deliveryId, again.leaseToken, { error: 'x' })).toBe(true);
      expect((await store.claimDeliveries('worker', { limit: 1, leaseMs }))[0]).toMatchObject({ attempts: 3 });
    });

    it('dead-letters a delivery and redrives it with attempts reset', async () => {
      await store.setSubscriptions('other', ['job']);
      await store.publish([ev('j1', 'job'), ev('j2', 'job')]);
      for (const consumer of ['worker', 'other']) {
        for (const d of await store.claimDeliveries(consumer, { limit: 10, leaseMs })) {
          expect(await store.failDelivery(d.deliveryId, d.leaseToken, { error: `poison ${d.event.id}`, dead: true })).toBe(true);
        }
      }
      clock.advance(leaseMs * 10);
      expect(await store.claimDeliveries('worker', { limit: 10, leaseMs })).toEqual([]);
      expect(await store.pendingCount('worker')).toBe(0);
      const dead = await store.listDeadLetters({ consumer: 'worker' });
      expect(dead.map((x) => [x.event.id, x.attempts, x.lastError, x.deadAt, x.consumer])).toEqual([
        ['j1', 1, 'poison j1', clock.now() - leaseMs * 10, 'worker'],
        ['j2', 1, 'poison j2', clock.now() - leaseMs * 10, 'worker'],
      ]);
      expect(await store.listDeadLetters()).toHaveLength(4);
      expect(await store.listDeadLetters({ limit: 1 })).toHaveLength(1);

      expect(await store.redriveDeadLetters({ ids: [dead[1].deliveryId] })).toBe(1);
      expect((await store.claimDeliveries('worker', { limit: 10, leaseMs })).map((d) => [d.event.id, d.attempts])).toEqual([['j2', 1]]);
      expect(await store.redriveDeadLetters({ consumer: 'other' })).toBe(2);
      expect(await store.listDeadLetters()).toHaveLength(1);
      expect(await store.redriveDeadLetters({})).toBe(1);
      expect(await store.listDeadLetters()).toEqual([]);
      expect(await store.pendingCounts()).toEqual({ worker: 2, other: 2 });
    });

    it('releases leased deliveries back to pending, optionally for one consumer', async () => {
      await store.setSubscriptions('other', ['job']);
      await store.publish([ev('j1', 'job'), ev('j2', 'job')]);
      const mine = await store.claimDeliveries('worker', { limit: 10, leaseMs });
      await store.claimDeliveries('other', { limit: 10, leaseMs });
      expect(await store.releaseDeliveries('worker')).toBe(2);
      expect(await store.claimDeliveries('other', { limit: 10, leaseMs })).toEqual([]); // other's leases untouched
      await expect(commit({ ack: { deliveryId: mine[0].deliveryId, leaseToken: mine[0].leaseToken } })).rejects.toBeInstanceOf(LeaseLostError);
      const again = await store.claimDeliveries('worker', { limit: 10, leaseMs });
      expect(again.map((d) => [d.event.id, d.attempts])).toEqual([
        ['j1', 2],
        ['j2', 2],
      ]);
      expect(await store.releaseDeliveries()).toBe(4);
      expect(await store.releaseDeliveries()).toBe(0);
    });

    it('gives concurrent claimants disjoint deliveries', async () => {
      const other = await open();
      await store.publish(Array.from({ length: 60 }, (_, i) => ev(`j${i}`, 'job')));
      const batches = await Promise.all([store, other, store, other].map((s) => s.claimDeliveries('worker', { limit: 20, leaseMs })));
      const ids = batches.flat().map((d) => d.event.id);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
    });
  });

  // ---- atomicity of the run transaction --------------------------------------------------------

  describe('a failed commit changes nothing', () => {
    const leaseMs = 30_000;
    const failures: [string, (d: { deliveryId: number; leaseToken: string }) => Partial<RunCommit>, unknown][] = [
      ['a read conflict', () => ({ reads: [{ namespace: 'agent', key: 'k', version: 0 }] }), StateConflictError],
      // the limit hits the last namespace written, after the first one was applied
      ['a size limit', () => ({ maxStateSize: { [SHARED_NAMESPACE]: 0 } }), StateSizeError],
      ['a wrong lease token', (d) => ({ ack: { deliveryId: d.deliveryId, leaseToken: 'stolen' } }), LeaseLostError],
    ];

    it.each(failures)('when the commit fails on %s', async (_, cause, errorClass) => {
      await store.setSubscriptions('agent', ['tick']);
      await store.setSubscriptions('audit', ['*']);
      await set('agent', { k: 'before' });
      await store.publish([ev('t1', 'tick')]);
      const [d] = await store.claimDeliveries('agent', { limit: 1, leaseMs });
      const before = { events: await store.listEvents(), pending: await store.pendingCounts(), versions: await store.listVersions('agent') };

      const failing: RunCommit = {
        writes: [
          { namespace: 'agent', key: 'k', value: 'after' },
          { namespace: 'agent', key: 'new', value: 'x'.repeat(10) },
          { namespace: SHARED_NAMESPACE, key: 's', value: 1 },
        ],
        reads: [],
        emits: [ev('out1', 'tick.done')],
        ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken },
        run: runRec('run-1', 'agent', 'succeeded'),
        ...cause(d),
      };
      await expect(store.commitRun(failing)).rejects.toBeInstanceOf(errorClass as never);

      expect((await store.getState('agent', 'k'))?.value).toBe('before');
      expect(await store.getState('agent', 'new')).toBeUndefined();
      expect(await store.namespaceVersion(SHARED_NAMESPACE)).toBe(0);
      expect(await store.listVersions('agent')).toEqual(before.versions);
      expect(await store.listEvents()).toEqual(before.events);
      expect(await store.getEvent('out1')).toBeUndefined();
      expect(await store.pendingCounts()).toEqual(before.pending);
      expect(await store.listRuns('agent')).toEqual([]);
      expect(await store.agentStats()).toEqual([]);
      // the trigger is still leased to this run and can be acknowledged by a corrected commit
      const ok = await commit({ ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken }, writes: [{ namespace: 'agent', key: 'k', value: 'after' }], emits: [ev('out1', 'tick.done')] });
      expect(ok).toEqual({ versions: { agent: 2 }, published: 1 });
      expect(await store.pendingCount('agent')).toBe(0);
    });
  });

  // ---- runs --------------------------------------------------------------------------------------

  describe('runs', () => {
    it('lists runs newest first, by status and limit', async () => {
      await store.recordRun(runRec('r1', 'a', 'succeeded', 1000));
      await store.recordRun(runRec('r3', 'a', 'missed', 3000));
      await store.recordRun(runRec('r2', 'a', 'failed', 2000));
      await store.recordRun(runRec('x1', 'b', 'succeeded', 5000));
      expect((await store.listRuns('a')).map((r) => r.id)).toEqual(['r3', 'r2', 'r1']);
      expect((await store.listRuns('a', { limit: 2 })).map((r) => r.id)).toEqual(['r3', 'r2']);
      expect((await store.listRuns('a', { status: 'failed' })).map((r) => r.id)).toEqual(['r2']);
      expect((await store.listRuns('a', { status: 'missed' }))[0]).toEqual(runRec('r3', 'a', 'missed', 3000));
      expect(await store.listRuns('none')).toEqual([]);
    });

    it('folds succeeded and failed runs into agent stats; other records are not runs', async () => {
      await store.recordRun(runRec('r1', 'a', 'succeeded', 1000));
      await store.recordRun(runRec('r2', 'a', 'failed', 2000));
      await store.recordRun(runRec('r3', 'a', 'missed', 3000));
      await store.recordRun(runRec('r4', 'a', 'skipped', 4000));
      await store.recordRun(runRec('r5', 'a', 'conflict', 5000));
      await store.recordRun(runRec('r0', 'a', 'succeeded', 500)); // recorded late: not the last run
      await store.recordRun(runRec('r1', 'a', 'succeeded', 1000)); // same id again: counted once
      await commit({ run: runRec('c1', 'b', 'succeeded', 100), writes: [{ namespace: 'b', key: 'k', value: 1 }] });
      await store.recordRun(runRec('m1', 'c', 'missed', 100));
      expect(await store.agentStats('a')).toEqual([{ agent: 'a', runsTotal: 3, runsFailed: 1, lastRunAt: 2000, lastStatus: 'failed' }]);
      expect(await store.agentStats()).toEqual([
        { agent: 'a', runsTotal: 3, runsFailed: 1, lastRunAt: 2000, lastStatus: 'failed' },
        { agent: 'b', runsTotal: 1, runsFailed: 0, lastRunAt: 100, lastStatus: 'succeeded' },
      ]);
      expect((await store.listRuns('a')).map((r) => r.id)).toEqual(['r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
      expect((await store.listRuns('c')).map((r) => r.id)).toEqual(['m1']);
    });
  });

  // ---- schedules -----------------------------------------------------------------------------------

  describe('schedules', () => {
    it('claims each fire time once and never an earlier one', async () => {
      expect(await store.getSchedule('a')).toEqual({ lastFireAt: null, nextFireAt: null });
      expect(await store.claimFire('a', 1000)).toBe(true);
      expect(await store.claimFire('a', 1000)).toBe(false);
      expect(await store.claimFire('a', 999)).toBe(false);
      expect(await store.claimFire('a', 2000)).toBe(true);
      expect(await store.claimFire('b', 1000)).toBe(true);
      await store.setNextFire('a', 3000);
      expect(await store.getSchedule('a')).toEqual({ lastFireAt: 2000, nextFireAt: 3000 });
      await store.setNextFire('c', 10); // next before any fire
      expect(await store.claimFire('c', 10)).toBe(true);
      expect(await store.getSchedule('c')).toEqual({ lastFireAt: 10, nextFireAt: 10 });
      await store.setNextFire('a', null);
      expect(await store.getSchedule('a')).toEqual({ lastFireAt: 2000, nextFireAt: null });
    });

    it('reads and writes many schedules at once, as the single-row forms do', async () => {
      expect(await store.getSchedules([])).toEqual(new Map());
      expect(await store.claimFire('a', 1000)).toBe(true);
      // Rows created (b, c), updated (a) and left alone (d), in one statement; the last entry of an agent wins.
      await store.setNextFires([
        { agent: 'a', nextFireAt: 2000 },
        { agent: 'b', nextFireAt: 1_700_000_000_123 },
        { agent: 'c', nextFireAt: null },
        { agent: 'b', nextFireAt: 1_700_000_000_456 },
      ]);
      await store.setNextFires([]);
      expect(await store.getSchedules(['a', 'b', 'c', 'nobody'])).toEqual(
        new Map([
          ['a', { lastFireAt: 1000, nextFireAt: 2000 }],
          ['b', { lastFireAt: null, nextFireAt: 1_700_000_000_456 }],
          ['c', { lastFireAt: null, nextFireAt: null }],
        ]),
      );
      expect(await store.getSchedule('b')).toEqual({ lastFireAt: null, nextFireAt: 1_700_000_000_456 });
      // next_fire_at never moves the claim: b's first fire is still claimable.
      expect(await store.claimFire('b', 5)).toBe(true);
      expect((await store.getSchedules(['b'])).get('b')).toEqual({ lastFireAt: 5, nextFireAt: 1_700_000_000_456 });
    });

    it('refuses a double fire across a restart and between concurrent daemons', async () => {
      expect(await store.claimFire('a', 1000)).toBe(true);
      await store.close();
      const restarted = await open();
      expect(await restarted.claimFire('a', 1000)).toBe(false);
      const daemons = [restarted, await open(), await open()];
      for (const fireAt of [2000, 3000, 4000]) {
        const wins = await Promise.all(Array.from({ length: 12 }, (_, i) => daemons[i % 3].claimFire('a', fireAt)));
        expect(wins.filter(Boolean)).toHaveLength(1);
      }
      // the first fire of a new agent races on the insert path
      const firsts = await Promise.all(daemons.map((d) => d.claimFire('fresh', 1)));
      expect(firsts.filter(Boolean)).toHaveLength(1);
    });
  });

  // ---- control and meta ------------------------------------------------------------------------------

  describe('agent control and meta', () => {
    it('keeps desired state per agent', async () => {
      expect(await store.getDesired('a')).toBeUndefined();
      await store.setDesired('a', 'paused');
      await store.setDesired('b', 'stopped');
      await store.setDesired('a', 'running');
      expect(await store.getDesired('a')).toBe('running');
      expect(await store.getDesired('b')).toBe('stopped');
    });

    it('lists transitions newest first', async () => {
      const t = (from: string, to: string, at: number) => ({ agent: 'a', instance: 'a#0', from, to, reason: `${from}->${to}`, at });
      await store.recordTransition(t('stopped', 'starting', 1));
      await store.recordTransition(t('starting', 'running', 2));
      await store.recordTransition({ ...t('running', 'stopped', 3), agent: 'b', instance: null });
      await store.recordTransition(t('running', 'crashed', 4));
      expect(await store.listTransitions('a')).toEqual([t('running', 'crashed', 4), t('starting', 'running', 2), t('stopped', 'starting', 1)]);
      expect(await store.listTransitions('a', 1)).toEqual([t('running', 'crashed', 4)]);
      expect(await store.listTransitions('b')).toEqual([{ agent: 'b', instance: null, from: 'running', to: 'stopped', reason: 'running->stopped', at: 3 }]);
    });

    it('keeps meta values', async () => {
      expect(await store.getMeta('heartbeat')).toBeUndefined();
      await store.setMeta('heartbeat', '1');
      await store.setMeta('heartbeat', '2');
      expect(await store.getMeta('heartbeat')).toBe('2');
    });

    it('reads and writes many meta values at once', async () => {
      await store.setMeta('anchor:a', '1');
      await store.setMetas([
        ['anchor:a', '2'],
        ['anchor:b', '3'],
        ['anchor:b', '4'],
      ]);
      await store.setMetas([]);
      expect(await store.getMetas(['anchor:a', 'anchor:b', 'anchor:none'])).toEqual(
        new Map([
          ['anchor:a', '2'],
          ['anchor:b', '4'],
        ]),
      );
      expect(await store.getMeta('anchor:b')).toBe('4');
      expect(await store.getMetas([])).toEqual(new Map());
    });
  });

  // ---- durability and migrations -----------------------------------------------------------------

  describe('reopening', () => {
    it('keeps everything across close and reopen', async () => {
      await store.setSubscriptions('w', ['job']);
      await commit({
        writes: [{ namespace: 'w', key: 'k', value: { deep: [1] }, expiresAt: clock.now() + 60_000 }],
        emits: [ev('j1', 'job'), ev('j2', 'job')],
        run: runRec('r1', 'w', 'succeeded'),
      });
      const [d] = await store.claimDeliveries('w', { limit: 1, leaseMs: 60_000 });
      await store.claimFire('w', 1000);
      await store.setNextFire('w', 2000);
      await store.setDesired('w', 'paused');
      await store.recordTransition({ agent: 'w', instance: null, from: 'running', to: 'paused', reason: 'user', at: 1 });
      await store.setMeta('m', 'v');
      await store.close();

      const again = await open();
      expect(await again.getState('w', 'k')).toEqual({ key: 'k', value: { deep: [1] }, version: 1, expiresAt: clock.now() + 60_000 });
      expect(await again.listVersions('w')).toHaveLength(1);
      expect(await again.stateAt('w', 1)).toEqual({ k: { deep: [1] } });
      expect((await again.listEvents()).map((e) => e.id)).toEqual(['j1', 'j2']);
      expect(await again.getSubscriptions()).toEqual({ w: ['job'] });
      expect(await again.pendingCount('w')).toBe(2);
      expect((await again.claimDeliveries('w', { limit: 10, leaseMs: 1 })).map((x) => x.event.id)).toEqual(['j2']);
      await again.commitRun({ reads: [], writes: [], emits: [], ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken } });
      expect(await again.getSchedule('w')).toEqual({ lastFireAt: 1000, nextFireAt: 2000 });
      expect(await again.getDesired('w')).toBe('paused');
      expect(await again.listTransitions('w')).toHaveLength(1);
      expect(await again.getMeta('m')).toBe('v');
      expect(await again.agentStats('w')).toMatchObject([{ runsTotal: 1 }]);
      expect((await again.listRuns('w'))[0].id).toBe('r1');
    });

    it('applies each migration once, however often or concurrently the store is opened', async () => {
      const applied = await count('schema_migrations');
      expect(applied).toBeGreaterThan(0);
      await set('ns', { a: 1 });
      await Promise.all([open(), open()]);
      await (await open()).migrate();
      expect(await count('schema_migrations')).toBe(applied);
      expect((await store.getState('ns', 'a'))?.value).toBe(1);

      // two daemons starting at once on a store that does not exist yet
      const fresh = location();
      try {
        const both = await Promise.all([openStore(fresh.config, { clock }), openStore(fresh.config, { clock })]);
        opened.push(...both);
        expect(Number((await fresh.query((t) => `SELECT count(*) AS n FROM ${t('schema_migrations')}`))[0].n)).toBe(applied);
        await both[0].commitRun({ reads: [], writes: [{ namespace: 'x', key: 'k', value: 1 }], emits: [] });
        expect((await both[1].getState('x', 'k'))?.value).toBe(1);
      } finally {
        for (const s of opened.splice(opened.length - 2)) await s.close();
        await fresh.destroy();
      }
    });

    it('refuses a store migrated by a newer OpenClaw', async () => {
      await loc.query((t) => `INSERT INTO ${t('schema_migrations')} (id, name, applied_at) VALUES (999, 'from the future', 0)`);
      await expect(openStore(loc.config, { clock })).rejects.toMatchObject({ code: 'store_too_new' });
    });
  });

  describe('subsystem modules', () => {
    const mod = {
      name: 'demo',
      sqlite: [{ id: 1, name: 'demo', statements: ['CREATE TABLE demo_items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)'] }],
      postgres: (schema: string) => [{ id: 1, name: 'demo', statements: [`CREATE TABLE ${schema}.demo_items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`] }],
    };
    const insert = (id: string) => ({
      sqlite: (db: Database.Database) => void db.prepare('INSERT INTO demo_items (id, n) VALUES (?, 1)').run(id),
      postgres: async (c: pg.PoolClient, schema: string) => void (await c.query(`INSERT INTO ${schema}.demo_items (id, n) VALUES ($1, 1)`, [id])),
    });
    const count = async () => Number((await loc.query((t) => `SELECT count(*) AS n FROM ${t('demo_items')}`))[0].n);

    it('applies a module\'s migrations once, tracked apart from the core ones', async () => {
      await store.migrateModule(mod);
      await store.migrateModule(mod);
      const rows = await loc.query((t) => `SELECT module, id FROM ${t('module_migrations')}`);
      expect(rows.map((r) => [r.module, Number(r.id)])).toEqual([['demo', 1]]);
      expect(store.handle().dialect).toBe(store.dialect);
    });

    it('runs commit effects in the run transaction: they commit with it and roll back with it', async () => {
      await store.migrateModule(mod);
      await store.commitRun({ reads: [], writes: [{ namespace: 'a', key: 'k', value: 1 }], emits: [], effects: [insert('one')] });
      expect(await count()).toBe(1);
      // a failing effect aborts the whole commit, state included
      await expect(store.commitRun({ reads: [], writes: [{ namespace: 'a', key: 'k', value: 2 }], emits: [], effects: [insert('one')] })).rejects.toThrow();
      expect((await store.getState('a', 'k'))?.value).toBe(1);
      expect(await count()).toBe(1);
    });

    it('concurrent commits (grouped into one transaction on SQLite) stay atomic each and fail alone', async () => {
      await store.migrateModule(mod);
      await store.commitRun({ reads: [], writes: [{ namespace: 'g', key: 'pre', value: 1 }], emits: [] });
      // Requested together: the SQLite store runs them in one transaction, one savepoint each.
      const results = await Promise.allSettled([
        store.commitRun({ reads: [], writes: [{ namespace: 'g', key: 'a', value: 1 }], emits: [], effects: [insert('x')] }),
        store.commitRun({ reads: [], writes: [{ namespace: 'g', key: 'b', value: 1 }], emits: [], effects: [insert('x')] }), // duplicate id: fails
        store.commitRun({ reads: [{ namespace: 'g', key: 'pre', version: 0 }], writes: [{ namespace: 'g', key: 'c', value: 1 }], emits: [] }), // stale read: conflict
        store.commitRun({ reads: [], writes: [{ namespace: 'g', key: 'd', value: 1 }], emits: [], effects: [insert('y')] }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(StateConflictError);
      expect((await store.getState('g', 'a'))?.value).toBe(1);
      expect(await store.getState('g', 'b')).toBeUndefined();
      expect(await store.getState('g', 'c')).toBeUndefined();
      expect((await store.getState('g', 'd'))?.value).toBe(1);
      expect(await count()).toBe(2);
    });
  });
});
