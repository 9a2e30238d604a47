// The dashboard at scale (issue R14's bench): a daemon (child process) over a store seeded with
// `--runs` runs (each with its triggering event, whose payload is full-text indexed) and `--usage`
// LLM usage rows (rolled up by the trigger as they are inserted), then:
//   - payload search p50/p95 (GET /api/ui/search?q=…, runs and events; server time over loopback HTTP)
//   - spend page p50/p95 (GET /api/ui/spend?days=30 and 1)
//   - a run's timeline p50/p95 (GET /api/ui/agents/:name/runs/:run; every usage row names a run,
//     so each run has about usage/runs LLM calls among all the rows)
//   - in chromium: fleet filter and sort over `--agents` agents (the fleet answer is served to the
//     page by Playwright's request routing, so 10,000 agents need not run: this measures the
//     browser's work), a workflow DAG of `--dag` steps rendered, and state change → on screen
//     (pause/resume of a real agent by the API, until the row's badge changes; wall clock in both).
// Defaults are scaled down for a shared 2-core machine; pass the sizes to run them all:
//   node --import tsx ui.ts --agents 10000 --runs 1000000 --usage 10000000 --dag 2000
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { openStore } from '../src/store/index.js';
import { llmStoreModule } from '../src/llm/ledger.js';
import { uiStoreModule } from '../src/api/ui/store.js';
import { loadConfig } from '../src/config/index.js';
import type { Store } from '../src/store/types.js';
import { PG_URL, agentFile, arg, dropSchemas, jsonLine, log, makeProject, pct, removeTempDirs, startChildDaemon, table, uniqueSchema, type StoreChoice } from './lib/common.js';

// The page.evaluate callbacks below run in the browser. Their few DOM globals are declared here
// instead of `lib: dom`, which would retype `performance` and `Headers` for the whole program
// (bench/tsconfig.json includes ../src, where those are Node's).
declare const document: { querySelector(s: string): any; querySelectorAll(s: string): ArrayLike<any> };
declare const requestAnimationFrame: (cb: (t: number) => void) => number;
declare const location: { hash: string };
declare const Event: new (type: string, init?: { bubbles?: boolean }) => unknown;

const AGENTS = arg('agents', 10_000);
const RUNS = arg('runs', 200_000);
const USAGE = arg('usage', 1_000_000);
const DAG = arg('dag', 2000);
const QUERIES = arg('queries', 100);
const CHANGES = arg('changes', 30);
const NO_PG = arg('no-pg', false);
const NO_SQLITE = arg('no-sqlite', false);
/** Keep the seeded stores (SQLite under this dir, a PostgreSQL schema named after the sizes) and reuse them on the next run with the same sizes. */
const KEEP = arg('keep', '');
const CHROMIUM = '/usr/bin/chromium';

