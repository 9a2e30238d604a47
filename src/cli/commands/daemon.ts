// Running the daemon: `dev` (foreground, hot reload), `daemon start|stop|status` (detached, pid and
// log under .openclaw/), and `daemon run` (foreground without reload; what `daemon start` spawns).
// The daemon module is loaded only by these commands, so `openclaw status` stays quick to start.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption } from '../context.js';
import { UsageError } from '../errors.js';
import { projectRoot } from './project.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OpenClawError } from '../../util/errors.js';

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
    const h = s.health as { status?: string; uptimeMs?: number; agents?: { total: number; running: number; starting?: number } } | null;
    ctx.print(`Daemon ${h?.status === 'starting' ? 'starting' : 'running'} (pid ${s.pid}) at ${s.url}`);
    const starting = h?.agents?.starting ? ` (${h.agents.starting} starting)` : '';
    if (h?.status) ctx.print(`  health: ${h.status}${h.agents ? `; agents running ${h.agents.running}/${h.agents.total}${starting}` : ''}`);
    ctx.print(`  log: ${s.logFile}`);
  });

  daemon
    .command('install')
    .description("write a systemd unit that keeps this project's daemon running (restarts, drains on stop)")
    .option('--project <dir>', 'project folder (default: the nearest above the cwd)')
    .option('--user', 'a user unit in ~/.config/systemd/user (systemctl --user) instead of a system unit')
    .option('--output <file>', 'write the unit here (default: /etc/systemd/system/openclaw-<project>.service, or the user folder with --user)')
    .option('--run-as <user>', 'system units: the account the daemon runs as (default: $SUDO_USER, else the current user)')
    .action(async (opts: { project?: string; user?: boolean; output?: string; runAs?: string }) => {
      const project = projectRoot(ctx, opts.project);
      const [{ loadConfig }, e, systemd] = await Promise.all([import('../../config/index.js'), entry(), import('../../daemon/systemd.js')]);
      const config = await loadConfig(e.resolveConfigFile(project));
      const user = opts.user === true;
      const { execArgv, script } = e.daemonMain(ctx.env);
      const me = os.userInfo().username;
      const runAs = opts.runAs ?? (me === 'root' ? (ctx.env.SUDO_USER ?? null) : me);
      const text = systemd.renderUnit({ config, node: process.execPath, execArgv, script, user, runAs, pathEnv: ctx.env.PATH });
      const file = path.resolve(ctx.cwd, opts.output ?? systemd.defaultUnitPath(config.project, user));
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text, { mode: 0o644 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const hint = code === 'EACCES' || code === 'EPERM' ? '; run it with sudo, or use --user for a user unit, or --output FILE' : '';
        throw new OpenClawError('install_failed', `cannot write ${file}: ${(err as Error).message}${hint}`);
      }
      ctx.print(`Wrote ${file} (TimeoutStopSec=${systemd.stopTimeoutSec(config)}, restarts except on exit 78)`);
      if (runAs === null && !user) ctx.warn('warning: the unit runs the daemon as root; pass --run-as USER to use an unprivileged account');
      ctx.print(opts.output && !file.includes(`${path.sep}systemd${path.sep}`) ? `Copy it to ${systemd.defaultUnitPath(config.project, user)}, then enable it:` : 'Enable it:');
      for (const line of systemd.enableInstructions(file, user)) ctx.print(`  ${line}`);
    });
}
