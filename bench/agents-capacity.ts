// Agents on one node: N no-op agents each scheduled `every 1s`, run for ~20 s.
// Measures start lateness (run record startedAt − scheduledAt, from the store), runs that did not
// start (missed/skipped records), daemon and agent-host RSS (/proc VmRSS of the daemon and its
// host children), and how long the fleet took to come up.
//
//   node --import tsx agents-capacity.ts [--agents 1000] [--dedicated 100] [--seconds 15] [--same-phase-only] [--only shared|dedicated]
//        [--describe memo|product] [--dist] [--no-schedule] [--startup-timeout-s 300] [--cpu-prof-dir DIR]
//   node --import tsx agents-capacity.ts --scenario idle-memory|boot-1000|shared-10k   (presets below; other flags still apply)
//
//   idle-memory  20 dedicated agents with no schedule, from dist: host RSS per idle dedicated agent (target ≤ 10 MB)
//   boot-1000    1,000 shared agents of one file, --describe product, from dist: time to all running (target ≤ 5 s)
//   shared-10k   10,000 shared agents of one file at 1 Hz for 60 s, --describe product, from dist: runs done,
//                missed, lateness p50/p99, RSS
//
// --describe memo (default) works around product issue B1 (bench/README.md): the daemon's boot
// describes each agent in its own fresh worker thread, all at once — 1,000 agents would need about
// 27 GB for a few seconds. `--describe product` runs the product as it is (keep --agents ≤ 200).
// --dist runs the built package (../dist) instead of the TypeScript source.
//
// Scenarios: `dedicated` (one worker thread each, ~8 MB) with fewer agents; `shared` isolation for
// the mass (agents packed into a pool of worker threads), once with every agent on the same phase
// (the product's default: all anchors = daemon start, so all N fire in the same millisecond) and
// once with phases spread over the second (anchors pre-seeded in the store).
import fs from 'node:fs';
import path from 'node:path';
import { openStore } from '../src/store/index.js';
import Database from 'better-sqlite3';
import { agentFile, api, arg, jsonLine, log, makeProject, r1, removeTempDirs, roundSummary, sleep, startChildDaemon, summarize, table, treeRss, waitFor, type ChildDaemon, type Summary } from './lib/common.js';

const PRESETS: Record<string, string[]> = {
  'idle-memory': ['--only', 'dedicated', '--dedicated', '20', '--no-schedule', '--seconds', '10', '--describe', 'product', '--dist'],
  'boot-1000': ['--only', 'shared', '--same-phase-only', '--agents', '1000', '--seconds', '10', '--describe', 'product', '--dist'],
  'shared-10k': ['--only', 'shared', '--same-phase-only', '--agents', '10000', '--seconds', '60', '--describe', 'product', '--dist'],
};
const SCENARIO = arg('scenario', '');
if (SCENARIO) {
  const preset = PRESETS[SCENARIO];
  if (!preset) throw new Error(`--scenario: one of ${Object.keys(PRESETS).join(', ')}`);
  // A preset's flags, unless given on the command line.
  for (let i = 0; i < preset.length; i++) {
    const flag = preset[i]!;
    const hasValue = preset[i + 1] !== undefined && !preset[i + 1]!.startsWith('--');
    if (!process.argv.includes(flag)) process.argv.push(...(hasValue ? [flag, preset[i + 1]!] : [flag]));
    if (hasValue) i++;
  }
}
const AGENTS = arg('agents', 1000);
const DEDICATED = arg('dedicated', 100);
const SECONDS = arg('seconds', 15);
const ONLY = arg('only', '');
const DESCRIBE = arg('describe', 'memo');
const DIST = arg('dist', false);
const SAME_ONLY = arg('same-phase-only', false);
const NO_SCHEDULE = arg('no-schedule', false);
const STARTUP_TIMEOUT_MS = arg('startup-timeout-s', 300) * 1000;
/** --cpu-prof-dir DIR: the daemon writes a V8 CPU profile there when it stops (node --cpu-prof). */
const CPU_PROF_DIR = arg('cpu-prof-dir', '');
const TARGET_P99_MS = 10;

