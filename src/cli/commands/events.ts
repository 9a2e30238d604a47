// `openclaw events publish|list`: put an event on the bus, read the event log.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parseJson, parsePositiveInt, targetOptions } from '../context.js';
import { formatTimestamp, renderTable } from '../format.js';

export function registerEvents(program: Command, ctx: CliContext): void {
  const events = program.command('events').description('publish and read events');

  const publish = events
    .command('publish <name>')
    .description('publish an event; subscribed agents receive it')
    .option('--data <json>', 'the event payload as JSON', parseJson('--data'))
    .option('--id <id>', 'idempotency id: publishing an id twice delivers once');
  targetOptions(jsonOption(publish)).action(async (name: string, opts: { data?: unknown; id?: string; json?: boolean }) => {
    const res = await ctx.client(publish).publishEvent({ name, data: opts.data, id: opts.id });
    if (opts.json) return ctx.printJson(res);
    ctx.print(res.published ? `Published ${name} (id ${res.id})` : `Event ${res.id} was already published; nothing sent again`);
  });

  const list = events
    .command('list')
    .description('list events from the log, oldest first')
    .option('--name <name>', 'only events with this name')
    .option('--after <seq>', 'only events after this sequence number', parsePositiveInt('--after'))
    .option('--limit <n>', 'how many (default 50)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(list)).action(async (opts: { name?: string; after?: number; limit?: number; json?: boolean }) => {
    const res = await ctx.client(list).listEvents({ name: opts.name, after: opts.after, limit: opts.limit ?? 50 });
    if (opts.json) return ctx.printJson(res);
    if (res.events.length === 0) return ctx.print('No events.');
    ctx.print(
      renderTable(
        ['Seq', 'Event', 'Id', 'Source', 'Created'],
        res.events.map((e) => [String(e.seq), e.name, e.id, e.source ?? 'api', formatTimestamp(e.createdAt)]),
        { align: ['right'] },
      ),
    );
  });
}
