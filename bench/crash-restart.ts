// Crash → restarted and ready, OpenClaw side by side with pm2.
//
// OpenClaw (daemon in this process): an agent whose run() notes the time and calls process.exit()
// under `restart_policy: { backoff: immediate }`. Each round triggers it once and waits until it is
// back in `running`. From the transition records (listTransitions, ms): crash recorded (→ error)
// to back in running; and from the agent's own note (sub-ms wall clock) exit() call → running.
// Before each crash the agent has been up --uptime-ms (250, as pm2's crasher; the host's spare
// worker is booted in that time — 0 measures a crash right after a restart, spare still booting).
// Measured for a worker agent (isolation: dedicated, the target) and for isolation: process
// (a host process of its own, like pm2's fork mode).
//
// pm2 (bench/node_modules, its own PM2_HOME in a temp dir, killed at the end): a script that notes
// when it is up, exits with code 1 after 250 ms, restarted with restart_delay 0; exit → next
// process's first line, from the script's own notes.
//
// --dist runs the daemon from the built package (../dist, what users run; `npm run build` at the
// root first); the default is the TypeScript source (../src, tsx in every host).
//
//   node --import tsx crash-restart.ts [--crashes 20] [--no-pm2] [--dist] [--uptime-ms 250]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { BENCH_DIR, agentFile, arg, jsonLine, log, makeProject, removeTempDirs, roundSummary, sleep, summarize, table, waitFor, type Summary } from './lib/common.js';

const CRASHES = arg('crashes', 20);
const NO_PM2 = arg('no-pm2', false);
const DIST = arg('dist', false);
/** How long the agent is up before each crash: pm2's crasher exits 250 ms after it starts. */
const UPTIME_MS = arg('uptime-ms', 250);
const base = DIST ? path.join(BENCH_DIR, '..', 'dist') : path.join(BENCH_DIR, '..', 'src');
const ext = DIST ? '.js' : '.ts';
if (DIST && !fs.existsSync(path.join(base, 'daemon', 'daemon.js'))) throw new Error('no ../dist: run `npm run build` at the root first');
const { loadConfig } = (await import(path.join(base, 'config', `index${ext}`))) as typeof import('../src/config/index.js');
const { Daemon } = (await import(path.join(base, 'daemon', `daemon${ext}`))) as typeof import('../src/daemon/daemon.js');
const TARGET_MS = 50;

interface Row {
  system: string;
  measure: string;
  s: Summary;
}

async function openclaw(isolation: 'dedicated' | 'process'): Promise<Row[]> {
  // In the agent's data folder: the one place the agent sandbox lets its code write.
  const { dir, configFile } = makeProject(
    `  crasher:\n    source: ${agentFile('crasher.ts')}\n    isolation: ${isolation}\n    config: { file: TIMES }\n` +
      `    restart_policy: { backoff: immediate, max_retries: 10000, intensity: { max_restarts: 10000, window: 60s } }\n`,
  );
  const times = path.join(dir, '.openclaw', 'agent-data', 'crasher', 'crash-times.log');
  fs.mkdirSync(path.dirname(times), { recursive: true });
  fs.writeFileSync(times, '');
  fs.writeFileSync(configFile, fs.readFileSync(configFile, 'utf8').replace('TIMES', times));
  const d = await Daemon.start(await loadConfig(configFile), { listen: false });
  const fromError: number[] = [];
  const fromExitCall: number[] = [];
  try {
    await waitFor('crasher running', async () => (await d.getAgent('crasher')).status === 'running');
    for (let i = 0; i < CRASHES + 1; i++) {
      const before = (await d.getAgent('crasher')).restarts;
      await sleep(UPTIME_MS);
      await d.trigger('crasher');
      await waitFor('crasher restarted', async () => {
        const a = await d.getAgent('crasher');
        return a.restarts > before && a.status === 'running';
      }, 30_000, 2);
      if (i === 0) continue; // warm-up
      const t = (await d.listTransitions('crasher', { limit: 10 })).reverse(); // oldest first
      const err = [...t].reverse().find((x) => x.to === 'error');
      const up = [...t].reverse().find((x) => x.to === 'running');
      if (!err || !up || up.at < err.at) throw new Error(`unexpected transitions: ${JSON.stringify(t)}`);
      fromError.push(up.at - err.at);
      const lines = fs.readFileSync(times, 'utf8').trim().split('\n');
      const exitAt = Number(lines[lines.length - 1].split(' ')[1]);
      fromExitCall.push(up.at - exitAt);
    }
    if (isolation === 'dedicated') {
      const t = (await d.listTransitions('crasher', { limit: 6 })).reverse();
      log(`one crash cycle: ${t.map((x) => `${x.from}→${x.to} @${x.at % 100000} (${x.reason})`).join(' | ')}`);
    }
  } finally {
    await d.shutdown('bench done');
  }
  return [
    { system: `OpenClaw (${isolation})`, measure: 'crash recorded (→ error) → running', s: summarize(fromError) },
    { system: `OpenClaw (${isolation})`, measure: 'process.exit() call → running', s: summarize(fromExitCall) },
  ];
}

