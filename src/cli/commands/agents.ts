// Lifecycle commands on one agent: start, stop, pause, resume, restart, trigger.
import type { Command } from 'commander';
import type { AgentAction } from '../../daemon/control.js';
import type { CliContext } from '../context.js';
import { jsonOption, parseJson, targetOptions } from '../context.js';

const ACTIONS: Array<{ action: AgentAction; done: string; help: string }> = [
  { action: 'start', done: 'Started', help: 'start a stopped agent (also clears a crash loop)' },
  { action: 'stop', done: 'Stopped', help: 'stop an agent gracefully (drains in-flight work); it stays stopped' },
  { action: 'pause', done: 'Paused', help: 'pause an agent: no scheduled runs or events until resumed' },
  { action: 'resume', done: 'Resumed', help: 'resume a paused agent' },
  { action: 'restart', done: 'Restarted', help: 'stop and start an agent' },
];

export function registerAgentActions(program: Command, ctx: CliContext): void {
  for (const { action, done, help } of ACTIONS) {
    const cmd = program.command(`${action} <name>`).description(help);
    targetOptions(jsonOption(cmd)).action(async (name: string, opts: { json?: boolean }) => {
      const agent = await ctx.client(cmd).action(name, action);
      if (opts.json) return ctx.printJson(agent);
      ctx.print(`${done} ${agent.name} (status: ${agent.status})`);
    });
  }

  const trigger = program
    .command('trigger <name>')
    .description('run an agent now, outside its schedule')
    .option('--payload <json>', 'JSON handed to the run as its payload', parseJson('--payload'));
  targetOptions(jsonOption(trigger)).action(async (name: string, opts: { payload?: unknown; json?: boolean }) => {
    const res = await ctx.client(trigger).trigger(name, opts.payload);
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Triggered ${res.agent} (run ${res.runId})`);
  });
}
