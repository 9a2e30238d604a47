// How the CLI runs a daemon: in the foreground (`openclaw dev`, `openclaw daemon run`), detached
// (`openclaw daemon start`: pid and log files under .openclaw/), and how it stops one.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.js';
import type { ProjectConfig } from '../config/types.js';
import { ConfigError, OpenClawError } from '../util/errors.js';
import { Daemon } from './daemon.js';
import { acquireDaemonLock, handDaemonLock, processAlive, readDaemonFile, releaseDaemonLock, removeDaemonFile, writeDaemonFile, type DaemonFile } from './daemon-file.js';
import { formatLogLine } from '../observability/format.js';
import { watchAgents } from './hot-reload.js';
import { tsxUrls } from '../runtime/paths.js';
import { readTokenFile } from '../security/auth/token-file.js';
import { ApiClient } from '../cli/client.js';
import { daemonEnv, daemonNodeFlags } from './process-tuning.js';

export const EXIT_CONFIG = 78;

export interface EntryOptions {
  /** Project directory or openclaw.yaml path. */
  project: string;
  port?: number;
  host?: string;
  dev?: boolean;
  /** Echo agent logs to the terminal (foreground). */
  quiet?: boolean;
}

export function resolveConfigFile(project: string): string {
  const p = path.resolve(project);
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) return path.join(p, 'openclaw.yaml');
  return p;
}

async function load(opts: EntryOptions): Promise<ProjectConfig> {
  const file = resolveConfigFile(opts.project);
  if (!fs.existsSync(file)) {
    throw new ConfigError([{ file, line: null, column: null, field: '', message: 'no openclaw.yaml here; create one with `openclaw init NAME`, or pass --project DIR' }]);
  }
  return loadConfig(file, { overrides: { port: opts.port, host: opts.host } });
}

/**
 * Runs a daemon in this process until SIGINT/SIGTERM or POST /api/daemon/stop.
 * Returns the process exit code: 0 after a clean stop, 78 when the configuration is refused.
 */
export async function runForeground(opts: EntryOptions): Promise<number> {
  let config: ProjectConfig;
  try {
    config = await load(opts);
  } catch (err) {
    return reportStartError(err);
  }
  const tty = process.stdout.isTTY;
  let daemon: Daemon;
  let hadDataDir = true;
  try {
    // `openclaw dev` or `daemon run` next to a running daemon would run every agent twice on one
    // store, take over daemon.json, and on exit remove it, orphaning the other daemon.
    refuseIfRunning(config);
    hadDataDir = fs.existsSync(config.dataDir);
    acquireDaemonLock(config.dataDir);
    daemon = await Daemon.start(config, {
      dev: opts.dev ?? false,
      echo: opts.quiet ? undefined : (line) => process.stdout.write(formatLogLine(line, { color: tty }) + '\n'),
    });
  } catch (err) {
    if (!(err instanceof OpenClawError && err.code === 'daemon_running')) releaseDaemonLock(config.dataDir);
    // A refused configuration leaves nothing behind: not even the .openclaw/ the lock created.
    if (err instanceof ConfigError && !hadDataDir) fs.rmSync(config.dataDir, { recursive: true, force: true });
    return reportStartError(err);
  }
  const info: DaemonFile = {
    pid: process.pid,
    url: daemon.url,
    host: config.api.host,
    port: daemon.port,
    project: config.project,
    config: config.file,
    startedAt: Date.now(),
  };
  writeDaemonFile(config.dataDir, info);
  process.stdout.write(`openclaw: project '${config.project}' running ${config.agents.length} agent(s); control API on ${daemon.url}\n`);

  const stopWatching = opts.dev ? watchAgents(config, daemon) : () => undefined;
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`openclaw: ${why}, draining agents…\n`);
      stopWatching();
      void daemon.shutdown(why).then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    daemon.onShutdown(() => {
      stopping = true;
      stopWatching();
    });
    void daemon.stopped.then(() => resolve(0));
  });
  const code = await done;
  removeDaemonFile(config.dataDir);
  releaseDaemonLock(config.dataDir);
  process.stdout.write('openclaw: stopped\n');
  return code;
}

function reportStartError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`openclaw: invalid configuration — nothing was started:\n${err.message}\n`);
    return EXIT_CONFIG;
  }
  if (err instanceof OpenClawError) {
    process.stderr.write(`openclaw: ${err.message}\n`);
    return err.exitCode === EXIT_CONFIG ? EXIT_CONFIG : 1;
  }
  process.stderr.write(`openclaw: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

/** How to run this CLI: node flags and the main script (also the ExecStart of `daemon install`). */
export function cliMain(): { execArgv: string[]; script: string } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    return { execArgv: ['--import', tsxUrls().loader], script: path.join(path.dirname(here), '..', 'cli', 'main.ts') };
  }
  return { execArgv: [], script: path.join(path.dirname(here), '..', 'cli', 'main.js') };
}

/** How to run a daemon: the CLI (cliMain) with the daemon's V8 flags (./process-tuning.ts). */
export function daemonMain(env: NodeJS.ProcessEnv = process.env): { execArgv: string[]; script: string } {
  const { execArgv, script } = cliMain();
  return { execArgv: [...daemonNodeFlags(env), ...execArgv], script };
}

/** One daemon per project: refuses when daemon.json names another live process. */
function refuseIfRunning(config: ProjectConfig): void {
  const existing = readDaemonFile(config.dataDir);
  if (existing && existing.pid !== process.pid && processAlive(existing.pid)) {
    throw new OpenClawError('daemon_running', `a daemon for this project is already running (pid ${existing.pid}, ${existing.url}); stop it with \`openclaw daemon stop\``, { exitCode: 1 });
  }
}

