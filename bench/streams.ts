// Streams: durable NDJSON ingest over HTTP, ack latency at a paced 20,000 events/s, and windowed
// aggregation per core (tumbling, hopping with size/slide = 5, session), printed beside the Nexmark
// per-core figures of Flink 1.13 (nexmark/nexmark README, "Benchmark Results"; see
// ../shared/research/milestone2-anchors.md, R16).
//
//   ingest:     C clients POST NDJSON batches of B events (200-byte events) with ?wait=true (200 =
//               durable) to one daemon on SQLite; events/s from the first request to the last ack.
//   ack p99:    one request of 100 events every 5 ms (20,000 events/s) with ?wait=true, for D s.
//   windows:    (a) the engine alone over N events (1,000 keys, in-order time), one flush per 5,000;
//               (b) end to end: N events appended to the SQLite log, then a QueryProcessor drains
//               them — read, aggregate, commit cursor + state + results + outbox per batch.
//
//   node --import tsx streams.ts [--events 100000] [--batch 1000] [--clients 4] [--paced-seconds 5] [--window-events 300000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { Daemon } from '../src/daemon/daemon.js';
import { createStreamsModule, querySpec } from '../src/streams/module.js';
import { streamsSectionSchema } from '../src/streams/config.js';
import { WindowEngine } from '../src/streams/windows.js';
import { QueryProcessor } from '../src/streams/processor.js';
import { StreamStore, streamsStoreModule } from '../src/streams/store.js';
import { openStore } from '../src/store/index.js';
import { systemClock } from '../src/scheduler/types.js';
import { arg, jsonLine, log, makeProject, pct, r1, removeTempDirs, sleep, table } from './lib/common.js';

const N = arg('events', 100_000);
const BATCH = arg('batch', 1000);
const CLIENTS = arg('clients', 4);
const PACED_S = arg('paced-seconds', 5);
const WN = arg('window-events', 300_000);

const NEXMARK = { tumbling: 12_300, hopping: 22_100, session: 39_700 };

/** A ~200-byte log event. */
function event(i: number, t0: number): string {
  return JSON.stringify({ event_id: `e${i}`, ts: t0 + i, service: `svc-${i % 50}`, level: i % 10 === 0 ? 'error' : 'info', latency_ms: i % 997, path: '/api/v1/orders/checkout', user: `u${i % 5000}`, region: 'eu-west-1', pad: 'x'.repeat(30) });
}

async function ingest(): Promise<{ eps: number; p99: number; p50: number; pacedEps: number; sent: number }> {
  const { configFile } = makeProject('  {}\n');
  fs.appendFileSync(configFile, 'streams:\n  logs:\n    partition_key: service\n    event_time: { field: ts, format: epoch_ms }\n    limits: { max_body: 16mb, high_watermark: 1000000, flush_interval: 5ms }\n');
  const d = await Daemon.start(await loadConfig(configFile), { modules: [createStreamsModule()] });
  try {
    const t0 = Date.UTC(2026, 0, 1);
    const bodies: string[] = [];
    for (let i = 0; i < N; i += BATCH) bodies.push(Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => event(i + j, t0)).join('\n'));
    log(`ingest: ${N} events, ${bodies.length} requests of ${BATCH}, ${CLIENTS} clients; ~${Math.round(bodies[0]!.length / BATCH)} bytes/event`);
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < bodies.length) {
          const b = bodies[next++]!;
          const res = await fetch(`${d.url}/api/streams/logs/events?wait=true`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: b });
          if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
          await res.arrayBuffer();
        }
      }),
    );
    const eps = N / ((performance.now() - start) / 1000);

    // Paced: 100 events every 5 ms = 20,000/s, each request timed to its durable ack.
    const lat: number[] = [];
    const per = 100;
    const reqs = Math.round((PACED_S * 1000) / 5);
    const inflight: Promise<void>[] = [];
    const pStart = performance.now();
    for (let r = 0; r < reqs; r++) {
      const due = pStart + r * 5;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const body = Array.from({ length: per }, (_, j) => event(N + r * per + j, t0)).join('\n');
      const s = performance.now();
      inflight.push(
        fetch(`${d.url}/api/streams/logs/events?wait=true`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body }).then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 200) lat.push(performance.now() - s);
        }),
      );
    }
    await Promise.all(inflight);
    const pacedEps = (lat.length * per) / ((performance.now() - pStart) / 1000);
    return { eps, p50: pct(lat, 50), p99: pct(lat, 99), pacedEps, sent: reqs };
  } finally {
    await d.shutdown('bench end');
  }
}

