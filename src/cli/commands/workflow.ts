// `openclaw workflow list|run|runs|show|cancel|retry` and `openclaw approve|reject RUN STEP`.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parseJson, parsePositiveInt, targetOptions } from '../context.js';
import { formatRelative, renderTable } from '../format.js';
import { renderRun } from '../../workflows/render.js';
import type { RunDetail, RunView } from '../../workflows/routes.js';

interface WorkflowSummary {
  name: string;
  description: string | null;
  steps: number;
  triggers: string[];
  lastRun: RunView | null;
}

const enc = encodeURIComponent;

export function registerWorkflow(program: Command, ctx: CliContext): void {
  const wf = program.command('workflow').description('DAG workflows: definitions, runs, approvals');

  const list = wf.command('list').description('list the workflows of the project');
  targetOptions(jsonOption(list)).action(async (opts: { json?: boolean }) => {
    const res = await ctx.client(list).request<{ workflows: WorkflowSummary[] }>('GET', '/api/workflows');
    if (opts.json) return ctx.printJson(res);
    if (res.workflows.length === 0) return ctx.print('No workflows. Add a workflows: section to openclaw.yaml (see docs/configuration.md).');
    const now = ctx.now();
    ctx.print(
      renderTable(
        ['Workflow', 'Steps', 'Triggers', 'Last Run'],
        res.workflows.map((w) => [w.name, String(w.steps), w.triggers.join(', ') || 'manual', w.lastRun ? `${w.lastRun.status} ${formatRelative(w.lastRun.createdAt, now)}` : '-']),
        { align: ['left', 'right'] },
      ),
    );
  });

  const run = wf
    .command('run <name>')
    .description('start a run of a workflow')
    .option('--input <json>', 'the run input (JSON object), merged over the workflow\'s inputs', parseJson('--input'))
    .option('--wait', 'wait until the run finishes (or waits for an approval) and print it; exit 1 if it failed');
  targetOptions(jsonOption(run)).action(async (name: string, opts: { input?: unknown; wait?: boolean; json?: boolean }) => {
    const client = ctx.client(run);
    const res = await client.request<{ runId: string }>('POST', `/api/workflows/${enc(name)}/runs`, { body: opts.input === undefined ? {} : { input: opts.input } });
    if (!opts.wait) {
      if (opts.json) return ctx.printJson(res);
      return ctx.print(`Started ${name} (run ${res.runId})`);
    }
    let detail: RunDetail;
    for (;;) {
      detail = await client.request<RunDetail>('GET', `/api/workflow-runs/${enc(res.runId)}`);
      if (detail.run.status !== 'running' || detail.steps.some((s) => s.status === 'waiting')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (opts.json) ctx.printJson(detail);
    else ctx.print(renderRun(detail, ctx.now()));
    if (detail.run.status === 'failed' || detail.run.status === 'cancelled') ctx.exitCode = 1;
  });

  const runs = wf
    .command('runs [name]')
    .description('list recent runs (of one workflow)')
    .option('--status <status>', 'running | succeeded | failed | cancelled')
    .option('--limit <n>', 'how many (default 20)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(runs)).action(async (name: string | undefined, opts: { status?: string; limit?: number; json?: boolean }) => {
    const res = await ctx.client(runs).request<{ runs: RunView[] }>('GET', '/api/workflow-runs', { query: { workflow: name, status: opts.status, limit: opts.limit ?? 20 } });
    if (opts.json) return ctx.printJson(res);
    if (res.runs.length === 0) return ctx.print(name ? `No runs of ${name} yet.` : 'No workflow runs yet.');
    const now = ctx.now();
    ctx.print(
      renderTable(
        ['Run', 'Workflow', 'Status', 'Trigger', 'Started', 'Took'],
        res.runs.map((r) => [r.id, r.workflow, r.status, String(r.trigger.type), formatRelative(r.createdAt, now), r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`]),
      ),
    );
  });

  const show = wf.command('show <run>').description('a run as its DAG: each step with its status, duration and attempts');
  targetOptions(jsonOption(show)).action(async (id: string, opts: { json?: boolean }) => {
    const res = await ctx.client(show).request<RunDetail>('GET', `/api/workflow-runs/${enc(id)}`);
    if (opts.json) return ctx.printJson(res);
    ctx.print(renderRun(res, ctx.now()));
  });

  const cancel = wf.command('cancel <run>').description('cancel a running run (running steps are stopped)');
  targetOptions(jsonOption(cancel)).action(async (id: string, opts: { json?: boolean }) => {
    const res = await ctx.client(cancel).request<{ run: RunView }>('POST', `/api/workflow-runs/${enc(id)}/cancel`);
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Cancelled run ${res.run.id}`);
  });

  const retry = wf.command('retry <run> [step]').description('re-run the failed steps of a finished run (or STEP and what follows it)');
  targetOptions(jsonOption(retry)).action(async (id: string, step: string | undefined, opts: { json?: boolean }) => {
    const res = await ctx.client(retry).request<{ runId: string; steps: string[] }>('POST', `/api/workflow-runs/${enc(id)}/retry`, { body: step ? { step } : {} });
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Retrying run ${res.runId}: ${res.steps.join(', ')}`);
  });

  for (const decision of ['approve', 'reject'] as const) {
    const cmd = program
      .command(`${decision} <run> <step>`)
      .description(`${decision} a workflow step waiting at an approval gate`)
      .option('--comment <text>', 'recorded with the decision');
    targetOptions(jsonOption(cmd)).action(async (id: string, step: string, opts: { comment?: string; json?: boolean }) => {
      const res = await ctx.client(cmd).request<{ runId: string; step: string; decidedBy: string }>('POST', `/api/workflow-runs/${enc(id)}/steps/${enc(step)}/${decision}`, {
        body: opts.comment ? { comment: opts.comment } : {},
      });
      if (opts.json) return ctx.printJson(res);
      ctx.print(`${decision === 'approve' ? 'Approved' : 'Rejected'} ${res.step} of run ${res.runId} (as ${res.decidedBy})`);
    });
  }
}
