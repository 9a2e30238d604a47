// Running the daemon: `dev` (foreground, hot reload), `daemon start|stop|status` (detached, pid and
// log under .openclaw/), and `daemon run` (foreground without reload; what `daemon start` spawns).
// The daemon module is loaded only by these commands, so `openclaw status` stays quick to start.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption } from '../context.js';
import { UsageError } from '../errors.js';
import { projectRoot } from './project.js';

interface RunOptions {
  project?: string;
  port?: number;
  host?: string;
  quiet?: boolean;
  json?: boolean;
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`--port: expected a port number 0-65535, got '${value}'`);
  return Number(value);
}

function runOptions(cmd: Command): Command {
  return cmd
    .option('--project <dir>', 'project folder or its openclaw.yaml (default: the nearest above the cwd)')
    .option('--port <port>', 'control API port (default: api.port in openclaw.yaml, or 8400)', parsePort)
    .option('--host <host>', 'control API address (default 127.0.0.1)');
}

const entry = () => import('../../daemon/entry.js');

export function registerDaemon(program: Command, ctx: CliContext): void {
  runOptions(program.command('dev').description('run the project in the foreground with hot reload (Ctrl-C stops)')).action(
    async (opts: RunOptions) => {
      const project = projectRoot(ctx, opts.project);
      ctx.exitCode = await (await entry()).runForeground({ project, port: opts.port, host: opts.host, dev: true });
    },
  );

  const daemon = program.command('daemon').description('run the project as a background daemon');

  runOptions(daemon.command('run').description('run the daemon in the foreground, without hot reload'))
    .option('--quiet', 'do not echo agent logs to the terminal')
    .action(async (opts: RunOptions) => {
      const project = projectRoot(ctx, opts.project);
      ctx.exitCode = await (await entry()).runForeground({ project, port: opts.port, host: opts.host, dev: false, quiet: opts.quiet });
    });

  const start = runOptions(daemon.command('start').description('start a detached daemon for the project'));
  jsonOption(start).action(async (opts: RunOptions) => {
    const project = projectRoot(ctx, opts.project);
    const res = await (await entry()).startDetached({ project, port: opts.port, host: opts.host });
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Daemon started (pid ${res.pid}); control API on ${res.url}`);
  });

  daemon
    .command('stop')
    .description("stop the project's daemon: agents drain, then it exits")
    .option('--project <dir>', 'project folder (default: the nearest above the cwd)')
    .action(async (opts: RunOptions) => {
      const project = projectRoot(ctx, opts.project);
      const stopped = await (await entry()).stopDetached({ project });
      ctx.print(stopped ? 'Daemon stopped' : 'No daemon was running for this project');
    });

  const status = daemon
    .command('status')
    .description("whether the project's daemon runs, its pid, URL and health")
    .option('--project <dir>', 'project folder (default: the nearest above the cwd)');
  jsonOption(status).action(async (opts: RunOptions) => {
    const project = projectRoot(ctx, opts.project);
    const s = await (await entry()).daemonStatus({ project });
    if (opts.json) return ctx.printJson(s);
    if (!s.running) {
      ctx.print(`Daemon not running (log: ${s.logFile})`);
      ctx.exitCode = 1;
      return;
    }
    const h = s.health as { status?: string; uptimeMs?: number; agents?: { total: number; running: number } } | null;
    ctx.print(`Daemon running (pid ${s.pid}) at ${s.url}`);
    if (h?.status) ctx.print(`  health: ${h.status}${h.agents ? `; agents running ${h.agents.running}/${h.agents.total}` : ''}`);
    ctx.print(`  log: ${s.logFile}`);
  });
}