const WINDOWS = {
  tumbling: { type: 'tumbling', size: '1m', aggregate: { n: 'count', errors: { op: 'count', where: { level: 'error' } }, lat: 'avg(latency_ms)', top: 'max(latency_ms)' } },
  hopping: { type: 'hopping', size: '5m', slide: '1m', aggregate: { n: 'count', errors: { op: 'count', where: { level: 'error' } }, lat: 'avg(latency_ms)', top: 'max(latency_ms)' } },
  session: { type: 'session', gap: '30s', aggregate: { n: 'count', errors: { op: 'count', where: { level: 'error' } }, lat: 'avg(latency_ms)', top: 'max(latency_ms)' } },
} as const;

function specs() {
  const cfg = streamsSectionSchema.parse({ logs: { partition_key: 'service', windows: WINDOWS } });
  return Object.entries(cfg.logs!.windows!).map(([name, w]) => querySpec(name, 'logs', w));
}

/** Events for the window runs: 1,000 keys, 20 ms apart (each key sees an event every 20 s: sessions of gap 30 s stay open and close as time moves on). */
function windowEvents(n: number) {
  const t0 = Date.UTC(2026, 0, 1);
  return Array.from({ length: n }, (_, i) => ({ seq: i + 1, time: t0 + i * 20, key: `k${(i * 7919) % 1000}`, payload: { level: i % 10 === 0 ? 'error' : 'info', latency_ms: i % 997 } }));
}

function engineOnly(): Record<string, number> {
  const evs = windowEvents(WN);
  const out: Record<string, number> = {};
  for (const spec of specs()) {
    const e = new WindowEngine(spec);
    const s = performance.now();
    for (let i = 0; i < evs.length; i++) {
      e.add(evs[i]!, 0);
      if (i % 5000 === 4999) e.flush(0);
    }
    e.flush(0);
    out[spec.name] = evs.length / ((performance.now() - s) / 1000);
  }
  return out;
}

async function endToEnd(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bench-streams-'));
  const store = await openStore({ kind: 'sqlite', path: path.join(dir, 'store.db') });
  try {
    await store.migrateModule(streamsStoreModule);
    const ss = new StreamStore(store.handle());
    const evs = windowEvents(WN);
    for (let i = 0; i < evs.length; i += 10_000) {
      await ss.appendMany([{ stream: 'logs', events: evs.slice(i, i + 10_000).map((e) => ({ time: e.time, key: e.key, id: null, payload: JSON.stringify(e.payload) })), dlq: [], dedupeMs: 0 }], Date.now());
    }
    const out: Record<string, number> = {};
    for (const spec of specs()) {
      let done = 0;
      const p = new QueryProcessor(spec, ss, store, systemClock, { committed: (_q, r) => void (done += r.events), error: (q, err) => log(`${q}: ${err.message}`) }, { batchSize: 5000, intervalMs: 50 });
      const s = performance.now();
      await p.start();
      while (done < evs.length) await sleep(5);
      out[spec.name] = evs.length / ((performance.now() - s) / 1000);
      await p.stop();
    }
    return out;
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const load0 = os.loadavg().map(r1);
log(`load average at start: ${load0.join(' ')} on ${os.cpus().length} cores`);
const ing = await ingest();
const eng = engineOnly();
const e2e = await endToEnd();
const load1 = os.loadavg().map(r1);

table('Durable NDJSON ingest over HTTP (SQLite, one daemon process)', ['measure', 'value', 'target'], [
  ['events/s (200-byte events, ?wait=true)', Math.round(ing.eps), '≥ 50,000'],
  [`ack p50 at a paced 20,000/s (ms)`, r1(ing.p50), ''],
  [`ack p99 at a paced 20,000/s (ms)`, r1(ing.p99), '≤ 25'],
  ['achieved paced rate (events/s)', Math.round(ing.pacedEps), '20,000'],
]);
table('Windowed aggregation, events/s on one core (OpenClaw engine · end to end with SQLite commits · Nexmark Flink 1.13 per core)', ['window', 'engine', 'end to end', 'target', 'Nexmark/core'], [
  ['tumbling 1m', Math.round(eng.tumbling!), Math.round(e2e.tumbling!), '≥ 50,000', `${NEXMARK.tumbling} (q7)`],
  ['hopping 5m/1m (size/slide 5)', Math.round(eng.hopping!), Math.round(e2e.hopping!), '≥ 25,000', `${NEXMARK.hopping} (q5)`],
  ['session gap 30s', Math.round(eng.session!), Math.round(e2e.session!), '≥ 40,000', `${NEXMARK.session} (q11)`],
]);
console.log(`\nload average: start ${load0.join(' ')}, end ${load1.join(' ')} (${os.cpus().length} cores, shared)`);
jsonLine('streams', { ingest: ing, engine: eng, endToEnd: e2e, loadStart: load0, loadEnd: load1 });
removeTempDirs();
process.exit(0);
