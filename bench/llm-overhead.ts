// LLM router overhead: what the daemon's OpenAI-compatible /v1 path adds on top of calling the
// upstream directly, and the same for Portkey's open-source gateway (@portkey-ai/gateway, in this
// folder's package.json) in front of the same fake upstream (test/fakes, in its own process).
//
//   sequential   N non-streaming completions one after another: latency p50/p99 per path, and the
//                added latency (path − direct) at p50/p99
//   at rate      an open loop at --rate req/s for --seconds: achieved req/s, p50/p99, errors
//   max          a closed loop with --concurrency requests in flight for --seconds: req/s
//   ttft         N streamed completions: time to the first content chunk, added vs direct
//   CPU µs/req   CPU time (user + system, /proc) of the serving process per sequential request:
//                steadier than latency when the machine is shared (after --warmup requests per path)
//
// The daemon runs with a global budget, so each request reserves and settles in the store (SQLite)
// and writes its usage row — the real path. Loopback only; bounded; prints a table and a JSON line.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { BENCH_DIR, arg, jsonLine, log, pct, r3, removeTempDirs, sleep, startChildDaemon, table, waitFor } from './lib/common.js';

const SEQ = arg('requests', 1000);
const RATE = arg('rate', 1000);
const SECONDS = arg('seconds', 5);
const CONC = arg('concurrency', 32);
const STREAMS = arg('streams', 200);
// Requests per path before measuring. A few hundred leave the daemon's request path in V8's
// baseline tier with its optimising compiler still busy (measured: 1,220 → 720 → 520 CPU µs per
// request over three runs of 2,500 after a 500-request warm-up): a long-running daemon is warm.
const WARMUP = arg('warmup', 3000);
const NO_PORTKEY = arg('no-portkey', false);
// --cpu-prof DIR: run the daemon under `node --cpu-prof` and write its profile to DIR.
const CPU_PROF = arg('cpu-prof', '');
// --dist: the daemon from ../dist (the built package, what users run; `npm run build` first)
// instead of ../src through tsx, whose loader adds its own work to every call (esbuild's __name
// wrappers around each closure).
const DIST = arg('dist', false);

const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000, pipelining: 1 });

interface Target {
  name: string;
  /** The process serving this path (its CPU per request is printed: less noisy than latency on a busy machine). */
  pid?: number;
  url: string; // …/chat/completions
  headers: Record<string, string>;
}

const body = (stream: boolean) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'benchmark ping' }], max_tokens: 16, ...(stream ? { stream: true } : {}) });
const BODY = body(false);
const SBODY = body(true);

async function once(t: Target): Promise<number> {
  const t0 = performance.now();
  const res = await request(t.url, { method: 'POST', headers: t.headers, body: BODY, dispatcher });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode}`);
  return performance.now() - t0;
}

async function ttft(t: Target): Promise<number> {
  const t0 = performance.now();
  const res = await request(t.url, { method: 'POST', headers: t.headers, body: SBODY, dispatcher });
  if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode} ${await res.body.text()}`);
  let first = NaN;
  let buf = '';
  for await (const chunk of res.body) {
    if (Number.isNaN(first)) {
      buf += chunk.toString();
      if (/"content":"[^"]/.test(buf)) first = performance.now() - t0;
    }
  }
  return first;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

async function sequential(t: Target, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await once(t));
  return out;
}

async function atRate(t: Target, rate: number, seconds: number): Promise<{ rps: number; lat: number[]; errors: number }> {
  const total = Math.round(rate * seconds);
  const lat: number[] = [];
  let errors = 0;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    // Latency from the scheduled send time (no coordinated omission).
    inflight.push(
      request(t.url, { method: 'POST', headers: t.headers, body: BODY, dispatcher })
        .then(async (res) => {
          await res.body.text();
          if (res.statusCode !== 200) errors++;
          else lat.push(performance.now() - due);
        })
        .catch(() => void errors++),
    );
  }
  await Promise.all(inflight);
  const secs = (performance.now() - start) / 1000;
  return { rps: lat.length / secs, lat, errors };
}

