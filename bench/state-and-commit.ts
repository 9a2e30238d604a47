// State reads from agent code, and run commits, on SQLite and PostgreSQL.
//
//  1. state read from agent code: an agent times `await this.state.get(k)` with performance.now()
//     inside one run — first read of each key (an RPC: worker → host → daemon → store), the same
//     keys again (the worker's read cache), and absent keys — and hands the samples back in state.
//  2. trigger → committed: Daemon.trigger() until the store's commitRun for that run id resolved,
//     for an agent that reads 1 key, writes 3 and emits 2 events (sequential).
//  3. commitRun alone: the store's commitRun with the same shape (1 read check, 3 writes, 2 emits
//     fanned out to one subscriber, a run record), called directly, sequentially.
//
// The daemon runs in this process (the store is injected, wrapped to see commits). PostgreSQL:
// postgres://root@127.0.0.1:5432/test (OPENCLAW_BENCH_PG_URL), in a fresh schema dropped at the end.
//
//   node --import tsx state-and-commit.ts [--commits 2000] [--triggers 300] [--keys 1000] [--cached 20000] [--no-pg]
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../src/config/index.js';
import { Daemon } from '../src/daemon/daemon.js';
import { openStore, type RunCommit, type Store } from '../src/store/index.js';
import {
  PG_URL,
  agentFile,
  arg,
  dropSchemas,
  havePostgres,
  jsonLine,
  log,
  makeProject,
  removeTempDirs,
  roundSummary,
  summarize,
  table,
  waitFor,
  type StoreChoice,
  type Summary,
} from './lib/common.js';
import path from 'node:path';

const COMMITS = arg('commits', 2000);
const TRIGGERS = arg('triggers', 300);
const KEYS = arg('keys', 1000);
const CACHED = arg('cached', 20_000);
const NO_PG = arg('no-pg', false);

const TARGETS = { readP50Ms: 0.1, readP99Ms: 1, commitP50Ms: 1, commitP99Ms: 5 };

interface BackendResult {
  backend: string;
  readUncached: Summary;
  readCached: Summary;
  readAbsent: Summary;
  triggerToCommitted: Summary;
  commitRunAlone: Summary;
}

function commitShape(ns: string, i: number, nVersion: number): RunCommit {
  const runId = randomUUID();
  const now = Date.now();
  return {
    reads: [{ namespace: ns, key: 'n', version: nVersion }],
    writes: [
      { namespace: ns, key: 'n', value: i + 1 },
      { namespace: ns, key: 'last', value: { at: now, n: i } },
      { namespace: ns, key: `slot${i % 16}`, value: { n: i, text: 'x'.repeat(64) } },
    ],
    emits: [
      { id: randomUUID(), name: 'bench.committed', payload: { n: i }, source: ns, createdAt: now },
      { id: randomUUID(), name: 'bench.audit', payload: { n: i, ok: true }, source: ns, createdAt: now },
    ],
    run: { id: runId, agent: ns, instance: `${ns}#0`, trigger: 'manual', status: 'succeeded', scheduledAt: null, startedAt: now, finishedAt: now, error: null, reason: null, eventId: null },
    maxStateSize: { [ns]: 100 * 1024 * 1024 },
    runId,
  };
}

async function commitAlone(store: Store): Promise<Summary> {
  const ns = 'commit-alone';
  await store.setSubscriptions('bench-subscriber', ['bench.committed']);
  let version = 0;
  const samples: number[] = [];
  const warm = Math.min(200, COMMITS);
  for (let i = 0; i < warm + COMMITS; i++) {
    const c = commitShape(ns, i, version);
    const t = performance.now();
    const r = await store.commitRun(c);
    const dt = performance.now() - t;
    version = r.versions[ns];
    if (i >= warm) samples.push(dt);
  }
  await store.setSubscriptions('bench-subscriber', []);
  return summarize(samples);
}