/** `openclaw daemon start`: a detached daemon with its pid and log under .openclaw/. */
export async function startDetached(opts: EntryOptions & { waitMs?: number }): Promise<{ pid: number; url: string }> {
  const config = await load(opts);
  refuseIfRunning(config);
  const hadDataDir = fs.existsSync(config.dataDir);
  // Atomic: of two `daemon start` at once, one gets the lock and the other is told who has it.
  acquireDaemonLock(config.dataDir);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const logFile = path.join(config.dataDir, 'daemon.log');
  const out = fs.openSync(logFile, 'a');
  const { execArgv, script } = daemonMain();
  const args = [...execArgv, script, 'daemon', 'run', '--project', config.file, '--quiet'];
  if (opts.port != null) args.push('--port', String(opts.port));
  if (opts.host) args.push('--host', opts.host);
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], cwd: config.root, env: { ...process.env, ...daemonEnv() } });
  child.unref();
  fs.closeSync(out);
  if (child.pid !== undefined) handDaemonLock(config.dataDir, child.pid);
  else releaseDaemonLock(config.dataDir);
  fs.writeFileSync(path.join(config.dataDir, 'daemon.pid'), `${child.pid}\n`);

  const deadline = Date.now() + (opts.waitMs ?? 30_000);
  let exitCode: number | null = null;
  child.once('exit', (code) => (exitCode = code ?? 1));
  while (Date.now() < deadline) {
    if (exitCode !== null) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      // A refused configuration leaves nothing behind: the daemon created nothing, and neither do we.
      if (exitCode === EXIT_CONFIG) removeStartFiles(config.dataDir, hadDataDir);
      throw new OpenClawError('daemon_failed', `the daemon exited with code ${exitCode} during start:\n${tail}`, { exitCode: exitCode === EXIT_CONFIG ? EXIT_CONFIG : 1 });
    }
    const info = readDaemonFile(config.dataDir);
    if (info && info.pid === child.pid) {
      try {
        if (await live(info.url)) return { pid: info.pid, url: info.url };
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new OpenClawError('daemon_timeout', `the daemon did not become healthy within ${(opts.waitMs ?? 30_000) / 1000}s; see ${logFile}`);
}

function removeStartFiles(dataDir: string, keepDir: boolean): void {
  for (const f of ['daemon.log', 'daemon.pid', 'daemon.lock']) fs.rmSync(path.join(dataDir, f), { force: true });
  if (!keepDir) fs.rmSync(dataDir, { recursive: true, force: true });
}

/** `openclaw daemon stop`: asks the daemon to drain and waits for it to exit (SIGKILL as a last resort). */
export async function stopDetached(opts: EntryOptions & { timeoutMs?: number }): Promise<boolean> {
  const config = await load(opts);
  const info = readDaemonFile(config.dataDir);
  if (!info || !processAlive(info.pid)) {
    removeDaemonFile(config.dataDir, info?.pid ?? -1);
    return false;
  }
  try {
    process.kill(info.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const drain = Math.max(...config.agents.map((a) => a.gracefulShutdown.timeoutMs + a.gracefulShutdown.teardownTimeoutMs), 0);
  const deadline = Date.now() + (opts.timeoutMs ?? drain + 15_000);
  while (Date.now() < deadline) {
    if (!processAlive(info.pid)) {
      removeDaemonFile(config.dataDir, info.pid);
      fs.rmSync(path.join(config.dataDir, 'daemon.pid'), { force: true });
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(-info.pid, 'SIGKILL');
  } catch {
    process.kill(info.pid, 'SIGKILL');
  }
  removeDaemonFile(config.dataDir, info.pid);
  return true;
}

export interface DaemonStatus {
  running: boolean;
  pid: number | null;
  url: string | null;
  health: unknown;
  logFile: string;
}

export async function daemonStatus(opts: EntryOptions): Promise<DaemonStatus> {
  const config = await load(opts);
  const info = readDaemonFile(config.dataDir);
  const logFile = path.join(config.dataDir, 'daemon.log');
  if (!info || !processAlive(info.pid)) return { running: false, pid: null, url: null, health: null, logFile };
  let health: unknown = null;
  try {
    const ca = process.env.OPENCLAW_CA_CERT ? fs.readFileSync(process.env.OPENCLAW_CA_CERT) : null;
    health = await new ApiClient(info.url, { token: process.env.OPENCLAW_TOKEN || readTokenFile(config.dataDir), ca, timeoutMs: 5_000 }).health();
  } catch {
    health = null;
  }
  return { running: true, pid: info.pid, url: info.url, health, logFile };
}

/**
 * Whether the daemon we just spawned answers /healthz. Over https its certificate is not checked
 * here (the probe sends nothing and only asks whether our own child is up); the CLI's commands do
 * check. node:http(s), not fetch: fetch would compile Node's bundled undici in the CLI process.
 */
async function live(url: string): Promise<boolean> {
  const u = new URL(`${url}/healthz`);
  const { get } = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise<boolean>((resolve, reject) => {
    const req = get(u, { rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer from /healthz within 5 s')));
    req.on('error', reject);
  });
}
