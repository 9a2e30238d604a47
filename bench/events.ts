// Durable events end to end: one run of an emitter agent emits K events (one commit puts all K in
// the outbox and fans them out to the consumer group), a sink agent handles each in its own run
// transaction (the delivery's ack + run record commit together). Throughput = K / (time from the
// trigger to the K-th committed handler). Also reported: the emitter's run (trigger → K events
// committed), and where CPU went: this process (= the daemon) vs the agent host process.
//
// The daemon runs in this process with its store wrapped to see commits. `--profile` records a
// CPU profile of the daemon's main thread during the consume phase (node:inspector), writes it to
// bench/profiles/ (open in Chrome DevTools) and prints the top functions by self time.
//
// Latency: emit → handler start = the sink run's startedAt (taken in the daemon just before the
// invocation leaves for the host) − the event's createdAt (its emitter's commit time), in ms.
// `--fleet 1000` adds that many shared no-op agents scheduled `every 1s` beside the work.
// `--host-profile` profiles the agent side: the emitter and the sink run with
// `permissions: { sandbox: false }` (the permission model blocks every way to profile a thread,
// src/runtime/thread-profile.ts) and each host main thread and worker writes a CPU profile of its
// first `--host-profile-ms` (default 8000) from its first invocation to bench/profiles/.
//
//   node --import tsx events.ts [--events 5000] [--concurrency 1,16] [--fleet 0,1000] [--no-pg] [--no-sqlite] [--profile] [--host-profile]
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { Daemon } from '../src/daemon/daemon.js';
import { openStore, type RunCommit, type Store } from '../src/store/index.js';
import {
  BENCH_DIR,
  PG_URL,
  agentFile,
  arg,
  dropSchemas,
  havePostgres,
  jsonLine,
  log,
  makeProject,
  pct,
  r1,
  removeTempDirs,
  table,
  waitFor,
  type StoreChoice,
} from './lib/common.js';
import { cpuWindow, summarizeProfile, type TopSelf } from './lib/profile.js';

const K = arg('events', 5000);
const CONC = arg('concurrency', '1,16')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => n > 0);
const NO_PG = arg('no-pg', false);
const NO_SQLITE = arg('no-sqlite', false);
const PROFILE = arg('profile', false);
const FLEETS = String(arg('fleet', '0'))
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => n >= 0);
const TIMEOUT_S = arg('timeout', 60);
const HOST_PROFILE = arg('host-profile', false);
const HOST_PROFILE_MS = arg('host-profile-ms', 8000);
const HOST_PROFILE_DIR = path.join(BENCH_DIR, 'profiles', `hosts-${Date.now()}`);
const TARGET = 50_000;

interface Result {
  backend: string;
  concurrency: number;
  fleet: number;
  events: number;
  latencyMs: { p50: number; p99: number };
  cpuUsPerEvent: number;
  handled: number;
  emitRunMs: number;
  totalMs: number;
  eventsPerSec: number;
  cpu: { daemonUserMs: number; daemonSysMs: number; hostsMs: number };
  topSelf?: TopSelf[];
}