async function viaDaemon(store: Store, storeChoice: StoreChoice): Promise<Omit<BackendResult, 'backend' | 'commitRunAlone'>> {
  const committedAt = new Map<string, number>();
  const waiters = new Map<string, (t: number) => void>();
  // The daemon gets the store through a thin wrapper that notes when each run's commit resolved.
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'commitRun') {
        return async (c: RunCommit) => {
          const r = await target.commitRun(c);
          const id = c.run?.id;
          if (id) {
            const t = performance.now();
            const w = waiters.get(id);
            if (w) w(t);
            else committedAt.set(id, t);
          }
          return r;
        };
      }
      const v = (target as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const { configFile } = makeProject(
    `  committer:\n    source: ${agentFile('committer.ts')}\n  reader:\n    source: ${agentFile('state-reader.ts')}\n`,
    storeChoice,
  );
  const d = await Daemon.start(await loadConfig(configFile), { store: wrapped, listen: false });
  try {
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));
    const committed = (runId: string) => {
      const t = committedAt.get(runId);
      if (t !== undefined) {
        committedAt.delete(runId);
        return Promise.resolve(t);
      }
      return new Promise<number>((resolve) =>
        waiters.set(runId, (t) => {
          waiters.delete(runId);
          resolve(t);
        }),
      );
    };

    // trigger → committed
    const e2e: number[] = [];
    const warm = 30;
    for (let i = 0; i < warm + TRIGGERS; i++) {
      const t0 = performance.now();
      const { runId } = await d.trigger('committer');
      const t1 = await committed(runId);
      if (i >= warm) e2e.push(t1 - t0);
    }

    // state reads from agent code
    const fill = await d.trigger('reader', { op: 'fill', keys: KEYS });
    await committed(fill.runId);
    const read = await d.trigger('reader', { op: 'read', keys: KEYS, cachedReads: CACHED });
    await committed(read.runId);
    const s = (await d.getState('reader')).state.samples as { uncached: number[]; cached: number[]; missing: number[] };
    return {
      readUncached: summarize(s.uncached),
      readCached: summarize(s.cached),
      readAbsent: summarize(s.missing),
      triggerToCommitted: summarize(e2e),
    };
  } finally {
    await d.shutdown('bench done');
  }
}

async function backend(kind: 'sqlite' | 'postgres', schemas: string[]): Promise<BackendResult> {
  let storeChoice: StoreChoice;
  let store: Store;
  if (kind === 'sqlite') {
    const { dir } = makeProject('');
    const file = path.join(dir, '.openclaw', 'openclaw.db');
    storeChoice = { kind: 'sqlite' };
    (await import('node:fs')).mkdirSync(path.dirname(file), { recursive: true });
    store = await openStore({ kind: 'sqlite', path: file });
  } else {
    const schema = `oc_bench_${Date.now().toString(36)}`;
    schemas.push(schema);
    storeChoice = { kind: 'postgres', url: PG_URL, schema };
    store = await openStore({ kind: 'postgres', url: PG_URL, schema });
  }
  try {
    log(`${kind}: commitRun alone ×${COMMITS}`);
    const alone = await commitAlone(store);
    log(`${kind}: daemon: trigger → committed ×${TRIGGERS}, then ${KEYS} uncached + ${CACHED} cached reads`);
    const viaD = await viaDaemon(store, storeChoice);
    return { backend: kind, commitRunAlone: alone, ...viaD };
  } finally {
    await store.close();
  }
}

const schemas: string[] = [];
const results: BackendResult[] = [];
try {
  results.push(await backend('sqlite', schemas));
  if (!NO_PG && (await havePostgres())) results.push(await backend('postgres', schemas));
  else log('PostgreSQL skipped');
} finally {
  await dropSchemas(schemas).catch((err) => log(`could not drop schemas ${schemas.join(', ')}: ${err.message}`));
  removeTempDirs();
}

const row = (what: string, target: string, get: (r: BackendResult) => Summary) =>
  results.flatMap((r) => {
    const s = get(r);
    return [[`${what} (${r.backend})`, target, s.n, s.p50, s.p90, s.p99, s.max]];
  });
table(
  'State reads from agent code and run commits (ms)',
  ['measure', 'target', 'n', 'p50', 'p90', 'p99', 'max'],
  [
    ...row('state.get, cached', `p50 ≤ ${TARGETS.readP50Ms}, p99 ≤ ${TARGETS.readP99Ms}`, (r) => r.readCached),
    ...row('state.get, uncached (RPC)', `p50 ≤ ${TARGETS.readP50Ms}, p99 ≤ ${TARGETS.readP99Ms}`, (r) => r.readUncached),
    ...row('state.get, absent key (RPC)', '', (r) => r.readAbsent),
    ...row('commitRun alone', `p50 ≤ ${TARGETS.commitP50Ms}, p99 ≤ ${TARGETS.commitP99Ms}`, (r) => r.commitRunAlone),
    ...row('trigger → committed', '', (r) => r.triggerToCommitted),
  ],
);
jsonLine('state-and-commit', {
  targets: TARGETS,
  results: results.map((r) => ({
    backend: r.backend,
    readCached: roundSummary(r.readCached, (x) => Math.round(x * 10000) / 10000),
    readUncached: roundSummary(r.readUncached),
    readAbsent: roundSummary(r.readAbsent),
    commitRunAlone: roundSummary(r.commitRunAlone),
    triggerToCommitted: roundSummary(r.triggerToCommitted),
  })),
});