async function pm2Side(): Promise<Row[]> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bench-pm2-'));
  const times = path.join(home, 'times.log');
  fs.writeFileSync(times, '');
  process.env.PM2_HOME = home; // read when pm2 is loaded: its daemon, sockets and logs stay in the temp dir
  const require = createRequire(path.join(BENCH_DIR, 'package.json'));
  const pm2bin = path.join(BENCH_DIR, 'node_modules', '.bin', 'pm2');
  const pm2 = require('pm2') as typeof import('pm2');
  const call = <T>(fn: (cb: (err: Error | null, v?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
  const restarts: number[] = [];
  try {
    await call((cb) => pm2.connect(cb));
    await call((cb) =>
      pm2.start(
        {
          name: 'crasher',
          script: path.join(BENCH_DIR, 'peers', 'pm2-crasher.cjs'),
          env: { BENCH_TIMES: times, CRASH_AFTER_MS: '250' },
          autorestart: true,
          restart_delay: 0,
          min_uptime: 100,
          max_restarts: 10_000,
        },
        cb,
      ),
    );
    // Each cycle: up, 250 ms, exit, restart. Wait for CRASHES + 1 restarts (the first is warm-up).
    await waitFor(
      'pm2 restarts',
      () => fs.readFileSync(times, 'utf8').trim().split('\n').filter((l) => l.startsWith('ready')).length >= CRASHES + 2,
      60_000,
      50,
    );
    await call((cb) => pm2.delete('crasher', cb));
    const lines = fs
      .readFileSync(times, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    for (let i = 0; i < lines.length - 1; i++) {
      if (lines[i][0] === 'exit' && lines[i + 1][0] === 'ready') restarts.push(Number(lines[i + 1][1]) - Number(lines[i][1]));
    }
    restarts.shift(); // warm-up
  } finally {
    try {
      await call((cb) => pm2.killDaemon(cb));
    } catch {
      // fall back to the CLI below
    }
    pm2.disconnect();
    try {
      execFileSync(pm2bin, ['kill'], { env: { ...process.env, PM2_HOME: home }, stdio: 'ignore', timeout: 20_000 });
    } catch {
      // already gone
    }
    await sleep(200);
    fs.rmSync(home, { recursive: true, force: true });
  }
  return [{ system: 'pm2 (fork mode)', measure: 'exit → new process running its first line', s: summarize(restarts.slice(0, CRASHES)) }];
}

const rows: Row[] = [];
try {
  log(`OpenClaw, dedicated worker agent: ${CRASHES} crashes`);
  rows.push(...(await openclaw('dedicated')));
  log(`OpenClaw, process-isolated agent: ${CRASHES} crashes`);
  rows.push(...(await openclaw('process')));
  if (!NO_PM2) {
    log(`pm2: ${CRASHES} crashes`);
    rows.push(...(await pm2Side()));
  }
} finally {
  removeTempDirs();
}

table(
  `Crash → restarted and ready (ms; target ≤ ${TARGET_MS} ms for a worker agent; pm2 measured side by side)`,
  ['system', 'measure', 'n', 'p50', 'p90', 'max'],
  rows.map((r) => [r.system, r.measure, r.s.n, r.s.p50, r.s.p90, r.s.max]),
);
const p50 = (system: string, measure: string) => rows.find((r) => r.system === system && r.measure.startsWith(measure))?.s.p50 ?? NaN;
const pm2P50 = p50('pm2 (fork mode)', 'exit');
const ratios = {
  dedicated: p50('OpenClaw (dedicated)', 'process.exit') / pm2P50,
  process: p50('OpenClaw (process)', 'process.exit') / pm2P50,
};
if (!NO_PM2) console.log(`p50 ratio to pm2 (process.exit() call → running): dedicated ${ratios.dedicated.toFixed(2)}× (target ≤ 0.5×), process ${ratios.process.toFixed(2)}× (target ≤ 1×)`);
console.log(`daemon from ${DIST ? 'dist' : 'src'}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
jsonLine('crash-restart', {
  targetMs: TARGET_MS,
  from: DIST ? 'dist' : 'src',
  ratioToPm2: NO_PM2 ? null : ratios,
  results: rows.map((r) => ({ system: r.system, measure: r.measure, ...roundSummary(r.s) })),
  met: p50('OpenClaw (dedicated)', 'process.exit') <= TARGET_MS && (NO_PM2 || (ratios.dedicated <= 0.5 && ratios.process <= 1)),
});
process.exit(0); // pm2's client keeps handles open
