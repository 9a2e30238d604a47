// Agent cold start, through the runtime alone (no daemon, no store): time from startAgent() to the
// instance being described (module loaded, class inspected) and to setup() done, for a dedicated
// TypeScript agent.
//   fresh host: a new runtime each time, so the start includes forking the agent host process;
//   warm host, spare ready: one runtime whose host is already up, and whose spare worker (booted
//     ahead, SDK loaded) is ready before each start: the start is a hand-over. What a start or a
//     crash restart on a running daemon gets, unless it comes within ~100 ms of the previous one.
//   warm host, back to back: each start right after the previous instance stopped; the spare was
//     spawned when the previous setup() answered, so it is still booting (or none is there).
// Also reported: the host's own figure (worker spawn or hand-over → described, `coldStartMs`), and
// how each start got its worker (spawned / spare still booting / spare ready).
// By default both the TypeScript source (../src, tsx in every worker) and the built package
// (../dist, what users run) are measured when ../dist exists.
//
//   node --import tsx cold-start.ts [--starts 20] [--from src|dist|both]
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { BENCH_DIR, agentFile, arg, jsonLine, log, roundSummary, summarize, table, type Summary } from './lib/common.js';

const STARTS = arg('starts', 20);
const FROM = arg('from', 'both');
const TARGET_P50_MS = 50;

type RuntimeModule = typeof import('../src/runtime/index.js');

interface Row {
  from: 'src' | 'dist';
  host: 'fresh' | 'warm, spare ready' | 'warm, back to back';
  workers: string;
  toDescribed: Summary;
  toSetupDone: Summary;
  hostColdStart: Summary;
}

const listener = {
  rpc: async () => null,
  log: () => undefined,
  metrics: () => undefined,
  memory: () => undefined,
  logsDropped: () => undefined,
};

function spec(i: number) {
  return {
    instanceId: `cold-${i}#0`,
    agent: `cold-${i}`,
    replica: 0,
    file: agentFile('noop.ts'),
    config: {},
    isolation: 'dedicated' as const,
    memory: {},
    heartbeatTimeoutMs: 10_000,
    logLevel: 'info' as const,
  };
}

async function once(rt: ReturnType<RuntimeModule['createRuntime']>, mod: RuntimeModule, i: number) {
  const t0 = performance.now();
  const h = await rt.startAgent(spec(i));
  const t1 = performance.now();
  const res = await h.invoke({ runId: randomUUID(), kind: 'setup', versions: {} });
  const t2 = performance.now();
  if (!res.ok) throw new Error(`setup failed: ${res.error?.message}`);
  const host = mod.coldStartMs(h) ?? NaN;
  const worker = mod.workerSource?.(h) ?? '?';
  await h.dispose();
  return { described: t1 - t0, setup: t2 - t0, host, worker };
}

async function measure(from: 'src' | 'dist'): Promise<Row[]> {
  const mod: RuntimeModule = from === 'src' ? await import('../src/runtime/index.js') : await import(path.join(BENCH_DIR, '..', 'dist', 'runtime', 'index.js'));
  const rows: Row[] = [];
  const sources = new Map<string, number>();
  const workers = () => {
    const out = [...sources].map(([k, n]) => `${k} ${n}`).join(', ');
    sources.clear();
    return out;
  };
  // fresh host
  {
    const d: number[] = [];
    const s: number[] = [];
    const h: number[] = [];
    for (let i = 0; i < STARTS + 1; i++) {
      const rt = mod.createRuntime(listener);
      try {
        const r = await once(rt, mod, i);
        if (i > 0) {
          // the first one also pays for disk caches (tsx's transform cache, the page cache)
          d.push(r.described);
          s.push(r.setup);
          h.push(r.host);
          sources.set(r.worker, (sources.get(r.worker) ?? 0) + 1);
        }
      } finally {
        await rt.shutdown();
      }
    }
    rows.push({ from, host: 'fresh', workers: workers(), toDescribed: summarize(d), toSetupDone: summarize(s), hostColdStart: summarize(h) });
  }
  // warm host
  for (const host of ['warm, spare ready', 'warm, back to back'] as const) {
    const rt = mod.createRuntime(listener);
    const d: number[] = [];
    const s: number[] = [];
    const h: number[] = [];
    try {
      await once(rt, mod, 1000); // spawns the host
      for (let i = 0; i < STARTS; i++) {
        if (host === 'warm, spare ready') {
          if (!mod.sparesReady) throw new Error('this runtime cannot tell when its spare is ready (no sparesReady export)');
          await mod.sparesReady(rt);
        }
        const r = await once(rt, mod, 1001 + i);
        d.push(r.described);
        s.push(r.setup);
        h.push(r.host);
        sources.set(r.worker, (sources.get(r.worker) ?? 0) + 1);
      }
    } finally {
      await rt.shutdown();
    }
    rows.push({ from, host, workers: workers(), toDescribed: summarize(d), toSetupDone: summarize(s), hostColdStart: summarize(h) });
  }
  return rows;
}

const froms: Array<'src' | 'dist'> = FROM === 'both' ? ['src', 'dist'] : [FROM as 'src' | 'dist'];
const rows: Row[] = [];
for (const f of froms) {
  if (f === 'dist' && !fs.existsSync(path.join(BENCH_DIR, '..', 'dist', 'runtime', 'index.js'))) {
    log('no ../dist (run `npm run build` at the root); skipping the built package');
    continue;
  }
  log(`${f}: ${STARTS} starts on a fresh host, ${STARTS} on a warm host`);
  rows.push(...(await measure(f)));
}

table(
  `Agent cold start, dedicated TypeScript agent (ms; target p50 ≤ ${TARGET_P50_MS} ms)`,
  ['runtime from', 'host', 'n', 'startAgent → described p50', 'p90', 'max', '→ setup done p50', 'p90', 'host: start → described p50', 'worker'],
  rows.map((r) => [r.from, r.host, r.toDescribed.n, r.toDescribed.p50, r.toDescribed.p90, r.toDescribed.max, r.toSetupDone.p50, r.toSetupDone.p90, r.hostColdStart.p50, r.workers]),
);
jsonLine('cold-start', {
  targetP50Ms: TARGET_P50_MS,
  results: rows.map((r) => ({ from: r.from, host: r.host, workers: r.workers, toDescribed: roundSummary(r.toDescribed), toSetupDone: roundSummary(r.toSetupDone), hostColdStart: roundSummary(r.hostColdStart) })),
  met: Object.fromEntries(rows.map((r) => [`${r.from}/${r.host}`, r.toSetupDone.p50 <= TARGET_P50_MS])),
});
