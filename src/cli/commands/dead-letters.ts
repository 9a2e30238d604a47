// `openclaw dead-letters list|redrive`: events that failed every delivery attempt.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parsePositiveInt, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { formatRelative, renderTable } from '../format.js';

export function registerDeadLetters(program: Command, ctx: CliContext): void {
  const dl = program.command('dead-letters').description('events that failed every delivery attempt');

  const list = dl
    .command('list')
    .description('list dead letters')
    .option('--agent <name>', 'only those of this agent')
    .option('--limit <n>', 'how many (default 50)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(list)).action(async (opts: { agent?: string; limit?: number; json?: boolean }) => {
    const res = await ctx.client(list).deadLetters({ agent: opts.agent, limit: opts.limit ?? 50 });
    if (opts.json) return ctx.printJson(res);
    if (res.deadLetters.length === 0) return ctx.print('No dead letters.');
    const now = ctx.now();
    ctx.print(
      renderTable(
        ['Id', 'Agent', 'Event', 'Attempts', 'Died', 'Last Error'],
        res.deadLetters.map((d) => [String(d.deliveryId), d.consumer, d.event.name, String(d.attempts), formatRelative(d.deadAt, now), truncate(d.lastError ?? '-', 60)]),
        { align: ['right', 'left', 'left', 'right'] },
      ),
    );
  });

  const redrive = dl
    .command('redrive')
    .description('deliver dead letters again (attempts reset)')
    .option('--agent <name>', "all of this agent's dead letters")
    .option('--id <id...>', 'only these dead-letter ids')
    .option('--all', 'every dead letter of every agent');
  targetOptions(jsonOption(redrive)).action(async (opts: { agent?: string; id?: string[]; all?: boolean; json?: boolean }) => {
    if (!opts.agent && !opts.id && !opts.all) throw new UsageError('dead-letters redrive: say what to redrive: --agent NAME, --id ID..., or --all');
    const ids = opts.id?.map((s) => {
      if (!/^\d+$/.test(s)) throw new UsageError(`--id: expected dead-letter ids (whole numbers), got '${s}'`);
      return Number(s);
    });
    const res = await ctx.client(redrive).redrive({ agent: opts.agent, ids, all: opts.all ? true : undefined });
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Redrove ${res.redriven} dead letter(s)`);
  });
}

function truncate(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}
