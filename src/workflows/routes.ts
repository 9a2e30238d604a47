// The workflow API: definitions, runs, steps, approvals (workflows:read / workflows:run /
// workflows:approve), and the public webhook endpoint with its own signature check.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { defineRoute } from '../contracts/route.js';
import { queryInt } from '../contracts/params.js';
import { describeSchedule } from '../scheduler/schedule.js';
import type { SecretResolver } from '../contracts/modules.js';
import type { Clock } from '../scheduler/types.js';
import { BadRequestError, NotFoundError, OpenClawError } from '../util/errors.js';
import type { StepDef, TriggerDef, WorkflowDef } from './config.js';
import { mayApprove, type WorkflowEngine } from './engine.js';
import type { RunRow, StepRow } from './store.js';
import { verifyWebhook, WebhookRefused } from './webhook.js';

export interface StepView {
  key: string;
  step: string;
  type: string;
  phase: 'main' | 'on_failure';
  needs: string[];
  itemIndex: number | null;
  status: StepRow['status'] | 'not_started';
  attempt: number;
  maxAttempts: number;
  input: unknown;
  output: unknown;
  error: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  nextAt: number | null;
  decidedBy: string | null;
  comment: string | null;
  approvers?: string[] | null;
}

export interface RunView extends Omit<RunRow, 'definition'> {
  durationMs: number | null;
}

export interface RunDetail {
  run: RunView;
  steps: StepView[];
}

const nameParams = z.object({ name: z.string().min(1).max(100).regex(/^[a-z0-9][a-z0-9_-]*$/, 'workflow names are lowercase letters, digits, - and _') });
const runParams = z.object({ id: z.string().min(4).max(300) });
const stepParams = runParams.extend({ step: z.string().min(1).max(100) });
const decideBody = z.object({ comment: z.string().max(2000).optional() }).strict().optional();

export function describeTrigger(t: TriggerDef): string {
  if ('schedule' in t) return t.schedule ? `schedule ${describeSchedule(t.schedule)}` : 'schedule';
  if ('event' in t) return `event ${t.event}`;
  if ('webhook' in t) return 'webhook';
  return `files ${t.files.dir}${t.files.pattern ? `/${t.files.pattern}` : ''}`;
}

export function runView(r: RunRow): RunView {
  const { definition: _d, ...rest } = r;
  return { ...rest, durationMs: r.finishedAt !== null ? r.finishedAt - r.createdAt : null };
}

export function runDetail(run: RunRow, rows: StepRow[], now: number): RunDetail {
  const def = run.definition as WorkflowDef;
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const steps: StepView[] = [];
  const add = (s: StepDef, phase: 'main' | 'on_failure') => {
    const keys = [s.id, ...rows.filter((r) => r.step === s.id && r.itemIndex !== null).sort((a, b) => a.itemIndex! - b.itemIndex!).map((r) => r.key)];
    for (const key of keys) {
      const r = byKey.get(key);
      steps.push({
        key,
        step: s.id,
        type: s.type,
        phase,
        needs: s.needs,
        itemIndex: r?.itemIndex ?? null,
        status: r?.status ?? 'not_started',
        attempt: r?.attempt ?? 0,
        maxAttempts: s.retry?.attempts ?? 1,
        input: r?.input ?? null,
        output: r?.output ?? null,
        error: r?.error ?? null,
        startedAt: r?.startedAt ?? null,
        finishedAt: r?.finishedAt ?? null,
        durationMs: r?.startedAt ? (r.finishedAt ?? now) - r.startedAt : null,
        nextAt: r?.nextAt ?? null,
        decidedBy: r?.decidedBy ?? null,
        comment: r?.comment ?? null,
        ...(s.type === 'approval' ? { approvers: s.approvers ?? null } : {}),
      });
    }
  };
  for (const s of def.steps) add(s, 'main');
  for (const s of def.onFailure) add(s, 'on_failure');
  return { run: runView(run), steps };
}

export interface RouteDeps {
  engine: WorkflowEngine;
  defs: () => Map<string, WorkflowDef>;
  clock: Clock;
  secrets: () => SecretResolver;
}