const WORDS = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}x`);
const word = (i: number) => WORDS[(i * 7919) % WORDS.length]!;

async function seed(store: Store, runs: number, usage: number): Promise<{ seconds: number }> {
  const t0 = performance.now();
  await store.migrateModule(llmStoreModule);
  await store.migrateModule(uiStoreModule);
  const h = store.handle();
  const day = 86_400_000;
  const now = Date.now();
  const BATCH = 5000;
  const runRow = (i: number) => {
    const ts = now - (i % 90) * day - (i % 1000) * 1000;
    return {
      event: [`ev-${i}`, 'order', JSON.stringify({ customer: `c${i % 50_000}`, note: `${word(i)} ${word(i * 3 + 1)}`, n: i }), `agent-${i % 500}`, ts],
      run: [`run-${i}`, `agent-${i % 500}`, `agent-${i % 500}#0`, 'event', i % 17 === 0 ? 'failed' : 'succeeded', null, ts, ts + 5, i % 17 === 0 ? 'boom' : null, null, `ev-${i}`],
    };
  };
  // Usage row i belongs to run i % runs (same agent: runs is a multiple of 500 at every size used).
  const usageRow = (i: number) => [`u-${i}`, now - (i % 90) * day - (i % 997) * 1000, `agent-${i % 500}`, `key-${i % 20}`, ['gpt-4o-mini', 'gpt-4o', 'claude-haiku', 'claude-sonnet'][i % 4], 100 + (i % 900), 50 + (i % 400), i % 3, 10_000 + ((i * 7919) % 5_000_000), i % 50 === 0 ? 'error' : 'ok', i % 9 === 0 ? 1 : 0, `run-${i % runs}`];
  if (h.dialect === 'sqlite') {
    const ev = h.db.prepare(`INSERT INTO events (id, name, payload, source, created_at) VALUES (?, ?, ?, ?, ?)`);
    const rn = h.db.prepare(`INSERT INTO runs (id, agent, instance, trigger, status, scheduled_at, started_at, finished_at, error, reason, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const us = h.db.prepare(`INSERT INTO llm_usage (id, ts, agent, key_id, session, user_id, scope, model, provider, input_tokens, output_tokens, cached_tokens,
      cost_nusd, latency_ms, ttft_ms, status, cache_hit, estimated, stream, run_id) VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, 'fake', ?, ?, ?, ?, 10, NULL, ?, ?, 0, 0, ?)`);
    for (let i = 0; i < runs; i += BATCH) {
      h.write(() => {
        for (let j = i; j < Math.min(runs, i + BATCH); j++) {
          const r = runRow(j);
          ev.run(...r.event);
          rn.run(...r.run);
        }
      });
    }
    for (let i = 0; i < usage; i += BATCH) h.write(() => {
      for (let j = i; j < Math.min(usage, i + BATCH); j++) us.run(...usageRow(j));
    });
  } else {
    const s = h.schema;
    for (let i = 0; i < runs; i += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, runs - i) }, (_, k) => runRow(i + k));
      const col = (n: number, which: 'event' | 'run') => rows.map((r) => r[which][n]);
      await h.pool.query(`INSERT INTO ${s}.events (id, name, payload, source, created_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])`, [0, 1, 2, 3, 4].map((n) => col(n, 'event')));
      await h.pool.query(
        `INSERT INTO ${s}.runs (id, agent, instance, trigger, status, scheduled_at, started_at, finished_at, error, reason, event_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[])`,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => col(n, 'run')),
      );
    }
    for (let i = 0; i < usage; i += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, usage - i) }, (_, k) => usageRow(i + k));
      await h.pool.query(
        `INSERT INTO ${s}.llm_usage (id, ts, agent, key_id, session, user_id, scope, model, provider, input_tokens, output_tokens, cached_tokens, cost_nusd, latency_ms, ttft_ms, status, cache_hit, estimated, stream, run_id)
         SELECT id, ts, agent, key_id, NULL, NULL, NULL, model, 'fake', i, o, c, cost, 10, NULL, st, hit, 0, 0, run_id
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::int[], $12::text[]) AS u(id, ts, agent, key_id, model, i, o, c, cost, st, hit, run_id)`,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((n) => rows.map((r) => r[n])),
      );
    }
    await h.pool.query(`ANALYZE ${s}.events; ANALYZE ${s}.runs; ANALYZE ${s}.ui_spend_daily; ANALYZE ${s}.llm_usage`);
  }
  return { seconds: (performance.now() - t0) / 1000 };
}

async function timeHttp(url: string, paths: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const p of paths) {
    const t = performance.now();
    const res = await fetch(url + p);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${p}: ${res.status}`);
    out.push(performance.now() - t);
  }
  return out;
}

const fakeAgent = (i: number) => ({
  name: `agent-${String(i).padStart(5, '0')}`, kind: 'module', status: ['running', 'paused', 'error', 'stopped'][i % 4], desired: 'running', reason: null, replicas: 1, instances: [],
  schedule: 'every 5m', subscriptions: [], uptimeMs: 1000, lastRunAt: Date.now() - i * 1000, nextRunAt: Date.now() + i * 1000, runsTotal: i, runsFailed: 0, successRate: 1,
  restarts: i % 13, pendingEvents: i % 7, stateVersion: i, stateSizeBytes: 10, owner: `team-${i % 10}`, costTodayNusd: (i * 7919) % 10_000_000,
});

