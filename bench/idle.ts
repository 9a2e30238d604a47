// The quickstart daemon at rest, as users run it (bin/openclaw.js → dist): RSS of the daemon
// process after it has been idle for --seconds (target ≤ 60 MB; the median of one sample a second
// over the last 10 s, as it moves with the agents' garbage), its agent hosts beside it, and
// the wall time of `openclaw status` against it (target ≤ 150 ms; median of --status runs).
//
//   node --import tsx idle.ts [--seconds 60] [--status 10] [--root ..]
//
// --root points at another checkout (with dist/ built) to measure it the same way (before/after).
// The quickstart is copied to a temp dir (its .openclaw/ stays out of the repository) and given a
// free port; the daemon is stopped with `openclaw daemon stop` at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, arg, jsonLine, log, r1, sleep, summarize, table, treeRss, waitFor } from './lib/common.js';

const SECONDS = arg('seconds', 60);
const STATUS_RUNS = arg('status', 10);
const ROOT = path.resolve(arg('root', path.join(BENCH_DIR, '..')));
const BIN = path.join(ROOT, 'bin', 'openclaw.js');
if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error(`${ROOT}/dist is not built: run \`npm run build\` there first`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** RssAnon and RssFile (/proc/PID/status) and Pss (/proc/PID/smaps_rollup), in MB. */
function rssSplit(pid: number): { anonMb: number; fileMb: number; pssMb: number } {
  const kb = (file: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(file, 'utf8'))?.[1] ?? NaN);
  return { anonMb: r1(kb(`/proc/${pid}/status`, 'RssAnon') / 1024), fileMb: r1(kb(`/proc/${pid}/status`, 'RssFile') / 1024), pssMb: r1(kb(`/proc/${pid}/smaps_rollup`, 'Pss') / 1024) };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-idle-'));
fs.cpSync(path.join(ROOT, 'examples', 'quickstart'), dir, { recursive: true });
const env = { ...process.env, QUICKSTART_PORT: String(await freePort()), OPENCLAW_URL: '' };
delete (env as Record<string, string | undefined>).OPENCLAW_URL;
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });

try {
  const t0 = performance.now();
  const started = cli('daemon', 'start', '--port', String(await freePort()));
  if (started.status !== 0) throw new Error(`daemon start failed (${started.status}):\n${started.stdout}\n${started.stderr}`);
  const info = await waitFor('daemon.json', () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, '.openclaw', 'daemon.json'), 'utf8')) as { pid: number; url: string };
    } catch {
      return null;
    }
  });
  const startMs = performance.now() - t0;
  log(`daemon pid ${info.pid} on ${info.url}; idle for ${SECONDS} s`);
  // The quickstart's agents run every 5–30 s, so the daemon's RSS moves with its garbage: sampled
  // once a second over the last 10 s, the median is reported (with the range).
  await sleep(Math.max(0, SECONDS - 10) * 1000);
  const samples: Array<ReturnType<typeof treeRss>> = [];
  for (let i = 0; i < Math.min(10, SECONDS); i++) {
    samples.push(treeRss(info.pid));
    await sleep(1000);
  }
  samples.sort((a, b) => a.daemonMb - b.daemonMb);
  const mem = samples[Math.floor(samples.length / 2)]!;
  const rssRange = `${r1(samples[0]!.daemonMb)}–${r1(samples[samples.length - 1]!.daemonMb)}`;
  // What the daemon's RSS is made of: anonymous memory (V8 heap, malloc: what the code controls)
  // vs file-backed pages (the node binary and shared libraries, shared with every node process),
  // and its proportional share (Pss) of both.
  const split = rssSplit(info.pid);

  const walls: number[] = [];
  for (let i = 0; i < STATUS_RUNS; i++) {
    const s = performance.now();
    const r = cli('status');
    walls.push(performance.now() - s);
    if (r.status !== 0) throw new Error(`openclaw status failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const st = summarize(walls);
  const load = os.loadavg();
  table(`Quickstart daemon at rest (from ${path.relative(process.cwd(), ROOT) || '.'}/dist; load average ${load.map((x) => x.toFixed(1)).join(' ')})`, ['what', 'value', 'target'], [
    ['daemon RSS after idle (median of the last 10 s)', `${r1(mem.daemonMb)} MB (${rssRange})`, '≤ 60 MB'],
    ['daemon RSS: anonymous / file-backed / Pss', `${split.anonMb} / ${split.fileMb} / ${split.pssMb} MB`, ''],
    ['children RSS (agent hosts, command agents)', `${r1(mem.hostsMb)} MB in ${mem.hosts} process(es)`, ''],
    ['`daemon start` → daemon.json', `${Math.round(startMs)} ms`, ''],
    [`\`openclaw status\` wall p50 (n=${st.n})`, `${Math.round(st.p50)} ms`, '≤ 150 ms'],
    ['`openclaw status` wall p90', `${Math.round(st.p90)} ms`, ''],
  ]);
  jsonLine('idle', {
    root: ROOT,
    seconds: SECONDS,
    daemonRssMb: r1(mem.daemonMb),
    daemonRssRangeMb: rssRange,
    daemonRssSplitMb: split,
    hostsRssMb: r1(mem.hostsMb),
    hosts: mem.hosts,
    statusWallMs: { p50: r1(st.p50), p90: r1(st.p90), max: r1(st.max) },
    met: { rss: mem.daemonMb <= 60, status: st.p50 <= 150 },
  });
} finally {
  try {
    execFileSync(process.execPath, [BIN, 'daemon', 'stop'], { cwd: dir, env, stdio: 'ignore', timeout: 60_000 });
  } catch {
    /* already gone */
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
