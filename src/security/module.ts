// The security daemon module, started first: it installs the audit log (services.audit) and the
// secret store (services.secrets) before any other module or agent can use them. The daemon wires
// services.secrets.redact into the log hub, the run transaction and the API's onSend hook, so
// redaction covers everything that leaves the daemon whoever installed the route or wrote the line.
import type { DaemonModule, ModuleContext } from '../contracts/modules.js';
import { securityConfig } from './config.js';
import { AuditLog } from './audit/log.js';
import { AuditRepo, auditStoreModule } from './audit/repo.js';
import { auditRoutes } from './audit/routes.js';
import { SecretRepo, secretsStoreModule } from './secrets/repo.js';
import { secretRoutes } from './secrets/routes.js';
import { DEFAULT_ENV, SecretService, secretRefs } from './secrets/service.js';

/** This daemon's secrets environment: OPENCLAW_ENV, else security.secrets.env, else 'default'. */
export function secretsEnv(configured: string | null, env: NodeJS.ProcessEnv = process.env): string {
  return env.OPENCLAW_ENV || configured || DEFAULT_ENV;
}

export interface SecurityModuleOptions {
  /** How often to look for secrets changed by another writer (default 10 s). */
  refreshMs?: number;
  /** How often to prune the audit log to its retention (default 1 h). */
  pruneMs?: number;
}

export class SecurityModule implements DaemonModule {
  readonly name = 'security';
  audit: AuditLog | null = null;
  auditRepo: AuditRepo | null = null;
  secrets: SecretService | null = null;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: SecurityModuleOptions = {}) {}

  async start(ctx: ModuleContext): Promise<void> {
    const cfg = securityConfig(ctx.config.extensions);
    const now = () => ctx.clock.now();

    // ---- audit ----
    await ctx.store.migrateModule(auditStoreModule);
    const auditRepo = new AuditRepo(ctx.store.handle());
    this.auditRepo = auditRepo;
    if (cfg.audit.enabled) {
      this.audit = new AuditLog({
        repo: auditRepo,
        now,
        categories: cfg.audit.log_events,
        metrics: ctx.metrics,
        redact: (v) => ctx.services.secrets.redact(v),
        onError: (err) => ctx.log('error', `audit log: records could not be written (${err.message}); they are kept in memory and retried, then dropped`),
      });
      ctx.services.audit = this.audit;
      const prune = async () => {
        const n = await auditRepo.prune(now() - cfg.audit.retention);
        if (n > 0) ctx.log('info', `audit log: pruned ${n} record(s) older than the retention`);
      };
      await prune().catch((err: Error) => ctx.log('warning', `audit log: pruning failed: ${err.message}`));
      this.timers.push(setInterval(() => void prune().catch(() => undefined), this.opts.pruneMs ?? 3_600_000));
    }

    // ---- secrets ----
    const local = cfg.secrets.backend === 'local';
    if (local) await ctx.store.migrateModule(secretsStoreModule);
    const secrets = new SecretService({
      repo: local ? new SecretRepo(ctx.store.handle()) : null,
      dataDir: ctx.dataDir,
      env: secretsEnv(cfg.secrets.env),
      graceMs: cfg.secrets.rotation_grace,
      now,
      audit: () => ctx.services.audit,
      warn: (msg) => ctx.log('warning', msg),
    });
    await secrets.load();
    if (!local) {
      // Values referenced in the config are read now, so they are redacted from the first line on.
      const refs = secretRefs([ctx.config.agents.map((a) => [a.config, a.command?.env, a.command?.args]), ctx.config.extensions]);
      for (const name of refs) await secrets.get(name, 'daemon').catch(() => undefined);
    }
    this.secrets = secrets;
    ctx.services.secrets = secrets;
    if (local) {
      this.timers.push(
        setInterval(
          () =>
            void secrets
              .refreshIfChanged()
              .then((changed) => changed && ctx.log('info', 'secrets changed in the store; reloaded'))
              .catch((err: Error) => ctx.log('error', `secrets: reload failed: ${err.message}`)),
          this.opts.refreshMs ?? 10_000,
        ),
      );
    }
    for (const t of this.timers) t.unref();

    ctx.routes((app) => {
      secretRoutes(app, secrets);
      auditRoutes(app, auditRepo, this.audit, now);
    });
    ctx.log('info', `security: secrets ${cfg.secrets.backend} (env ${secrets.env}), audit ${cfg.audit.enabled ? 'on' : 'off'}`);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.audit?.close();
  }
}

export function securityModule(opts?: SecurityModuleOptions): DaemonModule {
  return new SecurityModule(opts);
}
