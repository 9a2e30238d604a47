// The daemon's subsystems, started in this order and stopped in reverse. One line each.
//
// Subsystems that do nothing without their section of openclaw.yaml (llm, streams) are imported only
// when the section is there: an idle daemon without them does not hold their code (the LLM router,
// providers and tokenizer; ajv and the stream engine). See test/daemon/lazy-modules.test.ts.
import type { DaemonModule, ModuleContext } from './modules.js';
import { guardrailsModule } from '../security/guardrails/module.js';
import { securityModule } from '../security/module.js';
import { authModule } from '../security/auth/module.js';
import { refuseLlmOps } from '../llm/not-configured.js';
import { createJobsModule } from '../jobs/module.js';
import { workflowsModule } from '../workflows/module.js';
import { uiModule } from '../api/ui/module.js';

export function createModules(): DaemonModule[] {
  return [
    securityModule(), // first: installs services.audit and services.secrets for every other module
    authModule(), // API tokens and RBAC (services.auth); audits through services.audit
    guardrailsModule(), // output validators and agent-wide rate limits at commit (services.guardrails)
    // the LLM router: agent llm.* RPC, /v1, budgets (services.llm); unconfigured, the ops refuse
    whenConfigured('llm', (s) => s !== undefined, async () => (await import('../llm/module.js')).llmModule(), refuseLlmOps),
    createJobsModule(), // the durable job queue: @job handlers, this.jobs, /api/jobs
    workflowsModule(), // DAG workflows: triggers, approvals, webhooks (uses services.llm, agent calls)
    // streams: ingestion (HTTP, files, agents), windowed aggregations, /api/streams
    whenConfigured('streams', (s) => typeof s === 'object' && s !== null && Object.keys(s).length > 0, async () => (await import('../streams/module.js')).createStreamsModule()),
    uiModule(), // last: the web dashboard at /ui (tees services.audit for its live channel)
  ];
}

/**
 * A module whose code is imported at start, and only when `configured(section)` holds; otherwise
 * `absent` does what the module itself does unconfigured (without loading it).
 */
function whenConfigured(name: string, configured: (section: unknown) => boolean, load: () => Promise<DaemonModule>, absent?: (ctx: ModuleContext) => void): DaemonModule {
  let mod: DaemonModule | null = null;
  return {
    name,
    async start(ctx) {
      if (!configured(ctx.config.extensions?.[name])) {
        absent?.(ctx);
        return;
      }
      mod = await load();
      await mod.start(ctx);
    },
    async stop() {
      await mod?.stop?.();
    },
  };
}
