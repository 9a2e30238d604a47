// The daemon half of the guardrails: a DaemonModule that
//   - compiles the output validators once at start (a bad schema file stops the daemon with exit 78),
//   - checks every commit (run end and checkpoint) through CommitGuard.beforeCommit, called from
//     src/daemon/run-transaction.ts: validators on emits (redact | block | warn), and the agent-wide
//     events/state-writes limits of replicated agents,
//   - serves the `guardrails.take` RPC: the agent-wide HTTP call limit of replicated agents.
// Workers enforce the per-instance half (src/security/guardrails/worker.ts).
import type { AgentConfig } from '../../config/types.js';
import type { StateWrite } from '../../store/types.js';
import type { CheckContext, DaemonModule, ModuleContext } from '../../contracts/modules.js';
import { counter } from '../../observability/metrics.js';
import { BadRequestError } from '../../util/errors.js';
import { guardrailsConfig } from './config.js';
import { LimitSet, limitsFor } from './rate-limit.js';
import { OutputValidators, type EmitRecord, type ValidatorNotice } from './validators.js';

export type { CommitBuffer, CommitGuard } from '../../contracts/modules.js';
import type { CommitBuffer, CommitGuard } from '../../contracts/modules.js';

export class Guardrails implements CommitGuard {
  private readonly agentWide = new Map<string, LimitSet>();

  constructor(
    readonly validators: OutputValidators,
    agents: AgentConfig[],
    rateLimits: Parameters<typeof limitsFor>[1],
    private readonly notice: (n: ValidatorNotice) => void,
    now: () => number = Date.now,
  ) {
    for (const a of agents) {
      if (a.replicas <= 1) continue; // one replica: the worker's own buckets are the agent's
      const limits = limitsFor(a, rateLimits);
      if (Object.keys(limits).length > 0) this.agentWide.set(a.name, new LimitSet(a.name, limits, now, ` across its ${a.replicas} replicas`));
    }
  }

  beforeCommit<B extends CommitBuffer>(agent: string, buf: B): B {
    const emits = this.validators.apply(agent, buf.emits, this.notice);
    const limits = this.agentWide.get(agent);
    if (limits) {
      limits.take('events_per_minute', `committing ${buf.emits.length} event(s)`, buf.emits.length);
      limits.take('state_writes_per_minute', `committing ${buf.writes.length} state write(s)`, buf.writes.length);
    }
    return emits === buf.emits ? buf : { ...buf, emits };
  }

  /** One HTTP call of a replicated agent; throws rate_limited when the agent as a whole is over. */
  takeApi(agent: string, call: string): void {
    this.agentWide.get(agent)?.take('api_calls_per_minute', call);
  }
}

export function guardrailsModule(): DaemonModule {
  return {
    name: 'guardrails',
    check(ctx: CheckContext) {
      const cfg = guardrailsConfig(ctx.config.extensions);
      new OutputValidators(cfg.validators, { root: ctx.config.root, file: ctx.config.file, locate: ctx.locate });
      return [];
    },
    async start(ctx: ModuleContext) {
      const cfg = guardrailsConfig(ctx.config.extensions);
      const validators = new OutputValidators(cfg.validators, { root: ctx.config.root, file: ctx.config.file });
      const notices = counter(ctx.metrics, {
        name: 'openclaw_guardrail_violations_total',
        help: 'Output validator matches on emitted events that were redacted or let through with a warning (blocks fail the run)',
        labelNames: ['agent', 'validator', 'action'] as const,
      });
      const guard = new Guardrails(
        validators,
        ctx.config.agents,
        cfg.rate_limits,
        (n) => {
          notices.inc({ agent: n.agent, validator: n.type, action: n.action });
          ctx.log(n.action === 'warn' ? 'warning' : 'info', `${n.validator} ${n.action === 'warn' ? 'warning' : 'redaction'} on event '${n.event}' from agent '${n.agent}': ${n.reason}`, {
            agent: n.agent,
            validator: n.type,
            event: n.event,
          });
        },
        () => ctx.clock.now(),
      );
      ctx.services.guardrails = guard;
      ctx.rpc('guardrails.take', async (req, caller) => {
        if (req.limit !== 'api_calls_per_minute') throw new BadRequestError(`guardrails.take: unknown limit ${JSON.stringify(req.limit)}`);
        guard.takeApi(caller.agent, typeof req.call === 'string' ? req.call : 'an HTTP call');
        return null;
      });
      if (validators.size > 0) ctx.log('info', `guardrails: ${validators.size} output validator(s) on emitted events`);
    },
  };
}