interface Result {
  scenario: string;
  agents: number;
  isolation: 'shared' | 'dedicated';
  startupMs: number;
  windowS: number;
  expectedRuns: number;
  succeeded: number;
  missed: number;
  skipped: number;
  failed: number;
  lateness: Summary;
  rssSettledMb: ReturnType<typeof treeRss>;
  rssEndMb: ReturnType<typeof treeRss>;
  rssPeakMb: ReturnType<typeof treeRss>;
  startupPeakMb: number;
  missedReasons: Record<string, number>;
}

async function scenario(isolation: 'shared' | 'dedicated', n: number, phases: 'same' | 'spread'): Promise<Result> {
  const src = agentFile('noop.ts');
  let yaml = '';
  for (let i = 0; i < n; i++) {
    yaml += `  a${String(i).padStart(4, '0')}:\n    source: ${src}\n    isolation: ${isolation}\n${NO_SCHEDULE ? '' : '    schedule: every 1s\n'}`;
  }
  const { dir, configFile } = makeProject(yaml);
  if (phases === 'spread') {
    // `every` fire times are anchor + k·every, and the anchor is kept in the store: give the agents
    // phases spread evenly over the second, as agents started at different times would have.
    // (Without this every agent gets the same anchor — the daemon's start time — and all fire in
    // the same millisecond.)
    fs.mkdirSync(path.join(dir, '.openclaw'), { recursive: true });
    const store = await openStore({ kind: 'sqlite', path: path.join(dir, '.openclaw', 'openclaw.db') });
    for (let i = 0; i < n; i++) await store.setMeta(`anchor:a${String(i).padStart(4, '0')}`, String(Math.floor((i * 1000) / n)));
    await store.close();
  }
  log(`${isolation}: starting a daemon with ${n} agents`);
  const t0 = Date.now();
  let d: ChildDaemon | null = null;
  try {
    const args = [...(DESCRIBE === 'memo' ? ['--memo-describe'] : []), ...(DIST ? ['--dist'] : [])];
    let startupPeakMb = 0;
    let daemonPid = 0;
    const sampler = setInterval(() => {
      if (daemonPid) startupPeakMb = Math.max(startupPeakMb, treeRss(daemonPid).totalMb);
    }, 500);
    try {
      const execArgv = CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(CPU_PROF_DIR)] : [];
      const started = startChildDaemon(dir, configFile, { timeoutMs: STARTUP_TIMEOUT_MS, args, execArgv });
      d = await started;
      daemonPid = d.pid;
      const daemon = d;
      let seen = 'no answer yet';
      try {
        await waitFor(
          `${n} agents running`,
          async () => {
            const h = await api<{ agents: Record<string, number> }>(daemon.url, '/api/health');
            seen = JSON.stringify(h.agents);
            return h.agents.running === n;
          },
          STARTUP_TIMEOUT_MS,
          100,
        );
      } catch (err) {
        const rss = treeRss(daemon.pid);
        throw new Error(`${(err as Error).message}; last health answer: ${seen}; RSS daemon ${rss.daemonMb} MB, hosts ${rss.hostsMb} MB; daemon output tail:\n${daemon.output().slice(-2000)}`);
      }
    } finally {
      clearInterval(sampler);
    }
    const daemon = d;
    const startupMs = Date.now() - t0;
    log(`${isolation}: ${n} agents running after ${startupMs} ms; waiting for the host to settle`);
    // Describe workers end asynchronously: wait until the hosts' thread count stops moving.
    let prev = -1;
    let same = 0;
    const settleDeadline = Date.now() + 30_000;
    await sleep(1500);
    while (same < 3 && Date.now() < settleDeadline) {
      await sleep(500);
      const t = treeRss(daemon.pid).threads;
      same = t === prev ? same + 1 : 0;
      prev = t;
    }
    const rssSettled = treeRss(daemon.pid);
    log(`${isolation}: settled (${rssSettled.threads} host threads, ${rssSettled.totalMb} MB); measuring for ${SECONDS} s`);
    const windowStart = Date.now();
    let peak = rssSettled;
    const end = windowStart + SECONDS * 1000;
    while (Date.now() < end) {
      await sleep(1000);
      const s = treeRss(daemon.pid);
      if (s.totalMb > peak.totalMb) peak = s;
    }
    const rssEnd = treeRss(daemon.pid);
    const windowEnd = Date.now();
    await daemon.stop();
    d = null;

    const db = new Database(path.join(dir, '.openclaw', 'openclaw.db'), { readonly: true });
    // Fire times are anchor + k·1000: count those inside the window, per agent.
    const anchors = db.prepare(`SELECT value FROM meta WHERE key LIKE 'anchor:%'`).all() as Array<{ value: string }>;
    const lo = windowStart;
    const hi = windowEnd - 2000;
    let expectedRuns = 0;
    for (const { value } of anchors) {
      const a = Number(value);
      expectedRuns += Math.ceil((hi - a) / 1000) - Math.ceil((lo - a) / 1000);
    }
    // Fire times inside the window (scheduled_at), so runs still in flight at the end do not count.
    const rows = db
      .prepare(`SELECT status, scheduled_at AS s, started_at AS st, reason FROM runs WHERE trigger = 'schedule' AND scheduled_at >= ? AND scheduled_at < ?`)
      .all(windowStart, windowEnd - 2000) as Array<{ status: string; s: number; st: number; reason: string | null }>;
    db.close();
    const late = rows.filter((r) => r.status === 'succeeded' || r.status === 'failed').map((r) => r.st - r.s);
    const count = (s: string) => rows.filter((r) => r.status === s).length;
    const reasons: Record<string, number> = {};
    for (const r of rows) if (r.status === 'missed' || r.status === 'skipped') reasons[r.reason ?? '?'] = (reasons[r.reason ?? '?'] ?? 0) + 1;
    return {
      scenario: `${isolation} ×${n}, ${phases === 'same' ? 'same phase' : 'phases spread'}`,
      agents: n,
      isolation,
      startupMs,
      windowS: r1((windowEnd - 2000 - windowStart) / 1000),
      expectedRuns,
      succeeded: count('succeeded'),
      missed: count('missed'),
      skipped: count('skipped'),
      failed: count('failed'),
      lateness: roundSummary(summarize(late), r1),
      rssSettledMb: rssSettled,
      rssEndMb: rssEnd,
      rssPeakMb: peak,
      startupPeakMb,
      missedReasons: reasons,
    };
  } finally {
    await d?.stop();
  }
}

