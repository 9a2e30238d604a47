// Shared helpers for the benchmarks: arguments, percentiles, the table + JSON line, throwaway
// projects, a daemon in a child process (so its RSS is its own), /proc memory readings, PostgreSQL
// schemas. Benchmarks are never part of CI; everything here talks to loopback only.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const AGENTS_DIR = path.join(BENCH_DIR, 'agents');
export const agentFile = (name: string) => path.join(AGENTS_DIR, name);

export const PG_URL = process.env.OPENCLAW_BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

// ---- arguments ------------------------------------------------------------------------------

/** `--name value` / `--flag` from process.argv. */
export function arg(name: string, def: number): number;
export function arg(name: string, def: string): string;
export function arg(name: string, def: boolean): boolean;
export function arg(name: string, def: number | string | boolean): number | string | boolean {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  if (typeof def === 'boolean') return true;
  const v = process.argv[i + 1];
  if (v === undefined) throw new Error(`--${name} needs a value`);
  return typeof def === 'number' ? Number(v) : v;
}

// ---- statistics -----------------------------------------------------------------------------

export function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: number[]): Summary {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : NaN;
  return { n, p50: pct(values, 50), p90: pct(values, 90), p99: pct(values, 99), max: n ? Math.max(...values) : NaN, mean };
}

export const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);
export const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x);
export function roundSummary(s: Summary, f = r3): Summary {
  return { n: s.n, p50: f(s.p50), p90: f(s.p90), p99: f(s.p99), max: f(s.max), mean: f(s.mean) };
}

// ---- output ---------------------------------------------------------------------------------

export function table(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: Array<string | number>) => '| ' + r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ') + ' |';
  console.log(`\n${title}`);
  console.log(line(cells[0]));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of cells.slice(1)) console.log(line(r));
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3);
}

export function jsonLine(bench: string, data: Record<string, unknown>): void {
  console.log(
    'JSON: ' +
      JSON.stringify({ bench, date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg().map(r1), ...data }),
  );
}

export function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

// ---- projects -------------------------------------------------------------------------------

export type StoreChoice = { kind: 'sqlite' } | { kind: 'postgres'; url: string; schema: string };

const tempDirs: string[] = [];

/** A throwaway project in a temp dir: openclaw.yaml with the given `agents:` body. */
export function makeProject(agentsYaml: string, store: StoreChoice = { kind: 'sqlite' }, keepDir?: string): { dir: string; configFile: string } {
  // A kept dir (bench/ui.ts --keep) outlives the run, so a large seeded store can be measured again.
  const dir = keepDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-bench-'));
  if (keepDir) fs.mkdirSync(keepDir, { recursive: true });
  else tempDirs.push(dir);
  const storeYaml = store.kind === 'postgres' ? `store:\n  url: ${store.url}\n  schema: ${store.schema}\n` : '';
  const text = `project: bench\nversion: "1.0"\n${storeYaml}api:\n  host: 127.0.0.1\n  port: 0\n  auth: local-trust\nagents:\n${agentsYaml}`;
  const configFile = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(configFile, text);
  return { dir, configFile };
}

export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

// ---- a daemon in a child process ------------------------------------------------------------

export interface ChildDaemon {
  pid: number;
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** `node --import tsx lib/daemon-main.ts <config>`: the product's foreground daemon, alone in its process. */
export async function startChildDaemon(dir: string, configFile: string, opts: { execArgv?: string[]; args?: string[]; timeoutMs?: number } = {}): Promise<ChildDaemon> {
  const infoFile = path.join(dir, '.openclaw', 'daemon.json');
  fs.rmSync(infoFile, { force: true });
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), '--import', 'tsx', path.join(BENCH_DIR, 'lib', 'daemon-main.ts'), configFile, ...(opts.args ?? [])], {
    cwd: BENCH_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let url: string;
  try {
    url = await waitFor(
      'daemon.json',
      () => {
        if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}:\n${out.slice(-3000)}`);
        try {
          const info = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
          return info.pid === child.pid ? (info.url as string) : null;
        } catch {
          return null;
        }
      },
      opts.timeoutMs ?? 120_000,
      50,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid!,
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function api<T>(url: string, p: string, init?: { method?: string; body?: unknown }): Promise<T> {
  const res = await fetch(url + p, {
    method: init?.method ?? (init?.body !== undefined ? 'POST' : 'GET'),
    headers: init?.body !== undefined ? { 'content-type': 'application/json' } : {},
    body: init?.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

// ---- memory from /proc ----------------------------------------------------------------------

export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Direct children of `pid` (the agent hosts the daemon forked), from /proc/<pid>/stat. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid …  — comm may hold spaces/parens: split after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** RSS of a process and of all its descendants, in MB. */
export function treeRss(pid: number): { daemonMb: number; hostsMb: number; totalMb: number; hosts: number; threads: number } {
  const daemon = rssKb(pid);
  let hosts = 0;
  let n = 0;
  let threads = 0;
  const stack = childrenOf(pid);
  while (stack.length) {
    const c = stack.pop()!;
    hosts += rssKb(c);
    n++;
    try {
      threads += fs.readdirSync(`/proc/${c}/task`).length;
    } catch {
      // gone
    }
    stack.push(...childrenOf(c));
  }
  return { daemonMb: r1(daemon / 1024), hostsMb: r1(hosts / 1024), totalMb: r1((daemon + hosts) / 1024), hosts: n, threads };
}

// ---- PostgreSQL -----------------------------------------------------------------------------

export async function havePostgres(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export function uniqueSchema(prefix = 'oc_bench'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export async function dropSchemas(schemas: string[]): Promise<void> {
  if (schemas.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
}
