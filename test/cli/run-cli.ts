// Runs the real CLI in a child process (built once per run by test/helpers/test-dist.ts; from
// source through tsx without it) with a chosen cwd.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cliCommand } from '../helpers/test-dist.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = cliCommand();

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): CliRun {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...opts.env };
  if (!opts.env?.OPENCLAW_URL) delete env.OPENCLAW_URL;
  const child = spawn(process.execPath, [...CLI.execArgv, CLI.script, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exit };
}

export async function runCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = spawnCli(args, opts);
  const { code } = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}
