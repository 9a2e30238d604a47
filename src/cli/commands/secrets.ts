// `openclaw secrets set|list|rotate|delete`: encrypted secrets referenced as ${secret:NAME}.
// A value is read from stdin, never from the command line (argv shows up in `ps` and shell
// history). The CLI talks to the running daemon; with no daemon answering it opens the project's
// store itself (same master key), so secrets can be set before the first start.
import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { openStore, type Store } from '../../store/index.js';
import { securityConfig } from '../../security/config.js';
import { secretsEnv } from '../../security/module.js';
import { AuditLog } from '../../security/audit/log.js';
import { AuditRepo, auditStoreModule } from '../../security/audit/repo.js';
import { SecretRepo, secretsStoreModule } from '../../security/secrets/repo.js';
import { SecretService, type SecretInfo } from '../../security/secrets/service.js';
import { DaemonUnreachableError } from '../client.js';
import type { CliContext } from '../context.js';
import { jsonOption, targetOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { formatTimestamp, renderTable } from '../format.js';
import { projectRoot } from './project.js';

export interface OfflineSecurity {
  store: Store;
  secrets: SecretService;
  audit: AuditLog;
  auditRepo: AuditRepo;
  close(): Promise<void>;
}

/** The project's store opened by the CLI itself (no daemon running): secrets and audit. */
export async function openOffline(ctx: CliContext, cmd: Command): Promise<OfflineSecurity> {
  const root = projectRoot(ctx, cmd.opts<{ project?: string }>().project);
  const config = await loadConfig(root, { env: ctx.env });
  const sec = securityConfig(config.extensions);
  const store = await openStore(config.store);
  try {
    await store.migrateModule(auditStoreModule);
    const auditRepo = new AuditRepo(store.handle());
    const audit = new AuditLog({ repo: auditRepo, now: Date.now, categories: sec.audit.enabled ? sec.audit.log_events : [] });
    const local = sec.secrets.backend === 'local';
    if (local) await store.migrateModule(secretsStoreModule);
    const secrets = new SecretService({
      repo: local ? new SecretRepo(store.handle()) : null,
      dataDir: config.dataDir,
      env: secretsEnv(sec.secrets.env, ctx.env),
      graceMs: sec.secrets.rotation_grace,
      now: Date.now,
      audit: () => (sec.audit.enabled ? audit : { record() {} }),
      processEnv: ctx.env,
      warn: (msg) => ctx.warn(`openclaw: ${msg}`),
    });
    await secrets.load();
    return {
      store,
      secrets,
      audit,
      auditRepo,
      async close() {
        await audit.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

/** Runs `online` against the daemon; when none answers, `offline` against the store. */
export async function daemonOrStore<R>(ctx: CliContext, cmd: Command, online: () => Promise<R>, offline: (o: OfflineSecurity) => Promise<R>): Promise<R> {
  try {
    return await online();
  } catch (err) {
    if (!(err instanceof DaemonUnreachableError) || cmd.opts<{ url?: string }>().url) throw err;
    if (ctx.lastTarget?.projectDir == null && cmd.opts<{ project?: string }>().project === undefined) throw err;
  }
  const o = await openOffline(ctx, cmd);
  try {
    return await offline(o);
  } finally {
    await o.close();
  }
}

export function cliActor(env: NodeJS.ProcessEnv): string {
  let user = env.USER ?? env.LOGNAME ?? '';
  try {
    user ||= os.userInfo().username;
  } catch {
    // no passwd entry (containers)
  }
  return `cli:${user || 'unknown'}`;
}

export type ReadStdin = () => Promise<string>;

const readProcessStdin: ReadStdin = async () => {
  if (process.stdin.isTTY) process.stderr.write('Enter the value, then press Ctrl-D: ');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/** The value from stdin, without the one trailing newline `echo` adds. */
async function valueFromStdin(read: ReadStdin, name: string, verb: string): Promise<string> {
  const value = (await read()).replace(/\r?\n$/, '');
  if (value.length === 0) {
    throw new UsageError(`secrets ${verb} ${name}: no value on stdin; pipe it in, e.g. \`printf %s "$VALUE" | openclaw secrets ${verb} ${name}\` (never on the command line)`);
  }
  return value;
}

interface PutResult {
  name: string;
  env: string;
  version: number;
  previousValidUntil: number | null;
  warnings: string[];
}

export function registerSecrets(program: Command, ctx: CliContext, readStdin: ReadStdin = readProcessStdin): void {
  const secrets = program.command('secrets').description('encrypted secrets, referenced as ${secret:NAME} in openclaw.yaml');

  const put = (verb: 'set' | 'rotate') => {
    const cmd = secrets
      .command(`${verb} <name>`)
      .description(
        verb === 'set'
          ? 'store a secret (the value is read from stdin); replaces the current value at once'
          : 'replace a secret with a new value from stdin; the previous one stays valid for security.secrets.rotation_grace',
      )
      .option('--env <env>', 'store the value for this environment only (e.g. production); default: for every environment');
    targetOptions(jsonOption(cmd)).action(async (name: string, opts: { env?: string; json?: boolean }) => {
      const value = await valueFromStdin(readStdin, name, verb);
      const res = await daemonOrStore<PutResult>(
        ctx,
        cmd,
        () => (verb === 'set' ? ctx.client(cmd).request('PUT', `/api/secrets/${encodeURIComponent(name)}`, { body: { value, env: opts.env } }) : ctx.client(cmd).request('POST', `/api/secrets/${encodeURIComponent(name)}/rotate`, { body: { value, env: opts.env } })),
        (o) => o.secrets.put(verb, name, value, { env: opts.env, actor: cliActor(ctx.env) }),
      );
      for (const w of res.warnings) ctx.warn(`openclaw: warning: ${w}`);
      if (opts.json) return ctx.printJson(res);
      const where = res.env === 'default' ? '' : ` for env ${res.env}`;
      ctx.print(`${verb === 'set' ? 'Set' : 'Rotated'} secret ${res.name}${where}: now v${res.version}`);
      if (res.previousValidUntil !== null) ctx.print(`The previous version stays valid until ${formatTimestamp(res.previousValidUntil)}`);
      ctx.print('Agents read it when an instance starts: restart the agents that use it to pick up the new value');
    });
  };
  put('set');
  put('rotate');

  const list = secrets.command('list').description('list secrets: names, environments, versions and dates (never values)');
  targetOptions(jsonOption(list)).action(async (opts: { json?: boolean }) => {
    const res = await daemonOrStore<{ backend: string; env: string; secrets: SecretInfo[] }>(
      ctx,
      list,
      () => ctx.client(list).request('GET', '/api/secrets'),
      async (o) => ({ backend: o.secrets.backend, env: o.secrets.env, secrets: await o.secrets.list() }),
    );
    if (opts.json) return ctx.printJson(res);
    if (res.backend === 'env') return ctx.print('security.secrets.backend is env: secrets are read from environment variables, nothing is stored');
    if (res.secrets.length === 0) return ctx.print('No secrets yet; add one with `printf %s "$VALUE" | openclaw secrets set NAME`');
    ctx.print(
      renderTable(
        ['Name', 'Env', 'Version', 'Updated', 'Previous valid until'],
        res.secrets.map((s) => {
          const grace = s.versions.filter((v) => v.validUntil !== null).map((v) => `v${v.version} ${formatTimestamp(v.validUntil!)}`);
          return [s.name, s.env, `v${s.current}`, formatTimestamp(s.updatedAt), grace.join(', ') || '-'];
        }),
      ),
    );
  });

  const del = secrets.command('delete <name>').description('delete a secret (every version of it in that environment)').option('--env <env>', 'the environment-specific value to delete');
  targetOptions(jsonOption(del)).action(async (name: string, opts: { env?: string; json?: boolean }) => {
    const res = await daemonOrStore<{ name: string; env: string; deleted: number }>(
      ctx,
      del,
      () => ctx.client(del).request('DELETE', `/api/secrets/${encodeURIComponent(name)}`, { query: { env: opts.env } }),
      (o) => o.secrets.delete(name, { env: opts.env, actor: cliActor(ctx.env) }),
    );
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Deleted secret ${res.name}${res.env === 'default' ? '' : ` for env ${res.env}`} (${res.deleted} version${res.deleted === 1 ? '' : 's'})`);
  });
}
