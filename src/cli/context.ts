// What every command gets: where to print, the environment, and a client for the daemon that the
// command's --url/--project (or OPENCLAW_URL, or the project's daemon.json) points at.
import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ApiClient, resolveTarget, type Target } from './client.js';
import { readTokenFile } from '../security/auth/token-file.js';
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
    const o = cmd.opts<{ url?: string; project?: string; token?: string; ca?: string }>();
    this.lastTarget = resolveTarget({ url: o.url, project: o.project, cwd: this.cwd, env: this.env });
    return new ApiClient(this.lastTarget.url, { token: this.token(o.token, this.lastTarget.projectDir), ca: this.ca(o.ca) });
  }

  /** --token, then OPENCLAW_TOKEN, then <project>/.openclaw/token (kept at mode 0600). */
  token(flag: string | undefined, projectDir: string | null): string | null {
    if (flag) return flag;
    if (this.env.OPENCLAW_TOKEN) return this.env.OPENCLAW_TOKEN;
    return projectDir ? readTokenFile(path.join(projectDir, '.openclaw'), (m) => this.warn(`warning: ${m}`)) : null;
  }

  /** --ca, then OPENCLAW_CA_CERT: a PEM file to trust for https. */
  ca(flag: string | undefined): Buffer | null {
    const [file, from] = flag ? [flag, '--ca'] : this.env.OPENCLAW_CA_CERT ? [this.env.OPENCLAW_CA_CERT, 'OPENCLAW_CA_CERT'] : [null, ''];
    if (!file) return null;
    try {
      return fs.readFileSync(path.resolve(this.cwd, file));
    } catch (err) {
      throw new UsageError(`${from}: cannot read the CA certificate ${file}: ${(err as Error).message}`);
    }
  }
}

/** --url and --project, on every command that talks to a daemon. */
export function targetOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'control API of the daemon (default: OPENCLAW_URL, the project\'s daemon, or http://127.0.0.1:8400)'))
    .addOption(new Option('--project <dir>', 'project folder (default: the nearest folder above the cwd holding openclaw.yaml)'))
    .addOption(new Option('--token <token>', "API token (default: OPENCLAW_TOKEN, or the project's .openclaw/token)"))
    .addOption(new Option('--ca <file>', 'PEM CA certificate to trust for an https daemon (default: OPENCLAW_CA_CERT)'));
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
