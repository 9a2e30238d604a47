// `openclaw status`: the fleet at a glance, as the seed's table (with the node running each agent
// when several daemons share the store). `openclaw nodes`: those daemons.
import type { Command } from 'commander';
import type { AgentView, NodeView } from '../../daemon/control.js';
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

  const nodes = program.command('nodes').description('list the daemons sharing this store: load, leases, last heartbeat');
  targetOptions(jsonOption(nodes)).action(async (opts: { json?: boolean }) => {
    const res = await ctx.client(nodes).listNodes();
    if (opts.json) return ctx.printJson(res);
    ctx.print(nodesTable(res.nodes, ctx.now()));
  });
}

export function nodesTable(nodes: NodeView[], now: number): string {
  if (nodes.length === 0) return 'One daemon, no cluster: several daemons share a fleet on a PostgreSQL store (docs/scale-out.md).';
  return renderTable(
    ['Node', 'Status', 'Weight', 'Leases', 'Load', 'Last Heartbeat', 'Address'],
    nodes.map((n) => {
      const share = n.capacity ? `${n.leases}/${n.capacity}` : String(n.leases);
      return [
        `${n.nodeId}${n.self ? ' (this)' : ''}`,
        n.draining ? 'draining' : n.alive ? 'alive' : 'gone',
        String(n.weight),
        share,
        n.instances.join(', ') || '-',
        formatRelative(n.heartbeatAt, now),
        n.address ?? '-',
      ];
    }),
  );
}

export function statusTable(agents: AgentView[], now: number): string {
  if (agents.length === 0) return 'No agents declared. Add one with `openclaw agent create --name NAME --template watchdog`.';
  const clustered = agents.some((a) => a.instances.some((i) => i.node !== undefined));
  const node = (a: AgentView) => [...new Set(a.instances.map((i) => i.node ?? '-'))].join(', ');
  return renderTable(
    ['Agent', 'Status', 'Uptime', 'Last Run', 'Success Rate', ...(clustered ? ['Node'] : [])],
    agents.map((a) => [a.name, a.status, formatDuration(a.uptimeMs), formatRelative(a.lastRunAt, now), formatRate(a.successRate), ...(clustered ? [node(a)] : [])]),
  );
}
