// End-to-end helpers: the REAL CLI (built once per run by test/helpers/test-dist.ts; from
// source through tsx without it) as a child process with a temp project as its cwd, daemons found through .openclaw/daemon.json, and
// process bookkeeping so every test file can kill whatever it left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/project.js';
import { cliCommand } from '../helpers/test-dist.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_MAIN = path.join(REPO, 'src', 'cli', 'main.ts');
/** What `openclaw()` runs: `node [execArgv…] script`. */
export const CLI = cliCommand();
export const E2E_FIXTURES = path.join(REPO, 'test', 'e2e', 'fixtures');

export function e2eFixture(name: string): string {
  return path.join(E2E_FIXTURES, name);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<CliResult>;
}

/** Children started by this test file (CLI runs, `openclaw dev`), killed by `cleanup()`. */
const children = new Set<ChildProcess>();
/** Project folders whose daemons `cleanup()` stops (by the pid in their daemon.json). */
const projects = new Set<string>();
/**
 * Every pid a test saw (daemons, agent hosts, command agents) with its start time, so that
 * `cleanup()` kills survivors and never a process that reused the pid.
 */
const seenPids = new Map<number, string | null>();

function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function remember(pid: number): void {
  if (!seenPids.has(pid)) seenPids.set(pid, startTime(pid));
}

function cliEnv(extra?: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  if (!extra?.OPENCLAW_URL) delete env.OPENCLAW_URL;
  return env;
}

/** Starts `openclaw ARGS…` in `cwd`; resolves `exit` when it has ended and its output is read. */
export function spawnOpenclaw(args: string[], opts: { cwd: string; env?: Record<string, string> }): CliProcess {
  const child = spawn(process.execPath, [...CLI.execArgv, CLI.script, ...args], {
    cwd: opts.cwd,
    env: cliEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exit = new Promise<CliResult>((resolve) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout: out, stderr: err });
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Runs `openclaw ARGS…` in `cwd` to its end. */
export function openclaw(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  return spawnOpenclaw(args, opts).exit;
}

/** Like `openclaw`, but fails the test with the CLI's output when it does not exit 0. */
export async function openclawOk(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  const r = await openclaw(args, opts);
  if (r.code !== 0) throw new Error(`openclaw ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** `openclaw ARGS… --json`, parsed. */
export async function openclawJson<T>(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<T> {
  const r = await openclawOk([...args, '--json'], opts);
  return JSON.parse(r.stdout) as T;
}

/** Registers a project so that `cleanup()` stops its daemon if a test did not. */
export function trackProject(dir: string): string {
  projects.add(dir);
  return dir;
}

export function trackPid(pid: number | null | undefined): void {
  if (pid) remember(pid);
}

export interface DaemonInfo {
  pid: number;
  url: string;
  port: number;
  project: string;
}

export function readDaemonJson(dir: string): DaemonInfo | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, '.openclaw', 'daemon.json'), 'utf8')) as DaemonInfo;
  } catch {
    return null;
  }
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) S …: the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Every live descendant of `pid` (children, grandchildren…), read from /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(rest[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === p && alive(child)) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** A TCP port that was free a moment ago (for services a test project declares). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Temp folders made by `tempDir()`, removed by `cleanup()` once their processes are gone. */
const tempDirs = new Set<string>();

export function tempDir(prefix = 'openclaw-e2e-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function waitGone(pid: number, what: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`${what} (pid ${pid}) gone`, () => !alive(pid), timeoutMs);
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * afterAll: kills every CLI child still running, every daemon of a tracked project (and its
 * descendants, and its process group), and every pid a test recorded that is still alive.
 */
export async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const dir of projects) {
    const info = readDaemonJson(dir);
    if (info) remember(info.pid);
    const pidFile = path.join(dir, '.openclaw', 'daemon.pid');
    if (fs.existsSync(pidFile)) remember(Number(fs.readFileSync(pidFile, 'utf8').trim()));
  }
  const all = new Set<number>();
  for (const [pid, started] of seenPids) {
    if (!alive(pid) || startTime(pid) !== started) continue;
    all.add(pid);
    for (const d of descendants(pid)) all.add(d);
  }
  for (const pid of all) {
    kill(-pid, 'SIGKILL'); // detached daemons and command agents lead their own process group
    kill(pid, 'SIGKILL');
  }
  children.clear();
  projects.clear();
  seenPids.clear();
  for (const p of all) await waitFor(`pid ${p} gone`, () => !alive(p), 10_000).catch(() => undefined);
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * GET on the control API of the project's daemon (found through daemon.json, as the CLI finds
 * it). For polling in waitFor, where spawning the CLI each time would be slow; assertions about
 * what a user sees go through the CLI.
 */
export async function apiGet<T>(dir: string, route: string): Promise<T> {
  const info = readDaemonJson(dir);
  if (!info) throw new Error(`no daemon.json in ${dir}`);
  // With token auth (daemon start), the daemon wrote an admin token for the CLI next to daemon.json.
  const tokenFile = path.join(dir, '.openclaw', 'token');
  const headers: Record<string, string> = fs.existsSync(tokenFile) ? { authorization: `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}` } : {};
  const res = await fetch(info.url + route, { headers });
  if (!res.ok) throw new Error(`GET ${route}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
