// The daemon side of the worker guardrails: the network policy and limits each agent's workers get
// in their AgentSpec. Apart from worker.ts because it parses the security section with zod, and
// an agent worker loads worker.ts but must not load zod (issue 10: memory per idle agent).
import type { AgentConfig, ProjectConfig } from '../../config/types.js';
import { guardrailsConfig } from './config.js';
import { limitsFor } from './rate-limit.js';
import type { WorkerGuardrails } from './worker.js';

/** What the daemon sends to an agent's workers. */
export function workerGuardrails(config: Pick<ProjectConfig, 'extensions'>, agent: Pick<AgentConfig, 'resources' | 'replicas'>): WorkerGuardrails {
  const g = guardrailsConfig(config.extensions);
  return {
    network: { allowed: g.sandbox.allowed_network, blocked: g.sandbox.blocked_network, dnsServers: g.sandbox.dns_servers },
    limits: limitsFor(agent, g.rate_limits),
    replicated: agent.replicas > 1,
  };
}
