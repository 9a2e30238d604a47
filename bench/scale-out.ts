// Scale-out benchmark (issue 11). Part `relay`: the outbox relay from PostgreSQL to Redis Streams
// and to NATS JetStream (src/bus/relay.ts), on the local services.
//
//   drain:  N events committed to the store's log (batches of 1,000) with the relay stopped, then the
//           relay started: events/s = N / (start → the cursor passed the last one). This is the relay
//           alone: read below the snapshot horizon → publish (Redis: one Lua script per batch; NATS:
//           up to 512 PubAcks outstanding) → fenced cursor move, overlapped across batches.
//   steady: writers commit `--rate` events/s for `--seconds` (batches every 20 ms, paced by the
//           clock; the relay woken after each commit as in the daemon) while the relay runs;
//           lag = the moment the relay's publish of an event returned − the moment its writer's
//           commit returned (the relay's own delay, not the writer's commit time). p50/p99/max.
// Both backends take the same store contents; each run uses its own schema / key prefix / stream
// and removes them. Failover after kill -9 is bench/failover.ts; 1 vs 3 daemons end to end is
// bench/scale-out-daemons.ts.
//
//   node --import tsx scale-out.ts [--events 50000] [--rate 5000] [--seconds 8] [--only redis|nats] [--profile]
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { OutboxStore, outboxStoreModule } from '../src/bus/outbox-store.js';
import { NatsBus } from '../src/bus/nats.js';
import { RedisBus } from '../src/bus/redis.js';
import { OutboxRelay } from '../src/bus/relay.js';
import type { ExternalBus, NewEvent, RelayedFrom, StoredEvent } from '../src/bus/types.js';
import { systemClock } from '../src/scheduler/types.js';
import { openStore, type Store } from '../src/store/index.js';
import { cpuWindow } from './lib/profile.js';
import { PG_URL, arg, dropSchemas, havePostgres, jsonLine, log, pct, r1, table, uniqueSchema, waitFor } from './lib/common.js';

const N = arg('events', 50_000);
const RATE = arg('rate', 5000);
const SECONDS = Math.min(arg('seconds', 8), 20);
const ONLY = arg('only', '');
const PROFILE = arg('profile', false);
const REDIS_URL = process.env.OPENCLAW_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS_URL = process.env.OPENCLAW_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const PAYLOAD = { text: 'x'.repeat(160), n: 0 };

let seq = 0;
const events = (n: number, key: string): NewEvent[] => Array.from({ length: n }, () => ({ id: `e${++seq}`, name: 'tick', payload: PAYLOAD, source: 'bench', createdAt: Date.now(), key }));

interface Backend {
  name: 'redis' | 'nats';
  open(): Promise<ExternalBus>;
  cleanup(): Promise<void>;
}

const tag = uniqueSchema('oc_scale');
const backends: Backend[] = [
  {
    name: 'redis',
    open: () => new RedisBus({ url: REDIS_URL, prefix: `{${tag}}`, clock: systemClock }).connect(),
    async cleanup() {
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`{${tag}}:*`);
      if (keys.length > 0) await r.del(...keys);
      await r.quit();
    },
  },
  {
    name: 'nats',
    open: () => new NatsBus({ url: NATS_URL, stream: tag, clock: systemClock }).connect(),
    async cleanup() {
      const nc = await connect({ servers: NATS_URL });
      const jsm = await jetstreamManager(nc);
      for (const s of [tag, `${tag}_dlq`]) await jsm.streams.delete(s).catch(() => false);
      await nc.close();
    },
  },
];

/** Wraps the bus so the relay's publish times are seen. */
function timed(bus: ExternalBus, lags: number[], committedAt: Map<string, number>): Pick<ExternalBus, 'publishStored'> {
  return {
    async publishStored(evs: StoredEvent[], relayed?: RelayedFrom) {
      const n = await bus.publishStored(evs, relayed);
      const now = performance.now();
      for (const e of evs) {
        const at = committedAt.get(e.id);
        if (at === undefined) continue;
        lags.push(now - at);
        committedAt.delete(e.id);
      }
      return n;
    },
  };
}