async function closedLoop(t: Target, conc: number, seconds: number): Promise<{ rps: number; errors: number }> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (performance.now() < end) {
        try {
          await once(t);
          done++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { rps: done / ((performance.now() - start) / 1000), errors };
}

function child(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): { proc: ChildProcess; out: () => string } {
  const proc = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
  proc.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
  return { proc, out: () => out };
}

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

// ---- set up -------------------------------------------------------------------------------------

const procs: ChildProcess[] = [];
let projectDir: string | null = null;
let daemonStop: (() => Promise<void>) | null = null;
try {
  const fake = child(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'lib', 'fake-upstream.ts')], { cwd: BENCH_DIR });
  procs.push(fake.proc);
  const fakePid = fake.proc.pid;
  const fakeUrl = await waitFor('fake upstream', () => /URL (\S+)/.exec(fake.out())?.[1], 30_000);
  log(`fake upstream at ${fakeUrl}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bench-llm-'));
  projectDir = dir;
  const configFile = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(
    configFile,
    [
      'project: bench-llm',
      'api:\n  host: 127.0.0.1\n  port: 0\n  auth: local-trust',
      'llm:',
      '  providers:',
      `    openai: { api_key: sk-bench, base_url: ${fakeUrl}/v1, models: [gpt-4o-mini] }`,
      '  defaults: { primary: gpt-4o-mini, max_retries: 0 }',
      '  budgets: { global: { daily_limit_usd: 1000000 } }',
      'agents: {}',
      '',
    ].join('\n'),
  );
  const daemon = await startChildDaemon(dir, configFile, { ...(CPU_PROF ? { execArgv: ['--cpu-prof', '--cpu-prof-dir', path.resolve(CPU_PROF)] } : {}), ...(DIST ? { args: ['--dist'] } : {}) });
  daemonStop = () => daemon.stop();
  const keyRes = await fetch(`${daemon.url}/api/llm/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
  const { key } = (await keyRes.json()) as { key: string };
  log(`daemon at ${daemon.url} (pid ${daemon.pid}, from ${DIST ? 'dist' : 'src through tsx'})`);

  const targets: Target[] = [
    { name: 'direct', pid: fakePid, url: `${fakeUrl}/v1/chat/completions`, headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' } },
    { name: 'openclaw', pid: daemon.pid, url: `${daemon.url}/v1/chat/completions`, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
  ];

  let portkeyNote = '';
  if (!NO_PORTKEY) {
    const port = 18_000 + Math.floor(Math.random() * 2000);
    const pk = child(process.execPath, [path.join(BENCH_DIR, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'), `--port=${port}`, '--headless'], { cwd: BENCH_DIR, env: { NODE_ENV: 'production' } });
    procs.push(pk.proc);
    const pkTarget: Target = {
      name: 'portkey',
      pid: pk.proc.pid,
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${fakeUrl}/v1` },
    };
    try {
      await waitFor('portkey', async () => {
        if (pk.proc.exitCode !== null) throw new Error(`portkey exited: ${pk.out().slice(-2000)}`);
        try {
          await once(pkTarget);
          return true;
        } catch {
          return false;
        }
      }, 30_000, 200);
      targets.push(pkTarget);
      log(`portkey ${JSON.parse(fs.readFileSync(path.join(BENCH_DIR, 'node_modules', '@portkey-ai', 'gateway', 'package.json'), 'utf8')).version} on :${port} (Node ${process.version})`);
    } catch (err) {
      portkeyNote = `Portkey did not run on Node ${process.version}: ${(err as Error).message.slice(0, 300)}`;
      log(portkeyNote);
    }
  }

  // ---- measure ----------------------------------------------------------------------------------
  for (const t of targets) await sequential(t, WARMUP);

  const seq: Record<string, number[]> = {};
  const tt: Record<string, number[]> = {};
  const streamFail: Record<string, string> = {};
  // Interleaved in rounds so machine noise spreads over all paths alike.
  const rounds = 5;
  const cpu: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      const c0 = cpuSeconds(t.pid);
      (seq[t.name] ??= []).push(...(await sequential(t, Math.ceil(SEQ / rounds))));
      cpu[t.name] = (cpu[t.name] ?? 0) + cpuSeconds(t.pid) - c0;
    }
    for (const t of targets) {
      if (streamFail[t.name]) continue;
      try {
        for (let i = 0; i < Math.ceil(STREAMS / rounds); i++) (tt[t.name] ??= []).push(await ttft(t));
      } catch (err) {
        streamFail[t.name] = (err as Error).message.slice(0, 200);
        log(`${t.name}: streaming failed, TTFT not measured: ${streamFail[t.name]}`);
      }
    }
  }
  const rate: Record<string, { rps: number; lat: number[]; errors: number }> = {};
  const max: Record<string, { rps: number; errors: number }> = {};
  for (const t of targets) {
    rate[t.name] = await atRate(t, RATE, SECONDS);
    await sleep(500);
    max[t.name] = await closedLoop(t, CONC, SECONDS);
    await sleep(500);
  }

  const d50 = pct(seq.direct!, 50);
  const d99 = pct(seq.direct!, 99);
  const r50 = pct(rate.direct!.lat, 50);
  const r99 = pct(rate.direct!.lat, 99);
  const t50 = pct(tt.direct!, 50);
  const rows = targets.map((t) => [
    t.name,
    r3(pct(seq[t.name]!, 50)),
    r3(pct(seq[t.name]!, 99)),
    t.name === 'direct' ? '-' : r3(pct(seq[t.name]!, 50) - d50),
    t.name === 'direct' ? '-' : r3(pct(seq[t.name]!, 99) - d99),
    Math.round(rate[t.name]!.rps),
    r3(pct(rate[t.name]!.lat, 50)),
    r3(pct(rate[t.name]!.lat, 99)),
    t.name === 'direct' ? '-' : r3(pct(rate[t.name]!.lat, 50) - r50),
    t.name === 'direct' ? '-' : r3(pct(rate[t.name]!.lat, 99) - r99),
    rate[t.name]!.errors,
    Math.round(max[t.name]!.rps),
    Math.round((cpu[t.name]! / seq[t.name]!.length) * 1e6),
    streamFail[t.name] ? 'failed' : r3(pct(tt[t.name]!, 50)),
    t.name === 'direct' || streamFail[t.name] ? '-' : r3(pct(tt[t.name]!, 50) - t50),
    t.name === 'direct' || streamFail[t.name] ? '-' : r3(pct(tt[t.name]!, 99) - pct(tt.direct!, 99)),
  ]);
  table(
    `LLM /v1 overhead (ms; sequential ${SEQ}, open loop ${RATE} req/s × ${SECONDS} s, closed loop ${CONC} in flight, ${STREAMS} streams)`,
    ['path', 'seq p50', 'seq p99', '+p50', '+p99', `@${RATE}/s rps`, 'p50', 'p99', '+p50', '+p99', 'errors', 'max rps', 'CPU µs/req', 'ttft p50', '+ttft p50', '+ttft p99'],
    rows,
  );
  if (portkeyNote) log(portkeyNote);
  for (const [name, why] of Object.entries(streamFail)) log(`${name}: streaming did not work (${why})`);
  jsonLine('llm-overhead', {
    sequential: Object.fromEntries(targets.map((t) => [t.name, { p50: r3(pct(seq[t.name]!, 50)), p99: r3(pct(seq[t.name]!, 99)) }])),
    atRate: Object.fromEntries(targets.map((t) => [t.name, { target: RATE, rps: Math.round(rate[t.name]!.rps), p50: r3(pct(rate[t.name]!.lat, 50)), p99: r3(pct(rate[t.name]!.lat, 99)), errors: rate[t.name]!.errors }])),
    maxRps: Object.fromEntries(targets.map((t) => [t.name, Math.round(max[t.name]!.rps)])),
    cpuMicrosPerRequest: Object.fromEntries(targets.map((t) => [t.name, Math.round((cpu[t.name]! / seq[t.name]!.length) * 1e6)])),
    ttft: Object.fromEntries(targets.map((t) => [t.name, streamFail[t.name] ? { failed: streamFail[t.name] } : { p50: r3(pct(tt[t.name]!, 50)), p99: r3(pct(tt[t.name]!, 99)) }])),
    portkey: portkeyNote || 'ran',
  });
} finally {
  await daemonStop?.().catch(() => undefined);
  for (const p of procs) await stopChild(p).catch(() => undefined);
  await dispatcher.close().catch(() => undefined);
  removeTempDirs();
  if (projectDir) fs.rmSync(projectDir, { recursive: true, force: true });
}
