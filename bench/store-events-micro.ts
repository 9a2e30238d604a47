// Store-level cost of the events hot path (no agents, no IPC): one commit publishes K events to one
// consumer group, then claim N / commit N runs (ack + run record each) until drained. Prints CPU µs
// per event for each phase, so a change to the store's statements can be measured under load.
//   node --import tsx store-events-micro.ts [--events 20000] [--batch 16] [--v7]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { openStore, type RunCommit } from '../src/store/index.js';
import { uuidv7 } from '../src/util/ids.js';
import { arg, log } from './lib/common.js';

const K = arg('events', 20000);
const N = arg('batch', 16);
const V7 = arg('v7', false);
// --v7: time-ordered ids, as the daemon mints run and event ids (src/util/ids.ts); else random v4.
const uid = () => (V7 ? uuidv7() : randomUUID());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-micro-'));
const store = await openStore({ kind: 'sqlite', path: path.join(dir, 'store.db') });
try {
  await store.setSubscriptions('agent:sink', ['bench.evt']);
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system); };
  let c0 = cpu();
  const now = Date.now();
  const emits = Array.from({ length: K }, (_, i) => ({ id: uid(), name: 'bench.evt', payload: { i }, source: 'emitter', createdAt: now }));
  await store.commitRun({ writes: [], reads: [], emits, run: { id: randomUUID(), agent: 'emitter', instance: 'emitter', trigger: 'manual', status: 'succeeded', scheduledAt: null, startedAt: now, finishedAt: now, error: null, reason: null, eventId: null } });
  const pub = (cpu() - c0) / K;
  c0 = cpu();
  let claimUs = 0;
  let done = 0;
  for (;;) {
    const t = cpu();
    const ds = await store.claimDeliveries('agent:sink', { limit: N, leaseMs: 30_000 });
    claimUs += cpu() - t;
    if (ds.length === 0) break;
    const commits: RunCommit[] = ds.map((d) => ({
      writes: [], reads: [], emits: [], ack: { deliveryId: d.deliveryId, leaseToken: d.leaseToken },
      run: { id: uid(), agent: 'sink', instance: 'sink', trigger: 'event', status: 'succeeded', scheduledAt: null, startedAt: Date.now(), finishedAt: Date.now(), error: null, reason: null, eventId: d.event.id },
    }));
    const s = await store.commitRuns(commits);
    if (!s.every((x) => x.ok)) throw new Error('commit failed');
    done += ds.length;
  }
  const total = (cpu() - c0) / done;
  log(`load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}: publish ${pub.toFixed(1)} µs/event; claim ${(claimUs / done).toFixed(1)} + commit ${(total - claimUs / done).toFixed(1)} = ${total.toFixed(1)} µs/event (batch ${N}, ${done} events)`);
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
