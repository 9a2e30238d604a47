// The workflows DaemonModule: loads the definitions (YAML and TypeScript), opens the tables,
// serves the API, resumes the runs a previous daemon left running, and starts the triggers.
import path from 'node:path';
import type { CheckContext, DaemonModule, ModuleContext } from '../contracts/modules.js';
import { counter, histogram } from '../observability/metrics.js';
import { traceparent } from '../observability/tracing.js';
import fs from 'node:fs';
import { suggest } from '../config/suggest.js';
import { ConfigError, type ConfigIssue } from '../util/errors.js';
import { displayPath, IssueLocator } from '../config/locate.js';
import { StepFailure } from './steps.js';
import { guardrailsConfig } from '../security/guardrails/config.js';
import type { NetworkPolicyConfig } from '../security/guardrails/network-rules.js';
import { subWorkflowCycle, toDef, type WorkflowDef, type WorkflowsSection } from './config.js';
import { loadWorkflowFile } from './source.js';
import { WorkflowEngine } from './engine.js';
import { workflowRoutes } from './routes.js';
import { WorkflowRepository } from './store.js';
import { Triggers } from './triggers.js';

/** Call failures another attempt cannot fix: the step fails without spending its retries. */
const FINAL_CALL_ERRORS = new Set(['no_method', 'call_value_invalid']);

/**
 * `agents` (name → kind), when given, is checked against every agent step whose agent is not a
 * template: no such agent, or a command agent (no methods), is a load error with file:line:col.
 * Every problem of every definition is thrown together.
 */
export async function loadDefinitions(
  section: WorkflowsSection | undefined,
  root: string,
  configFile: string,
  opts: { agents?: ReadonlyMap<string, 'module' | 'command'>; locate?: IssueLocator } = {},
): Promise<Map<string, WorkflowDef>> {
  const locate = opts.locate ?? new IssueLocator(configFile);
  const defs = new Map<string, WorkflowDef>();
  const issues: ConfigIssue[] = [];
  for (const [name, entry] of Object.entries(section ?? {})) {
    if ('source' in entry && !('steps' in entry)) {
      const file = path.resolve(root, entry.source);
      if (!fs.existsSync(file)) {
        issues.push(locate.issue(['workflows', name, 'source'], `workflow source ${entry.source} does not exist; the path is relative to the project directory`));
        continue;
      }
      try {
        const body = await loadWorkflowFile(name, file);
        defs.set(name, toDef(name, body, { source: file, triggers: entry.triggers?.length ? entry.triggers : undefined }));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        issues.push(...err.issues.map((i) => ({ ...i, file: displayPath(i.file) })));
      }
    } else {
      defs.set(name, toDef(name, entry as Parameters<typeof toDef>[1]));
    }
  }
  // Checks that need every definition, TypeScript ones included.
  for (const def of defs.values()) {
    for (const [list, steps] of [['steps', def.steps], ['on_failure', def.onFailure]] as const) {
      steps.forEach((s, i) => {
        const at = ['workflows', def.name, list, i];
        if (s.type === 'workflow' && !defs.has(s.workflow)) {
          const hint = suggest(s.workflow, [...defs.keys()]);
          issues.push(locate.issue([...at, 'workflow'], `no workflow named '${s.workflow}'${hint ? ` (did you mean '${hint}'?)` : ''}; defined: ${[...defs.keys()].join(', ')}`, def.source));
        }
        if (s.type !== 'agent' || !opts.agents || s.agent.includes('${{')) return;
        const kind = opts.agents.get(s.agent);
        if (kind === 'module') return;
        const known = [...opts.agents].filter(([, k]) => k === 'module').map(([n]) => n);
        const hint = suggest(s.agent, known);
        issues.push(
          locate.issue(
            [...at, 'agent'],
            kind === 'command'
              ? `'${s.agent}' is a command agent: it has no methods to call; an agent step calls a method of a TypeScript agent (agents with \`source:\`)`
              : `no agent named '${s.agent}'${hint ? ` (did you mean '${hint}'?)` : ''}; agents with methods: ${known.join(', ') || 'none'}`,
            def.source,
          ),
        );
      });
    }
  }
  const cycle = subWorkflowCycle(new Map([...defs].map(([n, d]) => [n, { steps: d.steps, on_failure: d.onFailure }])));
  if (cycle) issues.push(locate.issue(['workflows', cycle[0]!], `sub-workflows call each other in a cycle: ${cycle.join(' → ')}`));
  if (issues.length > 0) throw new ConfigError(issues);
  return defs;
}

/** security.sandbox as the network policy of http steps (the same policy agents' HTTP goes through). */
function networkPolicy(extensions: Record<string, unknown> | undefined): NetworkPolicyConfig {
  const { sandbox } = guardrailsConfig(extensions);
  return { allowed: sandbox.allowed_network, blocked: sandbox.blocked_network, dnsServers: sandbox.dns_servers };
}