async function runBackend(b: Backend): Promise<Record<string, number | string>> {
  const schema = uniqueSchema('oc_scale');
  const store: Store = await openStore({ kind: 'postgres', url: PG_URL, schema }, {});
  const bus = await b.open();
  try {
    await store.migrateModule(outboxStoreModule);
    await bus.subscribe('sink', ['tick']);
    const outbox = new OutboxStore(store.handle());
    const lags: number[] = [];
    const committedAt = new Map<string, number>();
    const relay = new OutboxRelay(outbox, timed(bus, lags, committedAt), { stream: b.name, owner: 'bench', clock: systemClock, pollMs: 10 });
    await relay.pass(); // the lease, at the head of the (empty) log

    // Drain: a backlog committed first, then the relay alone.
    for (let i = 0; i < N; i += 1000) await store.publish(events(Math.min(1000, N - i), `k${i % 16}`));
    const cpu = await cpuWindow(PROFILE ? `scale-out-relay-${b.name}` : null);
    const t0 = performance.now();
    relay.start();
    await waitFor('backlog relayed', () => relay.stats.published >= N, 120_000, 5);
    const drainS = (performance.now() - t0) / 1000;
    const used = await cpu.stop();
    if (used.topSelf) for (const t of used.topSelf) log(`  ${String(t.selfMs).padStart(6)} ms ${String(t.pct).padStart(5)}%  ${t.fn}`);

    // Steady: writers at RATE while the relay runs.
    lags.length = 0;
    committedAt.clear();
    const perTick = Math.max(1, Math.round(RATE / 50));
    const target = relay.stats.published;
    let written = 0;
    // Paced by the clock, not by the commit: a commit slower than 20 ms is caught up by the next
    // (batches of at most 5 ticks), so the offered rate is RATE unless the store cannot take it.
    const start = Date.now();
    const end = start + SECONDS * 1000;
    while (Date.now() < end) {
      const due = Math.min(Math.floor(((Date.now() - start) / 1000) * RATE) - written, perTick * 5);
      if (due > 0) {
        const batch = events(due, `k${written % 16}`);
        await store.publish(batch);
        const at = performance.now();
        for (const e of batch) committedAt.set(e.id, at);
        written += due;
        relay.wake(); // as the daemon does after a commit with events (OutboxBus.published)
      }
      const wait = 20 - ((Date.now() - start) % 20);
      await new Promise((r) => setTimeout(r, wait));
    }
    await waitFor('steady phase relayed', () => relay.stats.published >= target + written, 60_000, 5);
    await relay.stop();
    return {
      backend: b.name,
      drained: N,
      drainEventsPerS: Math.round(N / drainS),
      drainCpuUsPerEvent: Math.round(((used.daemonUserMs + used.daemonSysMs) * 1000) / N),
      steadyRate: Math.round(written / SECONDS),
      offeredRate: RATE,
      lagP50Ms: r1(pct(lags, 50)),
      lagP99Ms: r1(pct(lags, 99)),
      lagMaxMs: r1(Math.max(...lags)),
      batches: relay.stats.batches,
    };
  } finally {
    await bus.close();
    await store.close();
    await b.cleanup();
    await dropSchemas([schema]);
  }
}

async function main(): Promise<void> {
  if (!(await havePostgres())) {
    log('PostgreSQL is not reachable: the relay bench needs it (OPENCLAW_BENCH_PG_URL)');
    return;
  }
  const rows: Array<Record<string, number | string>> = [];
  for (const b of backends) {
    if (ONLY && ONLY !== b.name) continue;
    log(`relay PG → ${b.name}: ${N} events backlog, then ${RATE}/s for ${SECONDS} s`);
    try {
      rows.push(await runBackend(b));
    } catch (err) {
      log(`${b.name}: skipped (${(err as Error).message})`);
    }
  }
  table(
    'Outbox relay (PostgreSQL → bus)',
    ['backend', 'backlog events/s', 'relay CPU µs/event', 'steady rate /s', 'lag p50 ms', 'lag p99 ms', 'lag max ms', 'batches'],
    rows.map((r) => [r.backend!, r.drainEventsPerS!, r.drainCpuUsPerEvent!, r.steadyRate!, r.lagP50Ms!, r.lagP99Ms!, r.lagMaxMs!, r.batches!]),
  );
  jsonLine('scale-out', { part: 'relay', events: N, rate: RATE, seconds: SECONDS, rows });
}

await main();
