// What every command gets: where to print, the environment, and a client for the daemon that the
// command's --url/--project (or OPENCLAW_URL, or the project's daemon.json) points at.
import { Option, type Command } from 'commander';
import { ApiClient, resolveTarget, type Target } from './client.js';
import { UsageError } from './errors.js';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export class CliContext {
  /** Set by commands that finish with a code other than 0 without throwing. */
  exitCode = 0;
  /** The last daemon target resolved, for the error hint about a stale daemon.json. */
  lastTarget: Target | null = null;

  constructor(
    readonly io: CliIO,
    readonly env: NodeJS.ProcessEnv,
    readonly cwd: string,
    readonly now: () => number = Date.now,
  ) {}

  print(text: string): void {
    this.io.out(text.endsWith('\n') ? text : text + '\n');
  }

  warn(text: string): void {
    this.io.err(text.endsWith('\n') ? text : text + '\n');
  }

  /** Machine output: exactly what the API answered. */
  printJson(value: unknown): void {
    this.print(JSON.stringify(value, null, 2));
  }

  client(cmd: Command): ApiClient {
    const o = cmd.opts<{ url?: string; project?: string }>();
    this.lastTarget = resolveTarget({ url: o.url, project: o.project, cwd: this.cwd, env: this.env });
    return new ApiClient(this.lastTarget.url);
  }
}

/** --url and --project, on every command that talks to a daemon. */
export function targetOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'control API of the daemon (default: OPENCLAW_URL, the project\'s daemon, or http://127.0.0.1:8400)'))
    .addOption(new Option('--project <dir>', 'project folder (default: the nearest folder above the cwd holding openclaw.yaml)'));
}

export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the API\'s JSON answer (for scripts)');
}

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${name}: expected a whole number of at least 1, got '${value}'`);
    return Number(value);
  };
}

export function parseJson(name: string) {
  return (value: string): unknown => {
    try {
      return JSON.parse(value) as unknown;
    } catch (err) {
      throw new UsageError(`${name}: not valid JSON (${(err as Error).message}); quote it for the shell, e.g. ${name} '{"key":"value"}'`);
    }
  };
}

/** v140, 140 → 140. */
export function parseVersionOption(value: string): number {
  const m = /^v?(\d+)$/i.exec(value.trim());
  if (!m) throw new UsageError(`--version: expected a state version like v140 or 140, got '${value}'`);
  return Number(m[1]);
}