export interface WorkflowsModule extends DaemonModule {
  /** The engine, once started (tests drive it directly). */
  readonly engine: WorkflowEngine | null;
}

export function workflowsModule(): WorkflowsModule {
  let engine: WorkflowEngine | null = null;
  let triggers: Triggers | null = null;
  let checked: Map<string, WorkflowDef> | null = null;
  let polling: ReturnType<typeof setInterval> | null = null;
  return {
    name: 'workflows',
    get engine() {
      return engine;
    },
    async check(ctx: CheckContext) {
      checked = await loadDefinitions(ctx.config.extensions?.workflows as WorkflowsSection | undefined, ctx.config.root, ctx.config.file, {
        agents: new Map(ctx.config.agents.map((a) => [a.name, a.kind])),
        locate: ctx.locate,
      });
      return [];
    },
    async start(ctx: ModuleContext) {
      // Checked before anything was created on disk (preflight); loaded here when a test starts the module alone.
      const defs =
        checked ??
        (await loadDefinitions(ctx.config.extensions?.workflows as WorkflowsSection | undefined, ctx.config.root, ctx.config.file, {
          agents: new Map(ctx.config.agents.map((a) => [a.name, a.kind])),
        }));
      const repo = await WorkflowRepository.open(ctx.store);
      repo.redact = (v) => ctx.services.secrets.redact(v);
      const metrics = {
        runs: counter(ctx.metrics, { name: 'openclaw_workflow_runs_total', help: 'Workflow runs finished, by outcome', labelNames: ['workflow', 'status'] as const }),
        stepDuration: histogram(ctx.metrics, {
          name: 'openclaw_workflow_step_duration_seconds',
          help: 'Duration of workflow step executions (shell, http, llm, agent)',
          labelNames: ['workflow', 'step'] as const,
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
        }),
      };
      engine = new WorkflowEngine({
        repo,
        clock: ctx.clock,
        root: ctx.config.root,
        services: ctx.services,
        defs: () => defs,
        log: (level, msg, fields) => ctx.log(level, msg, fields),
        metrics,
        network: networkPolicy(ctx.config.extensions),
        node: ctx.node?.id ?? null,
        callAgent: async (agent, method, payload, o) => {
          const c = ctx.agent(agent);
          if (!c) throw new StepFailure(`agent '${agent}' is not an agent of this project; agents: ${ctx.agentNames().join(', ') || 'none'}`, undefined, true);
          if (c.cfg.kind !== 'module') throw new StepFailure(`agent '${agent}' is a command agent: it has no methods to call (agent steps call methods of TypeScript agents)`, undefined, true);
          // The call's run is a child of the step's span (the active one): one trace per workflow run.
          const r = await c.call(method, payload, { trigger: 'workflow', deadlineMs: o.deadlineMs, signal: o.signal, meta: o.meta, parentTrace: traceparent() ?? null });
          if (!r.ok) {
            const code = r.error?.code;
            throw new StepFailure(`${agent}.${method}(): ${r.error?.message ?? 'failed'}${code ? ` [${code}]` : ''} (agent run ${r.runId})`, undefined, code !== undefined && FINAL_CALL_ERRORS.has(code));
          }
          return r.value ?? null;
        },
      });
      const e = engine;
      ctx.routes(workflowRoutes({ engine: e, defs: () => defs, clock: ctx.clock, secrets: () => ctx.services.secrets }));
      const resumed = await e.resume();
      if (resumed > 0) ctx.log('info', `workflows: resumed ${resumed} run(s) left running by the previous daemon${ctx.node ? ' or by dead nodes' : ''}`);
      // Cluster: at the lease renewals' pace, adopt dead nodes' runs and continue this node's runs
      // whose approvals another node's API recorded (a store poll: no cross-node call).
      if (ctx.node) {
        let busy = false;
        polling = setInterval(() => {
          if (busy) return;
          busy = true;
          e.poll()
            .catch((err: Error) => ctx.log('warning', `workflows: cluster poll failed: ${err.message}`))
            .finally(() => (busy = false));
        }, Math.max(100, Math.floor(ctx.node.leaseMs / 3)));
        polling.unref();
      }
      triggers = new Triggers({ store: ctx.store, repo, engine: e, clock: ctx.clock, root: ctx.config.root, log: (l, m, f) => ctx.log(l, m, f), bus: ctx.bus }, defs);
      await triggers.start();
      if (defs.size > 0) ctx.log('info', `workflows: ${defs.size} defined (${[...defs.keys()].join(', ')})`);
    },
    async stop() {
      if (polling) clearInterval(polling);
      await triggers?.stop();
      await engine?.stop();
    },
  };
}
