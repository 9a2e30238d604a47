// `openclaw logs NAME [--follow]`: recent lines, or a live tail over the WebSocket.
import type { Command } from 'commander';
import { formatLogLine } from '../../observability/format.js';
import type { LogLine } from '../../runtime/protocol.js';
import type { CliContext } from '../context.js';
import { jsonOption, parsePositiveInt, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';

const LEVELS = ['debug', 'info', 'warn', 'warning', 'error'];

interface LogsOptions {
  follow?: boolean;
  lines?: number;
  since?: string;
  level?: string;
  json?: boolean;
}

export function registerLogs(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('logs <name>')
    .description("print an agent's recent log lines, or follow them live")
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'how many recent lines (default 100; with --follow, 10, or every line since --since)', parsePositiveInt('--lines'))
    .option('--since <when>', 'only lines since then: 10m, 2h, 1d, or an ISO date (with --follow: the history shown first)')
    .option('--level <level>', 'minimum level: debug, info, warn, error');
  targetOptions(jsonOption(cmd)).action(async (name: string, opts: LogsOptions) => {
    if (opts.level && !LEVELS.includes(opts.level.toLowerCase())) throw new UsageError(`--level: expected one of debug, info, warn, error; got '${opts.level}'`);
    if (opts.since && !/^\d+(\.\d+)?(ms|s|m|h|d|w)$/.test(opts.since) && Number.isNaN(Date.parse(opts.since))) {
      throw new UsageError(`--since: expected a duration like 10m or an ISO date, got '${opts.since}'`);
    }
    const client = ctx.client(cmd);
    const color = process.stdout.isTTY === true && !opts.json;
    const print = (line: LogLine) => ctx.print(opts.json ? JSON.stringify(line) : formatLogLine(line, { color }));

    if (!opts.follow) {
      const res = await client.logs(name, { limit: opts.lines ?? 100, since: opts.since, level: opts.level });
      if (opts.json) return ctx.printJson(res);
      for (const line of res.lines) print(line);
      return;
    }

    // --follow --json prints one JSON object per line (NDJSON), drop notices included.
    let stoppedByUser = false;
    const follow = client.followLogs(
      name,
      // --since picks the history by time: every line since then (up to 10,000) unless --lines caps it.
      { tail: opts.lines ?? (opts.since ? 10_000 : 10), since: opts.since, level: opts.level },
      {
        line: print,
        dropped: (count) =>
          opts.json ? ctx.print(JSON.stringify({ type: 'dropped', count })) : ctx.warn(`openclaw: ${count} line(s) dropped: this terminal could not keep up`),
      },
    );
    const stop = () => {
      stoppedByUser = true;
      follow.close();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const end = await follow.closed;
      if (!stoppedByUser) {
        ctx.warn(`openclaw: the daemon closed the log stream (${end.code}${end.reason ? `: ${end.reason}` : ''})`);
        ctx.exitCode = 1;
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}
