// The daemon's subsystems, started in this order and stopped in reverse. One line each.
import type { DaemonModule } from './modules.js';
import { guardrailsModule } from '../security/guardrails/module.js';
import { securityModule } from '../security/module.js';
import { authModule } from '../security/auth/module.js';
import { llmModule } from '../llm/module.js';
import { createJobsModule } from '../jobs/module.js';
import { workflowsModule } from '../workflows/module.js';
import { createStreamsModule } from '../streams/module.js';
import { uiModule } from '../api/ui/module.js';

export function createModules(): DaemonModule[] {
  return [
    securityModule(), // first: installs services.audit and services.secrets for every other module
    authModule(), // API tokens and RBAC (services.auth); audits through services.audit
    guardrailsModule(), // output validators and agent-wide rate limits at commit (services.guardrails)
    llmModule(), // the LLM router: agent llm.* RPC, /v1, budgets (services.llm)
    createJobsModule(), // the durable job queue: @job handlers, this.jobs, /api/jobs
    workflowsModule(), // DAG workflows: triggers, approvals, webhooks (uses services.llm, agent calls)
    createStreamsModule(), // streams: ingestion (HTTP, files, agents), windowed aggregations, /api/streams
    uiModule(), // last: the web dashboard at /ui (tees services.audit for its live channel)
  ];
}