async function run(kind: 'sqlite' | 'postgres', concurrency: number, fleet: number, schemas: string[]): Promise<Result> {
  let storeChoice: StoreChoice;
  let store: Store;
  const prof = HOST_PROFILE ? `    permissions: { sandbox: false }\n    env: { OPENCLAW_THREAD_PROFILE_DIR: '${HOST_PROFILE_DIR}', OPENCLAW_THREAD_PROFILE_MS: '${HOST_PROFILE_MS}' }\n` : '';
  if (HOST_PROFILE) fs.mkdirSync(HOST_PROFILE_DIR, { recursive: true });
  const agents = `  emitter:\n    source: ${agentFile('emitter.ts')}\n${prof}  sink:\n    source: ${agentFile('sink.ts')}\n${prof}    events: { concurrency: ${concurrency} }\n` + fleetYaml(fleet);
  let configFile: string;
  if (kind === 'sqlite') {
    const p = makeProject(agents);
    configFile = p.configFile;
    fs.mkdirSync(path.join(p.dir, '.openclaw'), { recursive: true });
    storeChoice = { kind: 'sqlite' };
    store = await openStore({ kind: 'sqlite', path: path.join(p.dir, '.openclaw', 'openclaw.db') });
  } else {
    const schema = `oc_bench_ev_${Date.now().toString(36)}`;
    schemas.push(schema);
    storeChoice = { kind: 'postgres', url: PG_URL, schema };
    configFile = makeProject(agents, storeChoice).configFile;
    store = await openStore(storeChoice);
  }
  let handled = 0;
  let lastAt = 0;
  let emitCommittedAt = 0;
  let done: (() => void) | null = null;
  const createdAt = new Map<string, number>();
  const latencies: number[] = [];
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'commitRun') {
        return async (c: RunCommit) => {
          const r = await target.commitRun(c);
          if (c.ack && c.run?.agent === 'sink') {
            const at = createdAt.get(c.run.eventId ?? '');
            if (at !== undefined) latencies.push(c.run.startedAt - at);
            handled++;
            lastAt = performance.now();
            if (handled >= K) done?.();
          } else if (c.run?.agent === 'emitter') {
            emitCommittedAt = performance.now();
            for (const e of c.emits) createdAt.set(e.id, e.createdAt);
          }
          return r;
        };
      }
      const v = (target as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const d = await Daemon.start(await loadConfig(configFile), { store: wrapped, listen: false });
  try {
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'), 120_000, 50);
    // Warm the path (module caches, prepared statements) with a few events first.
    const warm = 50;
    const warmDone = new Promise<void>((r) => (done = r));
    const saveK = handled;
    await d.trigger('emitter', { n: warm });
    await waitFor('warm-up handled', () => handled - saveK >= warm, 30_000, 5);
    void warmDone;
    handled = 0;
    latencies.length = 0;

    const finished = new Promise<void>((r) => (done = r));
    const cpuWin = await cpuWindow(PROFILE ? `events-${kind}-c${concurrency}` : null);
    const t0 = performance.now();
    await d.trigger('emitter', { n: K });
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), TIMEOUT_S * 1000).unref());
    const outcome = await Promise.race([finished.then(() => 'ok' as const), timeout]);
    const end = outcome === 'ok' ? lastAt : performance.now();
    const cpu = await cpuWin.stop();
    const topSelf = cpu.topSelf;
    if (outcome === 'timeout') log(`${kind} c=${concurrency}: timed out after ${TIMEOUT_S}s with ${handled}/${K} handled`);
    const totalMs = end - t0;
    return {
      backend: kind,
      concurrency,
      fleet,
      events: K,
      latencyMs: { p50: pct(latencies, 50), p99: pct(latencies, 99) },
      cpuUsPerEvent: handled > 0 ? Math.round(((cpu.daemonUserMs + cpu.daemonSysMs + cpu.hostsMs) * 1000) / handled) : 0,
      handled,
      emitRunMs: r1(emitCommittedAt - t0),
      totalMs: r1(totalMs),
      eventsPerSec: Math.round((handled / totalMs) * 1000),
      cpu: { daemonUserMs: cpu.daemonUserMs, daemonSysMs: cpu.daemonSysMs, hostsMs: cpu.hostsMs },
      topSelf,
    };
  } finally {
    // The agent threads write their profiles HOST_PROFILE_MS after their first invocation.
    if (HOST_PROFILE) await waitFor('host profiles', () => fs.readdirSync(HOST_PROFILE_DIR).length >= 4, HOST_PROFILE_MS + 20_000, 200).catch(() => undefined);
    await d.shutdown('bench done');
    await store.close();
  }
}

/** N shared no-op agents, each scheduled every second (the background fleet). */
function fleetYaml(n: number): string {
  let yaml = '';
  for (let i = 0; i < n; i++) yaml += `  tick${String(i).padStart(4, '0')}:\n    source: ${agentFile('noop.ts')}\n    isolation: shared\n    schedule: every 1s\n`;
  return yaml;
}

const schemas: string[] = [];
const results: Result[] = [];
try {
  const backends: Array<'sqlite' | 'postgres'> = NO_SQLITE ? [] : ['sqlite'];
  if (!NO_PG && (await havePostgres())) backends.push('postgres');
  else log('PostgreSQL skipped');
  for (const b of backends) {
    for (const f of FLEETS) {
      for (const c of CONC) {
        log(`${b}: ${K} events, sink concurrency ${c}, ${f} shared agents ticking every 1s`);
        results.push(await run(b, c, f, schemas));
        log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
      }
    }
  }
} finally {
  await dropSchemas(schemas).catch((err) => log(`could not drop schemas: ${err.message}`));
  removeTempDirs();
}

table(
  `Durable events end to end: 1 run emits ${K}, a sink handles each in its own run transaction (target ≥ ${TARGET.toLocaleString('en')} events/s)`,
  ['store', 'fleet', 'sink concurrency', 'handled', 'emit run ms', 'total ms', 'events/s', 'emit→start p50 ms', 'p99 ms', 'CPU µs/event', 'daemon CPU ms', 'host CPU ms'],
  results.map((r) => [r.backend, r.fleet, r.concurrency, `${r.handled}/${r.events}`, r.emitRunMs, r.totalMs, r.eventsPerSec, r.latencyMs.p50, r.latencyMs.p99, r.cpuUsPerEvent, r.cpu.daemonUserMs + r.cpu.daemonSysMs, r.cpu.hostsMs]),
);
for (const r of results) {
  if (!r.topSelf) continue;
  table(`Daemon main thread, top self time (${r.backend}, concurrency ${r.concurrency})`, ['function', 'self ms', '%'], r.topSelf.map((t) => [t.fn, t.selfMs, t.pct]));
}
if (HOST_PROFILE) {
  for (const f of fs.readdirSync(HOST_PROFILE_DIR).sort()) {
    const top = summarizeProfile(JSON.parse(fs.readFileSync(path.join(HOST_PROFILE_DIR, f), 'utf8')), 15);
    table(`Agent side, top self time: ${f} (the profiler's own work shows as 'post'/'dispatch')`, ['function', 'self ms', '%'], top.map((t) => [t.fn, t.selfMs, t.pct]));
  }
}
jsonLine('events', { target: TARGET, results: results.map((r) => ({ ...r, topSelf: r.topSelf?.slice(0, 8) })), met: results.some((r) => r.eventsPerSec >= TARGET && r.handled === r.events) });