const results: Result[] = [];
try {
  if (ONLY !== 'shared' && DEDICATED > 0) results.push(await scenario('dedicated', DEDICATED, 'same'));
  if (ONLY !== 'dedicated' && AGENTS > 0) {
    results.push(await scenario('shared', AGENTS, 'same'));
    if (!SAME_ONLY) results.push(await scenario('shared', AGENTS, 'spread'));
  }
} finally {
  removeTempDirs();
}

table(
  `Agents on one node: every agent scheduled every 1s, ${SECONDS} s window (target: ≥ 1,000 scheduled agents, p99 start lateness ≤ ${TARGET_P99_MS} ms)`,
  ['scenario', 'startup s', 'startup peak MB', 'runs ok / expected', 'missed+skipped', 'lateness p50 ms', 'p99 ms', 'max ms', 'RSS daemon MB', 'RSS hosts MB', 'RSS total MB (peak)', 'host MB / agent'],
  results.map((r) => [
    r.scenario,
    r1(r.startupMs / 1000),
    r.startupPeakMb,
    `${r.succeeded} / ${r.expectedRuns}`,
    r.missed + r.skipped,
    r.lateness.p50,
    r.lateness.p99,
    r.lateness.max,
    r.rssEndMb.daemonMb,
    r.rssEndMb.hostsMb,
    `${r.rssEndMb.totalMb} (${r.rssPeakMb.totalMb})`,
    r1(r.rssEndMb.hostsMb / r.agents),
  ]),
);
for (const r of results) if (Object.keys(r.missedReasons).length) console.log(`${r.scenario} missed/skipped reasons: ${JSON.stringify(r.missedReasons)}`);
console.log(`describe: ${DESCRIBE === 'memo' ? 'memoized by the bench (workaround for B1)' : 'product as is'}; daemon from ${DIST ? 'dist' : 'src'}`);
jsonLine('agents-capacity', {
  describe: DESCRIBE,
  from: DIST ? 'dist' : 'src',
  targets: { agents: 1000, latenessP99Ms: TARGET_P99_MS },
  results,
  met: Object.fromEntries(results.map((r) => [r.scenario, r.agents >= 1000 && r.lateness.p99 <= TARGET_P99_MS && r.missed + r.skipped === 0 && r.succeeded >= r.expectedRuns])),
});
