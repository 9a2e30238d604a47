// `openclaw audit list|verify`: the hash-chained audit log. `verify` walks the chain and exits 1,
// naming the first bad record, when a record was edited or deleted.
import type { Command } from 'commander';
import { parseDuration } from '../../config/units.js';
import type { AuditRecord, VerifyResult } from '../../security/audit/repo.js';
import type { CliContext } from '../context.js';
import { jsonOption, parsePositiveInt, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { formatTimestamp, renderTable } from '../format.js';
import { daemonOrStore } from './secrets.js';

function sinceOption(value: string): string {
  try {
    parseDuration(value);
  } catch (err) {
    throw new UsageError(`--since: ${(err as Error).message}`);
  }
  return value;
}

function short(detail: Record<string, unknown>): string {
  const text = JSON.stringify(detail);
  return text === '{}' ? '' : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the audit log: who did what, hash-chained so edits and deletions are detected');

  const list = audit
    .command('list')
    .description('list audit records, newest first')
    .option('--since <duration>', 'only records from the last DURATION (e.g. 1h, 7d)', sinceOption)
    .option('--actor <actor>', "only records by this actor (e.g. agent:analyzer, token:ab12cd, cli:alice)")
    .option('--action <action>', "only this action (e.g. secret.read), or a prefix ending in '.' or '*' (secret.*)")
    .option('--limit <n>', 'how many records (default 100)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(list)).action(async (opts: { since?: string; actor?: string; action?: string; limit?: number; json?: boolean }) => {
    const res = await daemonOrStore<{ records: AuditRecord[]; dropped: number }>(
      ctx,
      list,
      () => ctx.client(list).request('GET', '/api/audit', { query: { since: opts.since, actor: opts.actor, action: opts.action, limit: opts.limit } }),
      async (o) => ({
        records: await o.auditRepo.list({ sinceMs: opts.since ? ctx.now() - parseDuration(opts.since) : undefined, actor: opts.actor, action: opts.action, limit: opts.limit ?? 100 }),
        dropped: 0,
      }),
    );
    if (opts.json) return ctx.printJson(res);
    if (res.records.length === 0) ctx.print('No audit records match');
    else {
      ctx.print(
        renderTable(
          ['Seq', 'Time', 'Actor', 'Action', 'Target', 'Detail'],
          res.records.map((r) => [String(r.seq), formatTimestamp(r.time), r.actor, r.action, r.target ?? '-', short(r.detail)]),
        ),
      );
    }
    if (res.dropped > 0) ctx.warn(`openclaw: warning: ${res.dropped} audit record(s) were dropped since the daemon started (queue full or store unavailable)`);
  });

  const verify = audit.command('verify').description('walk the hash chain; exit 1 and name the first bad record when one was edited or deleted');
  targetOptions(jsonOption(verify)).action(async (opts: { json?: boolean }) => {
    const res = await daemonOrStore<VerifyResult>(
      ctx,
      verify,
      () => ctx.client(verify).request('POST', '/api/audit/verify'),
      (o) => o.auditRepo.verify(),
    );
    if (!res.ok) ctx.exitCode = 1;
    if (opts.json) return ctx.printJson(res);
    if (res.ok) {
      ctx.print(`OK: ${res.count} record${res.count === 1 ? '' : 's'} verified${res.count > 0 ? ` (seq ${res.firstSeq}..${res.lastSeq})` : ''}`);
    } else {
      ctx.print(`FAILED at seq ${res.badSeq}: ${res.reason}`);
      ctx.print(`${res.count} record(s) before it verified`);
    }
  });
}