export function workflowRoutes(d: RouteDeps): (app: FastifyInstance) => void {
  const { engine } = d;
  const findRun = async (id: string): Promise<RunRow> => {
    const found = await engine.repo.findRun(id);
    if (found.length === 0) throw new NotFoundError('run', id, 'list runs with `openclaw workflow runs`');
    if (found.length > 1) throw new BadRequestError(`run id prefix '${id}' is ambiguous; give more characters`, 'ambiguous_run');
    return found[0];
  };
  const defOf = (name: string): WorkflowDef => {
    const def = d.defs().get(name);
    if (!def) throw new NotFoundError('workflow', name, `workflows: ${[...d.defs().keys()].join(', ') || 'none configured'}`);
    return def;
  };

  return (app) => {
    defineRoute(app, {
      method: 'GET',
      url: '/api/workflows',
      permission: 'workflows:read',
      handler: async () => {
        const last = await engine.repo.lastRuns();
        return {
          workflows: [...d.defs().values()].map((w) => ({
            name: w.name,
            description: w.description ?? null,
            steps: w.steps.length,
            triggers: w.triggers.map(describeTrigger),
            source: w.source ?? null,
            lastRun: last.get(w.name) ? runView(last.get(w.name)!) : null,
          })),
        };
      },
    });

    defineRoute(app, {
      method: 'GET',
      url: '/api/workflows/:name',
      permission: 'workflows:read',
      params: nameParams,
      handler: ({ params }) => {
        const w = defOf(params.name);
        return { ...w, triggers: w.triggers.map(describeTrigger) };
      },
    });

    defineRoute(app, {
      method: 'POST',
      url: '/api/workflows/:name/runs',
      permission: 'workflows:run',
      params: nameParams,
      body: z.object({ input: z.unknown().optional() }).strict().optional(),
      status: 202,
      handler: async ({ params, body, req }) => {
        defOf(params.name);
        const { runId } = await engine.start(params.name, body?.input, { trigger: { type: 'api', by: req.principal?.id ?? null } });
        return { runId };
      },
    });

    defineRoute(app, {
      method: 'GET',
      url: '/api/workflow-runs',
      permission: 'workflows:read',
      query: z.object({
        workflow: z.string().optional(),
        status: z.enum(['running', 'succeeded', 'failed', 'cancelled']).optional(),
        limit: queryInt(1, 1000).optional(),
      }),
      handler: async ({ query }) => ({ runs: (await engine.repo.listRuns({ workflow: query.workflow, status: query.status, limit: query.limit ?? 50 })).map(runView) }),
    });

    defineRoute(app, {
      method: 'GET',
      url: '/api/workflow-runs/:id',
      permission: 'workflows:read',
      params: runParams,
      handler: async ({ params }) => {
        const run = await findRun(params.id);
        return runDetail(run, await engine.repo.getSteps(run.id), d.clock.now());
      },
    });

    defineRoute(app, {
      method: 'POST',
      url: '/api/workflow-runs/:id/cancel',
      permission: 'workflows:run',
      params: runParams,
      handler: async ({ params }) => {
        const run = await findRun(params.id);
        return { run: runView(await engine.cancel(run.id)) };
      },
    });

    defineRoute(app, {
      method: 'POST',
      url: '/api/workflow-runs/:id/retry',
      permission: 'workflows:run',
      params: runParams,
      body: z.object({ step: z.string().min(1).optional() }).strict().optional(),
      status: 202,
      handler: async ({ params, body }) => engine.retry((await findRun(params.id)).id, body?.step),
    });

    for (const decision of ['approve', 'reject'] as const) {
      defineRoute(app, {
        method: 'POST',
        url: `/api/workflow-runs/:id/steps/:step/${decision}`,
        permission: 'workflows:approve',
        params: stepParams,
        body: decideBody,
        handler: async ({ params, body, req }) => {
          const run = await findRun(params.id);
          const row = await engine.decide(run.id, params.step, decision === 'approve', req.principal, body?.comment);
          return { runId: run.id, step: params.step, status: row.status, decidedBy: row.decidedBy, comment: row.comment };
        },
      });
    }

    defineRoute(app, {
      method: 'GET',
      url: '/api/approvals',
      permission: 'workflows:read',
      handler: async ({ req }) => {
        const rows = await engine.repo.waitingApprovals();
        const out = [];
        // A team token (which reads no other workflow route) sees only the gates it may decide.
        const p = req.principal;
        const scoped = p !== undefined && p.role !== 'agent' && p.role !== 'local' && p.team !== null;
        for (const r of rows) {
          const approvers = (r.input as { approvers?: string[] } | null)?.approvers ?? null;
          if (scoped && !mayApprove(approvers ?? undefined, p)) continue;
          const run = await engine.repo.getRun(r.runId);
          out.push({ runId: r.runId, workflow: run?.workflow ?? null, step: r.step, message: (r.input as { message?: string } | null)?.message ?? null, approvers, since: r.startedAt, deadline: r.nextAt });
        }
        return { approvals: out };
      },
    });

    // The webhook: its own encapsulated context so the body arrives raw (the MAC is over the bytes).
    const maxBody = Math.max(1024 * 1024, ...[...d.defs().values()].flatMap((w) => w.triggers.flatMap((t) => ('webhook' in t ? [t.webhook.max_body] : []))));
    void app.register(async (hooks) => {
      hooks.removeAllContentTypeParsers();
      hooks.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body));
      defineRoute(hooks, {
        method: 'POST',
        url: '/api/hooks/:name',
        permission: 'public',
        params: nameParams,
        status: 202,
        handler: async ({ params, req }) => {
          const def = d.defs().get(params.name);
          const hook = def?.triggers.find((t): t is Extract<TriggerDef, { webhook: unknown }> => 'webhook' in t);
          if (!def || !hook) throw new WebhookRefused(404, 'webhook_not_found', `no workflow '${params.name}' with a webhook trigger`);
          const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
          let secret: string;
          try {
            secret = await d.secrets().expand(hook.webhook.secret, `workflow:${def.name}`);
          } catch (err) {
            throw new OpenClawError('webhook_secret_unavailable', `the webhook secret of '${def.name}' cannot be read: ${(err as Error).message}`, { status: 503 });
          }
          const now = d.clock.now();
          const { signature, timestamp } = verifyWebhook({ secret, toleranceMs: hook.webhook.tolerance, maxBody: hook.webhook.max_body, now, headers: req.headers, body: raw });
          if (!(await engine.repo.rememberSignature(signature, now + 2 * hook.webhook.tolerance, now))) {
            throw new WebhookRefused(409, 'webhook_replayed', 'this signed request was already received; a webhook delivery starts one run (sign each delivery with a fresh timestamp)');
          }
          const text = raw.toString('utf8');
          let input: unknown = { body: text };
          if (text.length > 0 && /json/.test(String(req.headers['content-type'] ?? ''))) {
            try {
              input = JSON.parse(text);
            } catch {
              throw new WebhookRefused(400, 'invalid_request', 'body: the content type says JSON but the body does not parse');
            }
          }
          const { runId } = await engine.start(def.name, input, { trigger: { type: 'webhook', timestamp }, dedupeKey: `webhook:${signature}` });
          return { runId };
        },
      });
    });
  };
}
