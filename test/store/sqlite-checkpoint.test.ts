// SQLite WAL checkpoints run on a worker thread, not inside the daemon thread's commits: a burst of
// commits grows the WAL past SQLite's default 4 MB checkpoint point without any commit copying it
// back (that copy and its fsyncs were the tail of ingest acks), the worker then copies it into the
// database file, and under continued writes the log starts over instead of growing without bound.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { StreamStore, streamsStoreModule, type PreparedEvent } from '../../src/streams/store.js';
import { waitFor } from '../helpers/project.js';

const open: Store[] = [];
afterAll(async () => {
  for (const s of open) await s.close();
});

const MB = 1024 * 1024;
const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);

describe('SQLite WAL checkpoints', () => {
  it('are taken off the committing thread by a worker, and the log restarts under steady writes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ckpt-'));
    const file = path.join(dir, 'store.db');
    const store = await openStore({ kind: 'sqlite', path: file });
    open.push(store);
    await store.migrateModule(streamsStoreModule);
    const ss = new StreamStore(store.handle());
    let n = 0;
    const pad = 'x'.repeat(400);
    const batch = (): PreparedEvent[] => Array.from({ length: 500 }, () => ({ time: n, key: `k${n % 7}`, id: null, payload: JSON.stringify({ i: n++, pad }) }));
    const append = () => ss.appendMany([{ stream: 's', events: batch(), dlq: [], dedupeMs: 0 }], 0);

    // A burst of commits with no turn of the event loop for the worker to start: the WAL passes
    // 12 MB — SQLite's automatic checkpoint would have copied it back at 4 MB inside a commit.
    const before = size(file);
    let burst = 0;
    while (size(`${file}-wal`) < 12 * MB && burst < 2000) {
      await append();
      burst++;
    }
    expect(size(`${file}-wal`)).toBeGreaterThanOrEqual(12 * MB);
    expect(size(file)).toBe(before);

    // The worker copies it into the database file.
    await waitFor('the worker checkpointed', () => size(file) >= 8 * MB, 60_000);

    // Keep writing, ~4 MB of WAL at a time (80 MB in all): past 32 MB the worker restarts the log,
    // so the WAL file stays bounded.
    for (let written = 12; written < 80; written += 4) {
      const main = size(file);
      for (let i = 0; i < Math.ceil(burst / 3); i++) await append();
      await waitFor('the worker checkpointed again', () => size(file) > main, 60_000);
    }
    expect(size(`${file}-wal`)).toBeLessThan(56 * MB);
  }, 180_000);
  it('reports a checkpoint worker that cannot work (the database file went away) instead of swallowing it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ckpt-'));
    const file = path.join(dir, 'store.db');
    const store = await openStore({ kind: 'sqlite', path: file });
    open.push(store);
    const warnings: string[] = [];
    store.onWarning!((m) => warnings.push(m));
    await store.migrateModule(streamsStoreModule);
    const ss = new StreamStore(store.handle());
    let n = 0;
    const pad = 'x'.repeat(400);
    // The daemon's connection keeps writing to its open file; a worker opening the path cannot.
    fs.rmSync(file);
    while (size(`${file}-wal`) < 6 * MB) {
      await ss.appendMany([{ stream: 's', events: Array.from({ length: 500 }, () => ({ time: n, key: 'k', id: null, payload: JSON.stringify({ i: n++, pad }) })), dlq: [], dedupeMs: 0 }], 0);
    }
    await waitFor('the dead worker reported', () => warnings.length > 0, 30_000);
    expect(warnings[0]).toMatch(/checkpoint worker .*store\.db/);
  }, 60_000);
});
