// `openclaw status`: the fleet at a glance, as the seed's table.
import type { Command } from 'commander';
import type { AgentView } from '../../daemon/control.js';
import type { CliContext } from '../context.js';
import { jsonOption, targetOptions } from '../context.js';
import { formatDuration, formatRate, formatRelative, renderTable } from '../format.js';

export function registerStatus(program: Command, ctx: CliContext): void {
  const cmd = program.command('status').description('show every agent: status, uptime, last run, success rate');
  targetOptions(jsonOption(cmd)).action(async (opts: { json?: boolean }) => {
    const res = await ctx.client(cmd).listAgents();
    if (opts.json) return ctx.printJson(res);
    ctx.print(statusTable(res.agents, ctx.now()));
  });
}

export function statusTable(agents: AgentView[], now: number): string {
  if (agents.length === 0) return 'No agents declared. Add one with `openclaw agent create --name NAME --template watchdog`.';
  return renderTable(
    ['Agent', 'Status', 'Uptime', 'Last Run', 'Success Rate'],
    agents.map((a) => [a.name, a.status, formatDuration(a.uptimeMs), formatRelative(a.lastRunAt, now), formatRate(a.successRate)]),
  );
}
