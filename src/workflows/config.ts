// The `workflows:` section of openclaw.yaml and the shape `defineWorkflow({...})` accepts: one zod
// schema for both, so a workflow written in TypeScript is checked exactly like one in YAML.
// Everything that can be known before a run is checked at load, with the field's file:line:
// duplicate step ids, `needs` naming no step, cycles, expressions that do not parse or use a
// variable other than inputs/steps/trigger/item/index, sub-workflows that do not exist or recurse.
import { z } from 'zod';
import { parseDuration, parseSize } from '../config/units.js';
import { schedule as scheduleField } from '../config/schema.js';
import type { ScheduleSpec } from '../scheduler/types.js';
import { checkExpression, collectTemplates } from './expr.js';

export const WORKFLOW_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const STEP_ID = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

function duration(what = 'a duration such as 30s, 5m or 1h') {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseDuration(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (${what})` });
      return z.NEVER;
    }
  });
}

function size() {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parseSize(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

export const TRIGGER_RULES = ['all_success', 'all_done', 'all_failed', 'one_failed', 'one_success', 'none_failed'] as const;
export type TriggerRule = (typeof TRIGGER_RULES)[number];

const retrySchema = z
  .object({
    /** Total attempts, the first included. */
    attempts: z.number().int().min(1).max(100).default(1),
    delay: duration().default('1s'),
    backoff: z.enum(['fixed', 'exponential']).default('exponential'),
    max_delay: duration().default('5m'),
  })
  .strict();

const common = {
  id: z.string().regex(STEP_ID, 'must be 1-63 letters, digits, - or _, starting with a letter (e.g. fetch_sales)'),
  description: z.string().optional(),
  needs: z.union([z.string(), z.array(z.string())]).optional().transform((v) => (v === undefined ? [] : typeof v === 'string' ? [v] : v)),
  if: z.string().optional(),
  trigger_rule: z.enum(TRIGGER_RULES).default('all_success'),
  retry: retrySchema.optional(),
  timeout: duration().optional(),
  /** A CEL expression (or a literal list) to fan out over: one execution per element. */
  for_each: z.union([z.string(), z.array(z.unknown())]).optional(),
  max_parallel: z.number().int().min(1).max(1000).default(4),
};

// A template in the text `sh -c` runs would be spliced in unquoted: an input of `; rm -rf ~`,
// `$(…)` or backticks would run. Values reach a shell step through its environment or its argv.
const shellText = z
  .string()
  .min(1)
  .refine((s) => !s.includes('${{'), {
    message:
      'a ${{ }} template in a shell command string would reach the shell unquoted (an input such as `; rm -rf ~` or `$(…)` would run); ' +
      'pass the value through env (env: { ORDER: "${{ inputs.order }}" } and "$ORDER" in the command), or give command as a list [program, arg, …], which runs without a shell',
  });

const shellStep = z
  .object({
    ...common,
    type: z.literal('shell'),
    command: z.union([shellText, z.array(z.string()).min(1)]),
    cwd: z.string().optional(),
    env: z.record(z.string()).optional(),
    /** Bytes of stdout and of stderr kept (the rest is cut, with a marker). */
    max_output: size().default(64 * 1024),
  })
  .strict();

const httpStep = z
  .object({
    ...common,
    type: z.literal('http'),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET'),
    url: z.string().min(1),
    headers: z.record(z.string()).optional(),
    body: z.unknown().optional(),
    max_response: size().default(1024 * 1024),
  })
  .strict();

const llmStep = z
  .object({
    ...common,
    type: z.literal('llm'),
    prompt: z.string().optional(),
    system: z.string().optional(),
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).strict()).optional(),
    model: z.string().optional(),
    max_tokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
    json: z.boolean().optional(),
  })
  .strict();

const agentStep = z
  .object({
    ...common,
    type: z.literal('agent'),
    agent: z.string().min(1),
    method: z.string().min(1),
    payload: z.unknown().optional(),
  })
  .strict();

const workflowStep = z
  .object({
    ...common,
    type: z.literal('workflow'),
    workflow: z.string().min(1),
    input: z.unknown().optional(),
  })
  .strict();

const approvalStep = z
  .object({
    ...common,
    type: z.literal('approval'),
    message: z.string().optional(),
    /** Roles or teams allowed to decide (`admin`, `finance`, `role:developer`, `team:ops`); any holder of workflows:approve when absent. */
    approvers: z.array(z.string().min(1)).optional(),
    timeout: duration().default('24h'),
    /** What happens when nobody decides within `timeout`. */
    default: z.enum(['approve', 'reject']).default('reject'),
  })
  .strict();

export const stepSchema = z.discriminatedUnion('type', [shellStep, httpStep, llmStep, agentStep, workflowStep, approvalStep], {
  errorMap: (issue, ctx) =>
    issue.code === 'invalid_union_discriminator'
      ? { message: `type must be one of shell, http, llm, agent, workflow, approval` }
      : { message: ctx.defaultError },
});

export type StepDef = z.output<typeof stepSchema>;
export type StepType = StepDef['type'];

const TRIGGER_KINDS = {
  schedule: z.object({ schedule: scheduleField }).strict(),
  event: z.object({ event: z.string().min(1) }).strict(),
  webhook: z
    .object({
      webhook: z
        .object({
          /** The HMAC key; `${secret:NAME}` is resolved through the secret store. */
          secret: z.string().min(1),
          tolerance: duration().default('5m'),
          max_body: size().default(1024 * 1024),
        })
        .strict(),
    })
    .strict(),
  files: z.object({ files: z.object({ dir: z.string().min(1), pattern: z.string().optional() }).strict() }).strict(),
} as const;

// Chosen by its one key, so an issue names the field inside it (a bad cron, a missing secret)
// rather than "invalid input" for the whole union.
const triggerSchema = z.record(z.unknown()).transform((v, ctx) => {
  const keys = Object.keys(v);
  const kind = keys[0] as keyof typeof TRIGGER_KINDS;
  if (keys.length !== 1 || !(kind in TRIGGER_KINDS)) {
    ctx.addIssue({ code: 'custom', message: `a trigger is one of { schedule: "daily 18:00" }, { event: NAME }, { webhook: { secret } }, { files: { dir } } (got keys ${keys.join(', ') || 'none'})` });
    return z.NEVER;
  }
  const r = TRIGGER_KINDS[kind].safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue(issue as z.IssueData);
    return z.NEVER;
  }
  return r.data as TriggerDef;
});

export type TriggerDef =
  | { schedule: ScheduleSpec | null }
  | { event: string }
  | { webhook: { secret: string; tolerance: number; max_body: number } }
  | { files: { dir: string; pattern?: string } };

/** The body of a workflow: what defineWorkflow() takes and what a YAML entry holds inline. */
export const workflowBodySchema = z
  .object({
    description: z.string().optional(),
    /** Default input values, merged under the input a run is started with. */
    inputs: z.record(z.unknown()).optional(),
    triggers: z.array(triggerSchema).optional(),
    steps: z.array(stepSchema).min(1, 'a workflow needs at least one step'),
    on_failure: z.array(stepSchema).optional(),
  })
  .strict()
  .superRefine((wf, ctx) => checkDag(wf, ctx));

/** A YAML entry: inline, or `source: ./workflows/x.ts` (plus optional triggers). */
const sourceEntry = z.object({ source: z.string().min(1), triggers: z.array(triggerSchema).optional() }).strict();
// Chosen by the `source` key (not a union), so an issue names the field that is wrong.
const entrySchema = z.record(z.unknown()).transform((v, ctx) => {
  const r = 'source' in v ? sourceEntry.safeParse(v) : workflowBodySchema.safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue(issue as z.IssueData);
    return z.NEVER;
  }
  return r.data;
});

export type WorkflowBody = z.output<typeof workflowBodySchema>;

export interface WorkflowDef {
  name: string;
  description?: string;
  inputs: Record<string, unknown>;
  triggers: TriggerDef[];
  steps: StepDef[];
  onFailure: StepDef[];
  /** Absolute path of the TypeScript file it came from, if any. */
  source?: string;
}

export type WorkflowsSection = Record<string, WorkflowBody | { source: string; triggers?: TriggerDef[] }>;

export const workflowsSectionSchema = z
  .record(z.unknown())
  .superRefine((v, ctx) => {
    for (const name of Object.keys(v)) {
      if (!WORKFLOW_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `invalid workflow name ${JSON.stringify(name)}: use 1-63 lowercase letters, digits, - or _`, params: { atKey: true } });
    }
  })
  .pipe(z.record(entrySchema))
  .superRefine((section, ctx) => {
    // Sub-workflows must exist (when defined inline here) and must not call themselves back.
    const inline = new Map<string, WorkflowBody>();
    for (const [name, e] of Object.entries(section)) if ('steps' in e) inline.set(name, e as WorkflowBody);
    for (const [name, wf] of inline) {
      for (const [list, steps] of [['steps', wf.steps], ['on_failure', wf.on_failure ?? []]] as const) {
        steps.forEach((s, i) => {
          if (s.type !== 'workflow') return;
          if (!(s.workflow in section)) {
            ctx.addIssue({ code: 'custom', path: [name, list, i, 'workflow'], message: `no workflow named '${s.workflow}'; defined: ${Object.keys(section).join(', ')}` });
          }
        });
      }
    }
    const cycle = subWorkflowCycle(inline);
    if (cycle) ctx.addIssue({ code: 'custom', path: [cycle[0]], message: `sub-workflows call each other in a cycle: ${cycle.join(' → ')}`, params: { atKey: true } });
  }) as unknown as z.ZodType<WorkflowsSection, z.ZodTypeDef, unknown>;

export function subWorkflowCycle(defs: Map<string, Pick<WorkflowBody, 'steps' | 'on_failure'>>): string[] | null {
  const calls = (n: string) => [...(defs.get(n)?.steps ?? []), ...(defs.get(n)?.on_failure ?? [])].flatMap((s) => (s.type === 'workflow' ? [s.workflow] : []));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 2) return null;
    if (state.get(n) === 1) return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 1);
    stack.push(n);
    for (const c of calls(n)) {
      const r = visit(c);
      if (r) return r;
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of defs.keys()) {
    const r = visit(n);
    if (r) return r;
  }
  return null;
}

function checkDag(wf: { steps: StepDef[]; on_failure?: StepDef[] }, ctx: z.RefinementCtx): void {
  const mainIds = new Set(wf.steps.map((s) => s.id));
  for (const [list, steps] of [['steps', wf.steps], ['on_failure', wf.on_failure ?? []]] as const) {
    const seen = new Map<string, number>();
    steps.forEach((s, i) => {
      if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: [list, i, 'id'], message: `duplicate step id '${s.id}' (also ${list}[${seen.get(s.id)}]); step ids must be unique` });
      else if (list === 'on_failure' && mainIds.has(s.id)) ctx.addIssue({ code: 'custom', path: [list, i, 'id'], message: `step id '${s.id}' is already a step of the workflow; failure handlers need their own ids` });
      seen.set(s.id, i);
    });
    const ids = new Set(steps.map((s) => s.id));
    steps.forEach((s, i) => {
      for (const n of s.needs) {
        if (n === s.id) ctx.addIssue({ code: 'custom', path: [list, i, 'needs'], message: `step '${s.id}' needs itself` });
        else if (!ids.has(n)) {
          const hint = list === 'on_failure' && mainIds.has(n) ? `; failure handlers run after the workflow's steps and read them as steps.${n}, they cannot need them` : `; steps: ${[...ids].join(', ')}`;
          ctx.addIssue({ code: 'custom', path: [list, i, 'needs'], message: `needs '${n}', which is not a step of this ${list === 'steps' ? 'workflow' : 'on_failure list'}${hint}` });
        }
      }
      const exprs: Array<[string, string]> = [];
      if (s.if !== undefined) exprs.push(['if', s.if]);
      if (typeof s.for_each === 'string') exprs.push(['for_each', s.for_each]);
      const { id: _id, needs: _n, if: _if, for_each: _fe, ...params } = s;
      for (const t of collectTemplates(params)) exprs.push(['${{ }}', t]);
      for (const [where, e] of exprs) {
        const err = checkExpression(e);
        if (err) ctx.addIssue({ code: 'custom', path: [list, i, where === '${{ }}' ? 'id' : where], message: `${where === '${{ }}' ? `template \${{ ${e} }}` : `expression ${JSON.stringify(e)}`}: ${err}` });
      }
      if (s.type === 'approval' && s.for_each !== undefined) ctx.addIssue({ code: 'custom', path: [list, i, 'for_each'], message: 'an approval gate cannot fan out' });
    });
    const cycle = findCycle(steps);
    if (cycle) {
      const i = steps.findIndex((s) => s.id === cycle[0]);
      ctx.addIssue({ code: 'custom', path: [list, i, 'needs'], message: `steps depend on each other in a cycle: ${cycle.join(' → ')}` });
    }
  }
}

/** A dependency cycle among steps (ids, first repeated at the end), or null. */
export function findCycle(steps: Array<{ id: string; needs: string[] }>): string[] | null {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 2) return null;
    if (state.get(id) === 1) return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 1);
    stack.push(id);
    for (const n of byId.get(id)?.needs ?? []) {
      if (!byId.has(n) || n === id) continue;
      const r = visit(n);
      if (r) return r;
    }
    stack.pop();
    state.set(id, 2);
    return null;
  };
  for (const s of steps) {
    const r = visit(s.id);
    if (r) return r;
  }
  return null;
}

/** A workflow as the engine uses it. */
export function toDef(name: string, body: WorkflowBody, extra: { source?: string; triggers?: TriggerDef[] } = {}): WorkflowDef {
  return {
    name,
    description: body.description,
    inputs: body.inputs ?? {},
    triggers: (extra.triggers ?? (body.triggers as TriggerDef[] | undefined) ?? []).filter((t) => !('schedule' in t) || t.schedule !== null),
    steps: body.steps,
    onFailure: body.on_failure ?? [],
    source: extra.source,
  };
}
