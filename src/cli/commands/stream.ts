// `openclaw stream ingest|tail|stats|results|dlq`: streams from the command line.
import fs from 'node:fs';
import readline from 'node:readline';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parsePositiveInt, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { formatTimestamp, renderTable } from '../format.js';

const CHUNK_LINES = 5000;
const CHUNK_BYTES = 4 * 1024 * 1024;

interface StreamView {
  stream: string;
  head: number;
  events: number;
  dlq: number;
  buffered: number;
  highWatermark: number;
  owner: string | null;
  oldestIngestedAt: number | null;
  newestIngestedAt: number | null;
  windows: Array<{ name: string; type: string; emit: string; cursor: number; lag: number; openWindows: number; lowWatermark: number | null }>;
}

export function registerStream(program: Command, ctx: CliContext): void {
  const stream = program.command('stream').description('streams: ingest NDJSON, follow a stream, stats, window results, dead letters');

  const ingest = stream
    .command('ingest <name> <file>')
    .description("append NDJSON lines from FILE ('-' for stdin) to the stream NAME, in batches; waits out 429s")
    .option('--no-wait', 'do not wait for each batch to be durable (202 instead of 200)');
  targetOptions(jsonOption(ingest)).action(async (name: string, file: string, o: { wait: boolean; json?: boolean }) => {
    const input = file === '-' ? process.stdin : fs.createReadStream(file);
    if (file !== '-' && !fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);
    const client = ctx.client(ingest);
    const total = { accepted: 0, rejected: 0, duplicates: 0, errors: [] as Array<{ line: number; reason: string }> };
    let lines: string[] = [];
    let bytes = 0;
    let firstLine = 1;
    let lineNo = 0;
    const send = async () => {
      if (lines.length === 0) return;
      const body = lines.join('\n');
      for (;;) {
        const r = await client.ingest(name, body, o.wait);
        if (r.status === 429) {
          await new Promise((res) => setTimeout(res, r.retryAfterMs));
          continue;
        }
        const b = r.body!;
        total.accepted += b.accepted;
        total.rejected += b.rejected;
        total.duplicates += b.duplicates ?? 0;
        // The server numbers lines within the request; blank lines count, so offsets add up.
        for (const e of b.errors) if (total.errors.length < 100) total.errors.push({ line: e.line + firstLine - 1, reason: e.reason });
        break;
      }
      firstLine = lineNo + 1;
      lines = [];
      bytes = 0;
    };
    for await (const l of readline.createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      lines.push(l);
      bytes += l.length + 1;
      if (lines.length >= CHUNK_LINES || bytes >= CHUNK_BYTES) await send();
    }
    await send();
    if (o.json) return ctx.printJson(total);
    ctx.print(`${name}: ${total.accepted} accepted, ${total.rejected} rejected${o.wait ? `, ${total.duplicates} duplicate(s) dropped` : ' (buffered; committed within the flush interval)'}`);
    for (const e of total.errors) ctx.print(`  line ${e.line}: ${e.reason}`);
    if (total.rejected > 0) ctx.exitCode = 1;
  });

  const tail = stream
    .command('tail <name>')
    .description("print a stream's events as they are appended (NAME, or WINDOW.late for a window's late events)")
    .option('-n, --lines <n>', 'start this many events before the end (default 10)', parsePositiveInt('--lines'))
    .option('--no-follow', 'print and exit instead of following');
  targetOptions(tail).action(async (name: string, o: { lines?: number; follow: boolean }) => {
    const client = ctx.client(tail);
    const base = name.endsWith('.late') ? null : await client.request<StreamView>('GET', `/api/streams/${encodeURIComponent(name)}`);
    let after = base ? Math.max(0, base.head - (o.lines ?? 10)) : 0;
    for (;;) {
      const page = await client.request<{ events: Array<{ seq: number; time: number; key: string; payload: unknown }>; next: number }>('GET', `/api/streams/${encodeURIComponent(name)}/events`, { query: { after, limit: 1000 } });
      for (const e of page.events) ctx.print(JSON.stringify(e.payload));
      after = page.next;
      if (page.events.length === 1000) continue;
      if (!o.follow) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  const stats = stream.command('stats <name>').description("a stream's size, dead letters, buffer and its windows' progress");
  targetOptions(jsonOption(stats)).action(async (name: string, o: { json?: boolean }) => {
    const s = await ctx.client(stats).request<StreamView>('GET', `/api/streams/${encodeURIComponent(name)}`);
    if (o.json) return ctx.printJson(s);
    ctx.print(
      [
        `Stream ${s.stream}${s.owner ? ` (team ${s.owner})` : ''}`,
        `  events:      ${s.events} kept, ${s.head} appended in all`,
        `  ingested:    ${s.oldestIngestedAt ? `${formatTimestamp(s.oldestIngestedAt)} … ${formatTimestamp(s.newestIngestedAt)}` : '-'}`,
        `  dead letters: ${s.dlq}`,
        `  buffered:    ${s.buffered} (high watermark ${s.highWatermark})`,
      ].join('\n'),
    );
    if (s.windows.length === 0) return;
    ctx.print(
      renderTable(
        ['Window', 'Type', 'Emit', 'Lag', 'Open', 'Watermark'],
        s.windows.map((w) => [w.name, w.type, w.emit, String(w.lag), String(w.openWindows), w.lowWatermark === null ? '-' : formatTimestamp(w.lowWatermark)]),
        { align: ['left', 'left', 'left', 'right', 'right'] },
      ),
    );
  });

  const results = stream
    .command('results <window>')
    .description("a window's latest results, newest first")
    .option('--key <key>', 'only this partition key')
    .option('--final', 'only closed windows')
    .option('--limit <n>', 'how many (default 20)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(results)).action(async (window: string, o: { key?: string; final?: boolean; limit?: number; json?: boolean }) => {
    const r = await ctx.client(results).request<{ results: Array<{ key: string; start: number; end: number; final: boolean; count: number; values: Record<string, unknown> }> }>('GET', `/api/windows/${encodeURIComponent(window)}/results`, {
      query: { key: o.key, final: o.final ? 'true' : undefined, limit: o.limit ?? 20 },
    });
    if (o.json) return ctx.printJson(r);
    if (r.results.length === 0) return ctx.print('No results yet.');
    ctx.print(renderTable(['Key', 'Start', 'End', 'Final', 'Count', 'Values'], r.results.map((x) => [x.key, formatTimestamp(x.start), formatTimestamp(x.end), x.final ? 'yes' : 'no', String(x.count), JSON.stringify(x.values)]), { align: ['left', 'left', 'left', 'left', 'right'] }));
  });

  const dlq = stream.command('dlq <name>').description("a stream's dead-lettered lines with their reasons").option('--limit <n>', 'how many (default 50)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(dlq)).action(async (name: string, o: { limit?: number; json?: boolean }) => {
    const r = await ctx.client(dlq).request<{ dead: Array<{ line: number | null; reason: string; raw: string; source: string; at: number }> }>('GET', `/api/streams/${encodeURIComponent(name)}/dlq`, { query: { limit: o.limit ?? 50 } });
    if (o.json) return ctx.printJson(r);
    if (r.dead.length === 0) return ctx.print('No dead letters.');
    ctx.print(renderTable(['At', 'Source', 'Line', 'Reason', 'Raw'], r.dead.map((x) => [formatTimestamp(x.at), x.source, x.line === null ? '-' : String(x.line), x.reason, x.raw.length > 60 ? x.raw.slice(0, 59) + '…' : x.raw])));
  });
}