async function browserPart(url: string): Promise<Record<string, unknown>> {
  if (!fs.existsSync(CHROMIUM)) {
    log(`no ${CHROMIUM}: browser measurements skipped`);
    return {};
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const agents = Array.from({ length: AGENTS }, (_, i) => fakeAgent(i));
    await page.route('**/api/ui/fleet', (r) => r.fulfill({ json: { agents, node: { project: 'bench' } } }));
    await page.goto(`${url}/ui/#/`);
    await page.locator('[data-row="agent-00000"]').waitFor();
    // Filter / sort: from the input event (or click) to the next painted frame, measured in the page.
    const measure = (action: 'filter' | 'sort', value: string) =>
      page.evaluate(
        async ({ action, value }) => {
          const t = performance.now();
          if (action === 'filter') {
            const input = document.querySelector('input[type="search"]');
            input.value = value;
            input.dispatchEvent(new Event('input', { bubbles: true }));
          } else {
            const b = Array.from(document.querySelectorAll("th button") as ArrayLike<{ textContent: string | null; click(): void }>).find((x) => x.textContent?.startsWith(value));
            b!.click();
          }
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          return performance.now() - t;
        },
        { action, value },
      );
    const filter: number[] = [];
    const sort: number[] = [];
    for (const q of ['agent-0', 'team-3', '99', 'agent-01', '', 'team-1', '7', '']) filter.push(await measure('filter', q));
    for (const col of ['Restarts', 'Cost today', 'Agent', 'Last run', 'Restarts', 'Events pending', 'Agent', 'Cost today']) sort.push(await measure('sort', col));

    // The DAG: a run of DAG steps (a wide, layered graph) served to the page, navigation → drawn.
    const steps = Array.from({ length: DAG }, (_, i) => ({ key: `s${i}`, step: `s${i}`, type: 'shell', phase: 'main', needs: i < 20 ? [] : [`s${i - 20}`, `s${(i * 7) % (i - (i % 20))}`], itemIndex: null, status: ['succeeded', 'running', 'waiting', 'not_started'][i % 4], attempt: 1, maxAttempts: 1, input: null, output: null, error: null, startedAt: null, finishedAt: null, durationMs: null, nextAt: null, decidedBy: null, comment: null }));
    await page.route('**/api/workflow-runs/bench-run', (r) => r.fulfill({ json: { run: { id: 'bench-run', workflow: 'big', status: 'running' }, steps } }));
    await page.route('**/api/workflows', (r) => r.fulfill({ json: { workflows: [] } }));
    await page.route('**/api/workflow-runs?limit=50', (r) => r.fulfill({ json: { runs: [] } }));
    await page.route('**/api/approvals', (r) => r.fulfill({ json: { approvals: [] } }));
    const dag: number[] = [];
    for (let i = 0; i < 3; i++) {
      await page.goto(`${url}/ui/#/`);
      await page.locator('[data-row="agent-00000"]').waitFor();
      dag.push(
        await page.evaluate(async (n) => {
          const t = performance.now();
          location.hash = '#/workflows/bench-run';
          while (document.querySelectorAll('[data-testid="dag"] g').length < n) await new Promise((r) => requestAnimationFrame(r));
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          return performance.now() - t;
        }, Math.min(DAG, 2000)),
      );
    }
    await page.unrouteAll();

    // State change → on screen, with the real fleet (the daemon's own agents).
    await page.goto(`${url}/ui/#/`);
    await page.locator('[data-live="live"]').waitFor();
    await page.locator('[data-row="live-0"]').waitFor();
    const change: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const to = i % 2 === 0 ? 'paused' : 'running';
      const t = Date.now();
      await fetch(`${url}/api/agents/live-0/${to === 'paused' ? 'pause' : 'resume'}`, { method: 'POST' });
      await page.locator(`[data-row="live-0"] .badge:text("${to}")`).waitFor();
      change.push(Date.now() - t);
    }
    return { filterMs: filter, sortMs: sort, dagMs: dag, changeMs: change };
  } finally {
    await browser.close();
  }
}

