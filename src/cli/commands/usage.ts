// `openclaw usage --by agent|model|key --since 7d [--json]`: LLM tokens and cost from the usage table.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, targetOptions } from '../context.js';
import { renderTable } from '../format.js';
import { UsageError } from '../errors.js';

interface UsageRow {
  group: string | null;
  /** --by key: the key's name (null for calls without a key, or a key that no longer exists). */
  name?: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costUsd: number;
  cacheHits: number;
  errors: number;
  avgLatencyMs: number;
}

const BY = ['agent', 'model', 'key', 'provider', 'user', 'session'];

/** The group's cell: a key shows as `name (key_…)`; calls made by agents have no key. */
function label(r: UsageRow): string {
  if (r.group === null) return '-';
  return r.name ? `${r.name} (${r.group})` : r.group;
}

export function registerUsage(program: Command, ctx: CliContext): void {
  const usage = program
    .command('usage')
    .description('LLM tokens and cost, grouped by agent, model or key')
    .option('--by <what>', `group by: ${BY.join(', ')}`, 'agent')
    .option('--since <duration>', 'how far back, e.g. 24h, 7d, 30d', '7d');
  targetOptions(jsonOption(usage)).action(async (opts: { by: string; since: string; json?: boolean }) => {
    if (!BY.includes(opts.by)) throw new UsageError(`--by must be one of ${BY.join(', ')} (got '${opts.by}')`);
    const res = await ctx.client(usage).request<{ by: string; since: number; rows: UsageRow[]; total: { requests: number; inputTokens: number; outputTokens: number; costUsd: number } }>('GET', '/api/llm/usage', { query: { by: opts.by, since: opts.since } });
    if (opts.json) return ctx.printJson(res);
    if (res.rows.length === 0) return ctx.print(`no LLM calls in the last ${opts.since}`);
    const n = (v: number) => v.toLocaleString('en-US');
    ctx.print(
      renderTable(
        [opts.by[0]!.toUpperCase() + opts.by.slice(1), 'Requests', 'Input', 'Output', 'Cached', 'Cost', 'Cache hits', 'Errors', 'Avg latency'],
        [
          ...res.rows.map((r) => [label(r), n(r.requests), n(r.inputTokens), n(r.outputTokens), n(r.cachedTokens), `$${r.costUsd.toFixed(4)}`, n(r.cacheHits), n(r.errors), `${r.avgLatencyMs} ms`]),
          ['total', n(res.total.requests), n(res.total.inputTokens), n(res.total.outputTokens), '', `$${res.total.costUsd.toFixed(4)}`, '', '', ''],
        ],
        { align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] },
      ),
    );
  });
}
