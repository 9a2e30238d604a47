// The commit tail of durable stream appends on SQLite: 100-event appends (the bench/streams ack
// path's commit, ~200-byte events with event ids) every 2 ms, each commit timed. Separates the
// store's share of the ingest ack p99 from HTTP and parsing; the in-commit WAL checkpoint showed
// up here as commits of tens of ms every ~35 commits (src/store/sqlite/checkpointer.ts).
//
//   node --import tsx stream-commits.ts [--commits 1500] [--per 100]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../src/store/index.js';
import { StreamStore, streamsStoreModule } from '../src/streams/store.js';
import { arg, pct, r1, sleep } from './lib/common.js';

const COMMITS = arg('commits', 1500);
const PER = arg('per', 100);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bench-commits-'));
const store = await openStore({ kind: 'sqlite', path: path.join(dir, 'store.db') });
await store.migrateModule(streamsStoreModule);
const ss = new StreamStore(store.handle());
const t0 = Date.UTC(2026, 0, 1);
const ev = (i: number) => ({ time: t0 + i, key: `svc-${i % 50}`, id: `e${i}`, payload: JSON.stringify({ event_id: `e${i}`, ts: t0 + i, service: `svc-${i % 50}`, level: 'info', latency_ms: i % 997, path: '/api/v1/orders/checkout', user: `u${i % 5000}`, region: 'eu-west-1', pad: 'x'.repeat(30) }) });
const load0 = os.loadavg().map(r1);
const ms: number[] = [];
let n = 0;
for (let c = 0; c < COMMITS; c++) {
  const batch = Array.from({ length: PER }, () => ev(n++));
  const s = performance.now();
  await ss.appendMany([{ stream: 'logs', events: batch, dlq: [], dedupeMs: 600_000 }], Date.now());
  ms.push(performance.now() - s);
  await sleep(2);
}
const wal = fs.statSync(path.join(dir, 'store.db-wal')).size;
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(`${COMMITS} commits of ${PER} events: p50 ${r1(pct(ms, 50))} ms, p90 ${r1(pct(ms, 90))} ms, p99 ${r1(pct(ms, 99))} ms, max ${r1(Math.max(...ms))} ms, over 5 ms: ${ms.filter((x) => x > 5).length}; WAL at the end ${r1(wal / 1048576)} MB`);
console.log(`load average: start ${load0.join(' ')}, end ${os.loadavg().map(r1).join(' ')} (${os.cpus().length} cores)`);
