// `openclaw daemon install`: a systemd unit that runs this project's daemon in the foreground
// (`openclaw daemon run`), restarts it whenever it dies except on exit 78 (a configuration it
// refuses: restarting cannot help), and gives it longer than its drain budget to stop before
// systemd kills the whole control group (agents included).
import os from 'node:os';
import path from 'node:path';
import type { ProjectConfig } from '../config/types.js';
import { daemonEnv } from './process-tuning.js';

/** Margin on top of the agents' drain budget: module shutdown, store close, log flush. */
export const STOP_MARGIN_MS = 30_000;

/** Agents stop in parallel: the longest graceful-shutdown plus teardown budget. */
export function drainBudgetMs(config: ProjectConfig): number {
  return Math.max(0, ...config.agents.map((a) => a.gracefulShutdown.timeoutMs + a.gracefulShutdown.teardownTimeoutMs));
}

export function stopTimeoutSec(config: ProjectConfig): number {
  return Math.ceil((drainBudgetMs(config) + STOP_MARGIN_MS) / 1000);
}

/** `openclaw-<project>.service`, the project name reduced to characters systemd accepts. */
export function unitName(project: string): string {
  const safe = project.replace(/[^A-Za-z0-9:_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'project';
  return `openclaw-${safe}.service`;
}

export function defaultUnitPath(project: string, user: boolean, home = os.homedir()): string {
  return user ? path.join(home, '.config', 'systemd', 'user', unitName(project)) : path.join('/etc/systemd/system', unitName(project));
}

/** Where the unit reads environment variables (secrets: OPENCLAW_MASTER_KEY, OPENCLAW_DB_URL…). */
export function defaultEnvironmentFile(project: string, user: boolean): string {
  const base = unitName(project).replace(/\.service$/, '.env');
  return user ? `%h/.config/openclaw/${base}` : `/etc/openclaw/${base}`;
}

/** One ExecStart word: quoted when needed; `%` and `$` escaped (systemd expands both). */
export function quoteArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function envValue(name: string, value: string): string {
  return quoteArg(`${name}=${value}`);
}

export interface UnitOptions {
  config: ProjectConfig;
  /** Absolute path of node. */
  node: string;
  /** Node flags (the TypeScript loader when running from source) and the CLI's main script. */
  execArgv: string[];
  script: string;
  /** A user unit (systemctl --user) instead of a system one. */
  user: boolean;
  /** System units: the account to run as (null: root; not recommended). */
  runAs: string | null;
  /** PATH for command agents (systemd's default PATH is short). */
  pathEnv?: string;
}

export function renderUnit(o: UnitOptions): string {
  const c = o.config;
  const exec = [o.node, ...o.execArgv, o.script, 'daemon', 'run', '--project', c.file].map(quoteArg).join(' ');
  const drain = drainBudgetMs(c);
  const lines = [
    `# Written by \`openclaw daemon install\` for project '${c.project}' (${c.file}).`,
    '# Regenerate it after changing agents\' graceful_shutdown budgets: TimeoutStopSec follows them.',
    '[Unit]',
    `Description=OpenClaw daemon for project ${c.project}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...(o.user || o.runAs === null ? [] : [`User=${o.runAs}`]),
    `WorkingDirectory=${quoteArg(c.root)}`,
    `ExecStart=${exec}`,
    'Environment=NODE_ENV=production',
    ...Object.entries(daemonEnv({})).map(([k, v]) => `Environment=${envValue(k, v)}`),
    ...(o.pathEnv ? [`Environment=${envValue('PATH', o.pathEnv)}`] : []),
    '# Secrets and overrides (OPENCLAW_MASTER_KEY, OPENCLAW_DB_URL, provider keys), one NAME=value a line;',
    '# keep the file mode 0600. The leading "-" makes it optional.',
    `EnvironmentFile=-${defaultEnvironmentFile(c.project, o.user)}`,
    '# Restart on any exit except 78: the daemon refused its configuration; fix it, then start again.',
    'Restart=always',
    'RestartSec=5',
    'RestartPreventExitStatus=78',
    '# SIGTERM drains the agents; the whole group is killed only after the drain budget',
    `# (${Math.ceil(drain / 1000)}s: the longest graceful_shutdown timeout + teardown_timeout) plus ${STOP_MARGIN_MS / 1000}s.`,
    'KillSignal=SIGTERM',
    'KillMode=control-group',
    `TimeoutStopSec=${stopTimeoutSec(c)}`,
    '',
    '[Install]',
    `WantedBy=${o.user ? 'default.target' : 'multi-user.target'}`,
    '',
  ];
  return lines.join('\n');
}

/** What to run after writing the unit. */
export function enableInstructions(unitPath: string, user: boolean): string[] {
  const name = path.basename(unitPath);
  const sc = user ? 'systemctl --user' : 'sudo systemctl';
  const out = [`${sc} daemon-reload`, `${sc} enable --now ${name}`, `${sc} status ${name}`, `journalctl ${user ? '--user ' : ''}-u ${name} -f`];
  if (user) out.push(`loginctl enable-linger ${os.userInfo().username}   # keep it running when you are logged out`);
  return out;
}
