// `openclaw token create|list|revoke`: API tokens for the control API. The token is printed once,
// at creation; the daemon keeps only its hash. Roles and permissions: docs/api.md.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { formatRelative, renderTable } from '../format.js';
import type { TokenInfo } from '../../api/types.js';
import { TOKEN_ROLES } from '../../security/auth/roles.js';

const ROLES: readonly string[] = TOKEN_ROLES;

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('API tokens: create (shown once), list, revoke');

  const create = token
    .command('create')
    .description('create an API token and print it (once: only its hash is kept)')
    .requiredOption('--role <role>', 'admin, developer, viewer, ingest (streams:ingest only) or metrics (a Prometheus scraper: metrics and health only)')
    .option('--team <team>', "only the agents whose `owner` is this team (default: every team)")
    .option('--name <name>', 'a label shown by `token list`')
    .option('--expires <duration>', 'lifetime such as 30d, 12h, 2w or 1y (default: never)');
  targetOptions(jsonOption(create)).action(async (opts: { role: string; team?: string; name?: string; expires?: string; json?: boolean }) => {
    if (!ROLES.includes(opts.role)) throw new UsageError(`--role: expected one of ${ROLES.join(', ')}, got '${opts.role}'`);
    const res = await ctx.client(create).createToken({ role: opts.role, team: opts.team, name: opts.name, expires: opts.expires });
    if (opts.json) return ctx.printJson(res);
    const r = res.record;
    ctx.print(res.token);
    ctx.warn(
      `Created token ${r.id} '${r.name}' (role ${r.role}${r.team ? `, team ${r.team}` : ''}${r.expiresAt ? `, expires ${new Date(r.expiresAt).toISOString()}` : ''}). ` +
        'It is shown only now: store it (e.g. OPENCLAW_TOKEN=… or --token) — revoke it with `openclaw token revoke ' +
        r.id +
        '`',
    );
  });

  const list = token.command('list').description('list tokens (ids, roles, teams, use; never the tokens)').option('--all', 'include revoked tokens');
  targetOptions(jsonOption(list)).action(async (opts: { all?: boolean; json?: boolean }) => {
    const res = await ctx.client(list).listTokens(opts.all === true);
    if (opts.json) return ctx.printJson(res);
    if (res.tokens.length === 0) return ctx.print('No tokens.');
    const now = ctx.now();
    ctx.print(
      renderTable(
        ['Id', 'Name', 'Role', 'Team', 'Created', 'Last Used', 'Expires'],
        res.tokens.map((t) => [t.id, t.name, t.role, t.team ?? '(all)', formatRelative(t.createdAt, now), t.lastUsedAt ? formatRelative(t.lastUsedAt, now) : 'never', expiry(t, now)]),
      ),
    );
  });

  const revoke = token.command('revoke').description('revoke a token: it stops working at once').argument('<id>', 'token id, as `token list` shows');
  targetOptions(jsonOption(revoke)).action(async (id: string, opts: { json?: boolean }) => {
    const res = await ctx.client(revoke).revokeToken(id);
    if (opts.json) return ctx.printJson(res);
    ctx.print(res.alreadyRevoked ? `Token ${id} was already revoked` : `Revoked token ${id}`);
  });
}

function expiry(t: TokenInfo, now: number): string {
  if (t.revokedAt) return `revoked ${formatRelative(t.revokedAt, now)}`;
  if (t.expiresAt === null) return 'never';
  if (t.expiresAt <= now) return `expired ${formatRelative(t.expiresAt, now)}`;
  return new Date(t.expiresAt).toISOString().slice(0, 16).replace('T', ' ');
}
