// A real daemon in a child process (`openclaw daemon run --quiet --port 0`, the CLI as
// test/helpers/test-dist.ts has it) for tests that kill it with SIGKILL and start it again on
// the same project.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './project.js';
import { cliCommand } from './test-dist.js';

/** `node` arguments for `openclaw daemon run --project PROJECT --port 0 --quiet` (`nodeArgs` first). */
export function daemonRunArgv(project: string, nodeArgs: string[] = []): string[] {
  const cli = cliCommand();
  return [...nodeArgs, ...cli.execArgv, cli.script, 'daemon', 'run', '--project', project, '--port', '0', '--quiet'];
}

/** Starts the daemon of `configFile` (its own process group, as a daemon runs); adds it to `children`. */
export function startDaemonProcess(dir: string, configFile: string, children: ChildProcess[]): ChildProcess {
  fs.rmSync(path.join(dir, '.openclaw', 'daemon.json'), { force: true });
  const child = spawn(process.execPath, daemonRunArgv(configFile), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  child.once('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGKILL') console.error(`daemon exited ${code ?? sig}:\n${out.slice(-3000)}`);
  });
  children.push(child);
  return child;
}

/** The API URL the daemon with this pid wrote to .openclaw/daemon.json. */
export function daemonUrl(dir: string, pid: number): Promise<string> {
  return waitFor('daemon.json', () => {
    try {
      const info = JSON.parse(fs.readFileSync(path.join(dir, '.openclaw', 'daemon.json'), 'utf8'));
      return info.pid === pid ? (info.url as string) : null;
    } catch {
      return null;
    }
  }, 60_000);
}
