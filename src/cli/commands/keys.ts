// `openclaw keys create|list|revoke`: virtual keys for the OpenAI-compatible /v1 API, each with its
// own daily/monthly budget, tokens per minute and allowed models. The key is printed once.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parsePositiveInt, targetOptions } from '../context.js';
import { formatTimestamp, renderTable } from '../format.js';
import { UsageError } from '../errors.js';
import type { KeyRow } from '../../llm/ledger.js';

/** A key as GET /api/llm/keys returns it (never the secret). */
type KeyView = KeyRow;

function usd(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be an amount in USD such as 5 or 0.5 (got '${v}')`);
    return n;
  };
}

const money = (v: number | null) => (v === null ? '-' : `$${v.toFixed(2)}`);

export function registerKeys(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('virtual keys for the OpenAI-compatible /v1 API');

  const create = keys
    .command('create')
    .description('create a key (printed once: store it now)')
    .option('--name <name>', 'what the key is for (default: named after its id, e.g. key-3f9a1c2b)')
    .option('--budget-daily <usd>', 'daily budget in USD', usd('--budget-daily'))
    .option('--budget-monthly <usd>', 'monthly budget in USD', usd('--budget-monthly'))
    .option('--tpm <n>', 'tokens per minute', parsePositiveInt('--tpm'))
    .option('--models <list>', 'allowed models, comma-separated (default: all)');
  targetOptions(jsonOption(create)).action(async (opts: { name?: string; budgetDaily?: number; budgetMonthly?: number; tpm?: number; models?: string; json?: boolean }) => {
    const models = opts.models?.split(',').map((m) => m.trim()).filter(Boolean);
    const res = await ctx.client(create).request<KeyView & { key: string }>('POST', '/api/llm/keys', {
      body: { name: opts.name, budget_daily_usd: opts.budgetDaily ?? null, budget_monthly_usd: opts.budgetMonthly ?? null, tpm: opts.tpm ?? null, models: models?.length ? models : null },
    });
    if (opts.json) return ctx.printJson(res);
    // Only the key on stdout (like `token create`), so `KEY=$(openclaw keys create …)` works.
    ctx.print(res.key);
    ctx.warn(`Created key ${res.id} (${res.name}). This is the only time the key is shown: store it now. Use it as the API key of any OpenAI client with base URL <daemon>/v1.`);
  });

  const list = keys.command('list').description('list keys (never the secret)');
  targetOptions(jsonOption(list)).action(async (opts: { json?: boolean }) => {
    const res = await ctx.client(list).request<{ keys: KeyView[] }>('GET', '/api/llm/keys');
    if (opts.json) return ctx.printJson(res);
    if (res.keys.length === 0) return ctx.print('no keys yet; create one with `openclaw keys create --name NAME`');
    ctx.print(
      renderTable(
        ['ID', 'Name', 'Prefix', 'Daily', 'Monthly', 'TPM', 'Models', 'Created', 'Status'],
        res.keys.map((k) => [
          k.id,
          k.name,
          `${k.prefix}…`,
          money(k.budgetDailyUsd),
          money(k.budgetMonthlyUsd),
          k.tpm === null ? '-' : String(k.tpm),
          k.models?.join(',') ?? 'all',
          formatTimestamp(k.createdAt),
          k.revokedAt === null ? 'active' : `revoked ${formatTimestamp(k.revokedAt)}`,
        ]),
      ),
    );
  });

  const revoke = keys.command('revoke <id>').description('revoke a key (requests with it get 401 from now on)');
  targetOptions(jsonOption(revoke)).action(async (id: string, opts: { json?: boolean }) => {
    const res = await ctx.client(revoke).request<{ id: string; revoked: boolean }>('DELETE', `/api/llm/keys/${encodeURIComponent(id)}`);
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Revoked key ${res.id}`);
  });
}
