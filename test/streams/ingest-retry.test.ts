// A 202 means "accepted": an append that fails to commit is not given up at the first error. The
// Ingester retries each request alone (a bad one cannot take its batch-mates down) with backoff while
// the store is unavailable, and gives up only after its retry window or at shutdown — on the real
// stores, with the failures injected in front of appendMany and time moved by a FakeClock.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { Ingester, streamDef } from '../../src/streams/ingest.js';
import { StreamStore, streamsStoreModule, type PreparedEvent } from '../../src/streams/store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { dropSchemas, havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';

const backends = (await havePostgres()) ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];
const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
afterAll(() => dropSchemas(schemas));

const ev = (i: number): PreparedEvent => ({ time: 1000 + i, key: 'k', id: `e${i}`, payload: JSON.stringify({ i }) });

describe.each(backends)('stream ingester retries on %s', (backend) => {
  async function setup(failWhen: (call: number, streams: string[]) => boolean) {
    const clock = new FakeClock();
    const schema = uniqueSchema('oc_ingest');
    if (backend === 'postgres') schemas.push(schema);
    const store =
      backend === 'sqlite'
        ? await openStore({ kind: 'sqlite', path: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ingest-')), 'o.db') }, { clock })
        : await openStore({ kind: 'postgres', url: PG_URL, schema }, { clock });
    open.push(store);
    await store.migrateModule(streamsStoreModule);
    const real = new StreamStore(store.handle());
    let calls = 0;
    const flaky = Object.create(real) as StreamStore;
    flaky.appendMany = (batches, now) => {
      calls++;
      if (failWhen(calls, batches.map((b) => b.stream))) return Promise.reject(new Error(`injected failure ${calls}`));
      return real.appendMany(batches, now);
    };
    const ajv = new Ajv();
    const defs = new Map(['a', 'b'].map((n) => [n, streamDef(n, {} as never, ajv)]));
    const failed: Array<{ stream: string; n: number }> = [];
    const ingester = new Ingester(flaky, clock, defs, { committed: () => {}, failed: (stream, n) => failed.push({ stream, n }) });
    return { clock, real, ingester, failed, calls: () => calls };
  }

  /** Moves the clock in small steps until `done` settles (each step lets the flush loop run). */
  async function settle<T>(clock: FakeClock, done: Promise<T>): Promise<T> {
    let settled = false;
    const p = done.finally(() => (settled = true));
    p.catch(() => undefined);
    for (let i = 0; i < 2000 && !settled; i++) {
      clock.advance(25);
      await new Promise((r) => setImmediate(r));
    }
    return p;
  }

  it('commits every accepted append once the store is back after failures', async () => {
    const { clock, real, ingester, failed, calls } = await setup((call) => call <= 4);
    const appends = [ingester.append('a', [ev(1), ev(2)], []), ingester.append('a', [ev(3)], []), ingester.append('b', [ev(4)], [])];
    expect(ingester.depth('a')).toBe(3);
    const results = await settle(clock, Promise.all(appends));
    expect(results.map((r) => r.appended)).toEqual([2, 1, 1]);
    expect(calls()).toBeGreaterThan(4);
    expect(failed).toEqual([]);
    expect((await real.readAfter('a', 0, 10)).map((e) => e.id)).toEqual(['e1', 'e2', 'e3']);
    expect(await real.head('b')).toBe(1);
    expect(ingester.depth('a')).toBe(0);
  });

  it("isolates a request that keeps failing: its batch-mates commit at once, it fails after the retry window", async () => {
    const { clock, real, ingester, failed } = await setup((_call, streams) => streams.includes('b'));
    const good = ingester.append('a', [ev(1)], []);
    const bad = ingester.append('b', [ev(2)], []);
    bad.catch(() => undefined);
    expect((await settle(clock, good)).appended).toBe(1);
    expect(await real.head('a')).toBe(1);
    await expect(settle(clock, bad)).rejects.toThrow(/injected failure/);
    expect(failed).toEqual([{ stream: 'b', n: 1 }]);
    expect(ingester.depth('b')).toBe(0);
  });
});
