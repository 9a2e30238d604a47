// The SQL runner's group commit on SQLite: transactions asked for in the same event-loop turn run
// together in one BEGIN IMMEDIATE, each in its own savepoint — a body that throws rolls back only
// its own writes, the others commit, and every caller sees its own result.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { SqlRunner, q, q1, type Tx } from '../../src/llm/sql.js';

let store: Store | null = null;
let dir: string | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('SqlRunner on SQLite', () => {
  it('batches concurrent transactions, isolates a failing one, and keeps them atomic', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-sql-'));
    store = await openStore({ kind: 'sqlite', path: path.join(dir, 's.db') });
    const h = store.handle();
    if (h.dialect !== 'sqlite') throw new Error('expected sqlite');
    h.db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    const sql = new SqlRunner(h);
    let commits = 0;
    const write = h.write;
    const counted = { ...h, write: <T>(fn: () => T): T => (commits++, write(fn)) };
    const runner = new SqlRunner(counted);

    const add = (k: string, fail: boolean) =>
      runner.tx(function* (): Tx<number> {
        yield* q(`INSERT INTO t (k, v) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET v = v + 1`, k);
        yield* q(`INSERT INTO t (k, v) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET v = v + 1`, `${k}-b`);
        if (fail) throw new Error(`fail ${k}`);
        const row = yield* q1(`SELECT v FROM t WHERE k = ?`, k);
        return Number(row?.v);
      });
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => add(`k${i % 5}`, i % 7 === 3)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    expect(failed).toBe(7);
    // 50 calls in one turn: the first alone, the other 49 in one batch.
    expect(commits).toBe(2);
    const rows = (await sql.all(`SELECT k, v FROM t ORDER BY k`)) as Array<{ k: string; v: number }>;
    const expected = new Map<string, number>();
    for (let i = 0; i < 50; i++) if (i % 7 !== 3) expected.set(`k${i % 5}`, (expected.get(`k${i % 5}`) ?? 0) + 1);
    for (const [k, v] of expected) {
      expect(rows.find((r) => r.k === k)?.v).toBe(v);
      // Both writes of a body or neither.
      expect(rows.find((r) => r.k === `${k}-b`)?.v).toBe(v);
    }
    // Each successful caller saw the count as of its own position in the batch.
    const seen = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(seen.length).toBe(43);
    expect(Math.max(...seen)).toBe(Math.max(...expected.values()));
    // Afterwards the next call runs at once again.
    await new Promise((r) => setTimeout(r, 5));
    const before = commits;
    expect(await add('solo', false)).toBe(1);
    expect(commits).toBe(before + 1);
  });
});
