// Command agents: any executable, supervised the way systemd supervises a service. Its own process
// group (so children go with it), stdout/stderr lines as its logs, HTTP or exec probes, and stop =
// SIGTERM to the group, SIGKILL to the group after the stop timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import type { InstanceExit, LogLine } from './protocol.js';
import type { CommandAgentSpec, CommandHandle, RuntimeListener } from './types.js';
import { DEFAULT_MAX_LOG_LINES_PER_SECOND, LineSplitter, LogRateLimiter } from './log-flood.js';
import { OpenClawError } from '../util/errors.js';
import { commandEnv as sandboxCommandEnv } from './sandbox.js';

type ProbeSpec = Parameters<CommandHandle['probe']>[0];

class CommandInstance implements CommandHandle {
  readonly instanceId: string;
  readonly agent: string;
  readonly pid: number;
  readonly exited: Promise<InstanceExit>;
  private ended: { reason: 'killed'; message: string } | null = null;
  private done = false;
  private readonly limiter = new LogRateLimiter(DEFAULT_MAX_LOG_LINES_PER_SECOND);
  private dropTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly spec: CommandAgentSpec,
    private readonly child: ChildProcess,
    private readonly listener: RuntimeListener,
  ) {
    this.instanceId = spec.instanceId;
    this.agent = spec.agent;
    this.pid = child.pid!;
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) => this.line(stream, line));
      const s = child[stream]!;
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => splitter.push(chunk));
      s.on('end', () => splitter.end());
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.done = true;
        // Like systemd's control-group kill mode: what the command left behind goes with it.
        this.signalGroup('SIGKILL');
        this.reportDrops();
        const how = signal ? `signal ${signal}` : `code ${code}`;
        resolve(
          this.ended
            ? { reason: 'killed', message: `${this.ended.message} (${how})`, exitCode: code, signal }
            : { reason: 'exited', message: `${spec.command.command} exited (${how})`, exitCode: code, signal },
        );
      });
    });
  }

  private line(stream: 'stdout' | 'stderr', msg: string): void {
    if (!this.limiter.admit(Date.now())) {
      this.dropTimer ??= setTimeout(() => this.reportDrops(), 1000);
      return;
    }
    const line: LogLine = { time: Date.now(), level: 'info', agent: this.agent, instance: this.instanceId, msg, stream };
    this.listener.log(line);
  }

  private reportDrops(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = null;
    const n = this.limiter.takeDropped();
    if (n > 0) this.listener.logsDropped(this.instanceId, this.agent, n);
  }

  private signalGroup(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, sig);
    } catch {
      /* group already gone */
    }
  }

  async probe(p: ProbeSpec, timeoutMs: number): Promise<boolean> {
    if (p.http) return httpProbe(p.http.url, p.http.expectStatus, timeoutMs);
    if (p.exec) return execProbe(p.exec.command, p.exec.args, this.spec, timeoutMs);
    return !this.done;
  }

  stop(): Promise<InstanceExit> {
    if (!this.done) {
      this.ended ??= { reason: 'killed', message: 'stopped' };
      this.signalGroup('SIGTERM');
      const timer = setTimeout(() => {
        if (this.done) return;
        this.ended = { reason: 'killed', message: `killed with SIGKILL: still running ${this.spec.stopTimeoutMs} ms after SIGTERM` };
        this.signalGroup('SIGKILL');
      }, this.spec.stopTimeoutMs);
      void this.exited.then(() => clearTimeout(timer));
    }
    return this.exited;
  }

  async kill(reason: string): Promise<void> {
    if (!this.done) {
      this.ended = { reason: 'killed', message: `killed: ${reason}` };
      this.signalGroup('SIGKILL');
    }
    await this.exited;
  }
}

async function httpProbe(url: string, expectStatus: number | undefined, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await res.body?.cancel();
    return expectStatus !== undefined ? res.status === expectStatus : res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}

function execProbe(command: string, args: string[], spec: CommandAgentSpec, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: spec.command.cwd, env: commandEnv(spec), stdio: 'ignore', detached: true });
    } catch {
      return resolve(false);
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      resolve(false);
    }, timeoutMs);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

/** Never the daemon's environment: the base, the agent's `env:`, its OPENCLAW_* (sandbox.ts). */
function commandEnv(spec: CommandAgentSpec): NodeJS.ProcessEnv {
  return sandboxCommandEnv(spec.command.env, spec.env);
}

/** Spawns the command; rejects with a clear error when it cannot be started (ENOENT, EACCES). */
export function startCommand(spec: CommandAgentSpec, listener: RuntimeListener): Promise<CommandHandle> {
  const { command, args, cwd } = spec.command;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd, env: commandEnv(spec), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      return reject(new OpenClawError('command_spawn_failed', `agent '${spec.agent}': cannot start ${command}: ${(err as Error).message}`, { cause: err }));
    }
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? `; check that '${command}' exists and is on PATH, and that cwd ${cwd} exists` : '';
      reject(new OpenClawError('command_spawn_failed', `agent '${spec.agent}': cannot start ${command}: ${err.message}${hint}`, { cause: err }));
    });
    child.once('spawn', () => resolve(new CommandInstance(spec, child, listener)));
  });
}