async function runBackend(kind: 'sqlite' | 'postgres'): Promise<Record<string, unknown>> {
  const kept = KEEP ? path.resolve(KEEP, `${kind}-${RUNS}-${USAGE}`) : undefined;
  const choice: StoreChoice = kind === 'sqlite' ? { kind } : { kind, url: PG_URL, schema: kept ? `oc_bench_ui_keep_${RUNS}_${USAGE}` : uniqueSchema('oc_bench_ui') };
  const { dir, configFile } = makeProject(Array.from({ length: 5 }, (_, i) => `  live-${i}:\n    source: ${agentFile('noop.ts')}\n    schedule: every 1h\n`).join(''), choice, kept);
  const marker = kept ? path.join(kept, 'seeded.json') : undefined;
  try {
    let seeded: { seconds: number };
    if (marker && fs.existsSync(marker)) {
      seeded = JSON.parse(fs.readFileSync(marker, 'utf8')) as { seconds: number };
      log(`${kind}: reusing the store seeded earlier in ${kept} (${seeded.seconds.toFixed(1)} s then)`);
    } else {
      const cfg = await loadConfig(configFile);
      const store = await openStore(cfg.store);
      log(`${kind}: seeding ${RUNS} runs + events and ${USAGE} usage rows`);
      seeded = await seed(store, RUNS, USAGE);
      await store.close();
      if (marker) fs.writeFileSync(marker, JSON.stringify(seeded));
    }
    log(`${kind}: seeded in ${seeded.seconds.toFixed(1)} s; starting the daemon`);
    const d = await startChildDaemon(dir, configFile);
    try {
      const terms = Array.from({ length: QUERIES }, (_, i) => word(i * 31 + 5));
      const searchRuns = await timeHttp(d.url, terms.map((t, i) => `/api/ui/search?kind=runs&q=${t}${i % 3 === 0 ? '&status=failed' : ''}&limit=50`));
      const searchEvents = await timeHttp(d.url, terms.map((t) => `/api/ui/search?kind=events&q=${t}&limit=50`));
      const page2 = await timeHttp(d.url, terms.slice(0, 20).map(() => `/api/ui/search?kind=runs&limit=50&before=${Math.floor(RUNS / 2)}`));
      const spend = await timeHttp(d.url, Array.from({ length: 40 }, (_, i) => `/api/ui/spend?days=${i % 2 ? 30 : 1}`));
      const timeline = await timeHttp(d.url, Array.from({ length: QUERIES }, (_, i) => {
        const j = (i * 104_729) % RUNS;
        return `/api/ui/agents/agent-${j % 500}/runs/run-${j}`;
      }));
      const browser = kind === 'sqlite' || NO_SQLITE ? await browserPart(d.url) : {};
      return { kind, seededSeconds: seeded.seconds, searchRuns, searchEvents, page2, spend, timeline, ...browser };
    } finally {
      await d.stop();
    }
  } finally {
    if (choice.kind === 'postgres' && !kept) await dropSchemas([choice.schema]);
  }
}

const p = (xs: unknown, q: number) => (Array.isArray(xs) && xs.length ? Math.round(pct(xs as number[], q) * 10) / 10 : '—');
/** One table per backend, printed as soon as it is measured. */
function report(r: Record<string, unknown>): void {
  const k = String(r.kind);
  table(`dashboard at scale on ${k}: ${RUNS} runs, ${USAGE} usage rows; browser: ${AGENTS} agents, DAG ${DAG} steps; load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`, ['store', 'measure', 'p50 ms', 'p95 ms', 'max ms', 'target'], [
    [k, 'seed (s)', Math.round(Number(r.seededSeconds)), '', '', ''],
    [k, 'search runs by payload text', p(r.searchRuns, 50), p(r.searchRuns, 95), p(r.searchRuns, 100), 'p95 ≤ 200'],
    [k, 'search events by payload text', p(r.searchEvents, 50), p(r.searchEvents, 95), p(r.searchEvents, 100), 'p95 ≤ 200'],
    [k, 'runs, keyset page mid-table', p(r.page2, 50), p(r.page2, 95), p(r.page2, 100), ''],
    [k, 'spend page (1 and 30 days)', p(r.spend, 50), p(r.spend, 95), p(r.spend, 100), 'p95 ≤ 300'],
    [k, `a run's timeline (~${Math.round(USAGE / RUNS)} LLM calls each)`, p(r.timeline, 50), p(r.timeline, 95), p(r.timeline, 100), ''],
    ...(r.filterMs
      ? [
          [k, `fleet filter (${AGENTS} agents, browser)`, p(r.filterMs, 50), p(r.filterMs, 95), p(r.filterMs, 100), '≤ 100'],
          [k, `fleet sort (${AGENTS} agents, browser)`, p(r.sortMs, 50), p(r.sortMs, 95), p(r.sortMs, 100), '≤ 100'],
          [k, `DAG of ${DAG} steps drawn (browser)`, p(r.dagMs, 50), p(r.dagMs, 95), p(r.dagMs, 100), '≤ 1000'],
          [k, 'state change → on screen', p(r.changeMs, 50), p(r.changeMs, 95), p(r.changeMs, 100), 'p95 ≤ 500'],
        ]
      : []),
  ]);
}

const results: Array<Record<string, unknown>> = [];
try {
  if (!NO_SQLITE) report(results[results.push(await runBackend('sqlite')) - 1]!);
  if (!NO_PG) report(results[results.push(await runBackend('postgres')) - 1]!);
} finally {
  removeTempDirs();
}
jsonLine('ui', { agents: AGENTS, runs: RUNS, usage: USAGE, dag: DAG, results: results.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Array.isArray(v) ? { p50: p(v, 50), p95: p(v, 95), max: p(v, 100) } : v]))) });
