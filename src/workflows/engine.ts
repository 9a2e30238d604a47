// The workflow engine: turns a run's stored rows into the next transitions. One `tick(run)` at a
// time per run (a promise chain per run id) reads the run and its step rows, decides which steps
// are ready (needs done, trigger rule met, `if` true, backoff over), WRITES each transition and
// only then acts on it (spawn the command, start the sub-workflow, arm the approval deadline).
// An execution's result comes back through the same lock and is written before the next tick.
//
// Durability follows from that order. After a crash:
// - a step whose row says succeeded/failed/skipped is final and never runs again;
// - a step whose row says running was dispatched and may or may not have finished: it runs again
//   (AT-LEAST-ONCE for that step; a shell step's orphaned process group is killed first);
// - an approval whose row says waiting keeps waiting, with its original deadline.
import { randomUUID } from 'node:crypto';
import type { Counter, Histogram } from 'prom-client';
import type { Principal } from '../contracts/route.js';
import type { Clock } from '../scheduler/types.js';
import type { DaemonServices } from '../contracts/modules.js';
import type { LogLine } from '../runtime/protocol.js';
import { NotFoundError, OpenClawError } from '../util/errors.js';
import { contextFromTraceparent, markSpan, tracingEnabled, withSpan } from '../observability/tracing.js';
import { formatDuration } from '../config/units.js';
import type { StepDef, TriggerRule, WorkflowDef } from './config.js';
import { evaluate, evaluateBool, renderTemplates, type ExprContext } from './expr.js';
import { TERMINAL_STEP, type RunRow, type RunStatus, type StepRow, type StepStatus, type WorkflowRepository } from './store.js';
import { execute, killOrphan, StepFailure, type ExecContext } from './steps.js';

/** Longest list a for_each step fans out over. */
export const MAX_FOR_EACH = 1000;
/** Timeout of shell, http, llm and agent steps that do not set one. */
export const DEFAULT_STEP_TIMEOUT_MS = 3600_000;
/** Largest run input accepted (JSON bytes). */
export const MAX_INPUT_BYTES = 1024 * 1024;

export interface EngineOptions {
  repo: WorkflowRepository;
  clock: Clock;
  root: string;
  services: DaemonServices;
  /** The workflows as currently configured (new runs use these; running runs keep their snapshot). */
  defs: () => Map<string, WorkflowDef>;
  log(level: LogLine['level'], msg: string, fields?: Record<string, unknown>): void;
  metrics?: { runs: Counter<'workflow' | 'status'>; stepDuration: Histogram<'workflow' | 'step'> };
  callAgent?: ExecContext['callAgent'];
  /** The network policy http steps go through (security.sandbox). */
  network?: ExecContext['network'];
  /**
   * This daemon's node id in a cluster (PostgreSQL): runs it starts are its own, it executes only
   * runs it owns, and poll() adopts dead nodes' runs. Absent on a single daemon (SQLite).
   */
  node?: string | null;
}

export interface StartOptions {
  trigger?: Record<string, unknown>;
  /** Runs with the same (workflow, dedupeKey) start once: an event, a file, a fire time. */
  dedupeKey?: string;
  id?: string;
  parent?: { run: string; step: string };
}

export class ConflictError extends OpenClawError {
  constructor(code: string, message: string) {
    super(code, message, { status: 409 });
  }
}

const EXEC_TYPES = new Set(['shell', 'http', 'llm', 'agent']);

export class WorkflowEngine {
  private readonly locks = new Map<string, Promise<unknown>>();
  /** `${run}/${key}` → the controller of an execution in flight. */
  private readonly inflight = new Map<string, AbortController>();
  private readonly timers = new Map<string, { at: number; cancel: () => void }>();
  private readonly finishWaiters = new Map<string, Array<(r: RunRow) => void>>();
  private stopped = false;
  /** Step writes by put(), so settle() can tell whether a pass changed anything. */
  private writes = 0;

  constructor(private readonly o: EngineOptions) {}

  get repo(): WorkflowRepository {
    return this.o.repo;
  }

  // ---- public operations ---------------------------------------------------------------------

  async start(name: string, input: unknown, opts: StartOptions = {}): Promise<{ runId: string; created: boolean }> {
    const def = this.o.defs().get(name);
    if (!def) throw new NotFoundError('workflow', name, `workflows: ${[...this.o.defs().keys()].join(', ') || 'none configured'}`);
    const merged = mergeInput(def.inputs, input);
    if (Buffer.byteLength(JSON.stringify(merged) ?? '') > MAX_INPUT_BYTES) {
      throw new OpenClawError('input_too_large', `the input of workflow '${name}' is over ${MAX_INPUT_BYTES} bytes`, { status: 413 });
    }
    const now = this.o.clock.now();
    const id = opts.id ?? randomUUID();
    const row: RunRow = {
      id,
      workflow: name,
      status: 'running',
      trigger: runTrace(opts.trigger ?? { type: 'manual' }, name, id),
      input: merged,
      definition: def,
      error: null,
      parentRun: opts.parent?.run ?? null,
      parentStep: opts.parent?.step ?? null,
      dedupeKey: opts.dedupeKey ?? null,
      createdAt: now,
      finishedAt: null,
      updatedAt: now,
      owner: this.o.node ?? null,
    };
    const created = await this.o.repo.createRun(row);
    if (created) {
      this.o.log('info', `workflow '${name}' run ${row.id} started (${String(row.trigger.type)})`, { workflow: name, run: row.id });
      this.kick(row.id);
    }
    return { runId: row.id, created };
  }

  /**
   * Daemon start: picks up the runs that were running when the previous daemon stopped or died —
   * every one on a single daemon; in a cluster the node's own and those of dead nodes (claimed).
   */
  async resume(): Promise<number> {
    const node = this.o.node;
    const all = await this.o.repo.listRuns({ status: 'running', limit: 100_000 });
    if (!node) return this.pickUp(all);
    const claimed = new Set(await this.o.repo.claimRuns(node, true));
    return this.pickUp(all.filter((r) => claimed.has(r.id)));
  }

  /**
   * Cluster, on every periodic tick: adopts the running runs of nodes without a live heartbeat
   * (one conditional UPDATE, so one node adopts each) and continues the runs of this node whose
   * approvals were decided through another node's API. Returns the number of runs adopted.
   */
  async poll(): Promise<number> {
    const node = this.o.node;
    if (!node || this.stopped) return 0;
    const claimed = new Set(await this.o.repo.claimRuns(node, false));
    let adopted = 0;
    if (claimed.size > 0) {
      const runs = (await this.o.repo.listRuns({ status: 'running', limit: 100_000 })).filter((r) => claimed.has(r.id));
      for (const r of runs) this.o.log('warning', `workflow '${r.workflow}' run ${r.id}: its node died; continuing it here`, { workflow: r.workflow, run: r.id });
      adopted = await this.pickUp(runs);
    }
    for (const id of await this.o.repo.takeWoken(node)) this.kick(id);
    return adopted;
  }

  private async pickUp(runs: RunRow[]): Promise<number> {
    const now = this.o.clock.now();
    for (const run of runs) {
      const def = run.definition as WorkflowDef;
      for (const row of await this.o.repo.getSteps(run.id)) {
        if (row.status !== 'running') continue;
        const step = findStep(def, row.step);
        // A for_each parent or a sub-workflow is "running" while its items / child run are.
        if (!step || step.type === 'workflow' || (step.for_each !== undefined && row.itemIndex === null)) continue;
        if (row.pid) killOrphan(row.pid, row.pidStart);
        this.o.log('warning', `workflow '${run.workflow}' run ${run.id}: step ${row.key} was running when the daemon stopped; running it again (at-least-once)`, { workflow: run.workflow, run: run.id, step: row.key });
        await this.o.repo.putStep({ ...row, status: 'pending', pid: null, pidStart: null, nextAt: null, updatedAt: now });
      }
      this.kick(run.id);
    }
    return runs.length;
  }

  async cancel(runId: string, reason = 'cancelled by a user'): Promise<RunRow> {
    return this.locked(runId, async () => {
      const run = await this.mustRun(runId);
      if (run.status !== 'running') throw new ConflictError('run_finished', `run ${runId} already ${run.status}; nothing to cancel`);
      const now = this.o.clock.now();
      await this.o.repo.finishRun(runId, 'cancelled', reason, now);
      for (const row of await this.o.repo.getSteps(runId)) {
        if (TERMINAL_STEP.has(row.status)) continue;
        await this.o.repo.putStep({ ...row, status: 'cancelled', error: reason, finishedAt: now, updatedAt: now });
        this.inflight.get(`${runId}/${row.key}`)?.abort(new Error(reason));
        this.inflight.delete(`${runId}/${row.key}`); // its late result belongs to nobody
        this.clearTimer(`${runId}/${row.key}`);
        const step = findStep(run.definition as WorkflowDef, row.step);
        if (step?.type === 'workflow') await this.cancel(childRunId(runId, row.key), reason).catch(() => undefined);
      }
      const done = { ...run, status: 'cancelled' as const, error: reason, finishedAt: now };
      this.finished(done);
      return done;
    });
  }

  /** Re-runs the failed (and skipped, cancelled) steps of a finished run; `stepId` limits it to that step and what follows it. */
  async retry(runId: string, stepId?: string): Promise<{ runId: string; steps: string[] }> {
    const reset = await this.locked(runId, async () => {
      const run = await this.mustRun(runId);
      if (run.status === 'running') throw new ConflictError('run_running', `run ${runId} is still running; retry applies to a finished run (cancel it first)`);
      if (run.status === 'succeeded' && stepId === undefined) throw new ConflictError('run_succeeded', `run ${runId} succeeded; nothing failed to retry (name a step to re-run it)`);
      const def = run.definition as WorkflowDef;
      const rows = await this.o.repo.getSteps(runId);
      const byStep = new Map<string, StepRow>();
      for (const r of rows) if (r.itemIndex === null) byStep.set(r.step, r);
      let targets: Set<string>;
      if (stepId !== undefined) {
        if (!def.steps.some((s) => s.id === stepId)) throw new NotFoundError('step', stepId, `steps of '${run.workflow}': ${def.steps.map((s) => s.id).join(', ')}`);
        targets = new Set([stepId, ...downstream(def.steps, stepId).filter((id) => byStep.get(id)?.status !== 'succeeded')]);
      } else {
        targets = new Set(def.steps.filter((s) => byStep.get(s.id)?.status !== 'succeeded').map((s) => s.id));
      }
      const drop = rows.filter((r) => r.phase === 'on_failure' || (targets.has(r.step) && (r.itemIndex === null || r.status !== 'succeeded')));
      await this.o.repo.deleteSteps(runId, drop.map((r) => r.key));
      await this.o.repo.finishRun(runId, 'running', null, this.o.clock.now());
      if (this.o.node) await this.o.repo.setOwner(runId, this.o.node); // the node that retries it runs it
      this.o.log('info', `workflow '${run.workflow}' run ${runId}: retrying ${[...targets].join(', ')}`, { workflow: run.workflow, run: runId });
      return [...targets];
    });
    this.kick(runId);
    return { runId, steps: reset };
  }

  /** Approves or rejects a waiting approval gate. `principal` is checked against the step's approvers. */
  async decide(runId: string, stepId: string, approve: boolean, principal: Principal | undefined, comment?: string): Promise<StepRow> {
    const row = await this.locked(runId, async () => {
      const run = await this.mustRun(runId);
      const step = findStep(run.definition as WorkflowDef, stepId);
      if (!step) throw new NotFoundError('step', stepId, `steps of '${run.workflow}': ${(run.definition as WorkflowDef).steps.map((s) => s.id).join(', ')}`);
      if (step.type !== 'approval') throw new ConflictError('not_an_approval', `step '${stepId}' is a ${step.type} step, not an approval gate`);
      const current = (await this.o.repo.getSteps(runId)).find((r) => r.key === stepId);
      if (run.status !== 'running' || current?.status !== 'waiting') {
        throw new ConflictError('not_waiting', `step '${stepId}' of run ${runId} is not waiting for approval (${current ? current.status : 'not reached yet'}${run.status !== 'running' ? `, run ${run.status}` : ''})`);
      }
      const who = principal ?? { id: 'anonymous', role: 'local' as const, team: null };
      if (!mayApprove(step.approvers, who)) {
        throw new OpenClawError('approver_not_allowed', `${who.id} (role ${who.role}${who.team ? `, team ${who.team}` : ''}) may not decide step '${stepId}': approvers are ${step.approvers!.join(', ')}`, { status: 403 });
      }
      const now = this.o.clock.now();
      const next: StepRow = approve
        ? { ...current, status: 'succeeded', output: { approved: true, by: who.id, comment: comment ?? null, at: now }, error: null, finishedAt: now, nextAt: null, decidedBy: who.id, comment: comment ?? null, updatedAt: now }
        : { ...current, status: 'failed', output: { approved: false, by: who.id, comment: comment ?? null, at: now }, error: `rejected by ${who.id}${comment ? `: ${comment}` : ''}`, finishedAt: now, nextAt: null, decidedBy: who.id, comment: comment ?? null, updatedAt: now };
      // Conditional: in a cluster the owner's approval deadline may have decided it meanwhile.
      if (!(await this.o.repo.decideStep(next))) throw new ConflictError('not_waiting', `step '${stepId}' of run ${runId} was decided meanwhile`);
      this.clearTimer(`${runId}/${stepId}`);
      this.o.log('info', `workflow '${run.workflow}' run ${runId}: ${stepId} ${approve ? 'approved' : 'rejected'} by ${who.id}`, { workflow: run.workflow, run: runId, step: stepId });
      return next;
    });
    await this.nudge(runId);
    return row;
  }

  /** Resolves when the run is finished (for tests and `--wait` in process). */
  waitFor(runId: string): Promise<RunRow> {
    return new Promise((resolve) => {
      const list = this.finishWaiters.get(runId) ?? [];
      list.push(resolve);
      this.finishWaiters.set(runId, list);
      void this.o.repo.getRun(runId).then((r) => {
        if (r && r.status !== 'running') this.finished(r);
      });
    });
  }

  /** Daemon stop: executions are abandoned (their rows stay `running` and run again on resume). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    for (const c of this.inflight.values()) c.abort(new Error('daemon stopping'));
    await Promise.allSettled([...this.locks.values()]);
  }

  // ---- the tick ------------------------------------------------------------------------------

  /** Continues a run here when this node runs it, else tells its owner node (store poll). */
  private async nudge(runId: string): Promise<void> {
    const run = this.o.node ? await this.o.repo.getRun(runId) : undefined;
    if (run && run.owner !== this.o.node) await this.o.repo.wake(runId);
    else this.kick(runId);
  }

  private kick(runId: string): void {
    if (this.stopped) return;
    void this.locked(runId, () => this.tick(runId)).catch((err: Error) => this.o.log('error', `workflow run ${runId}: ${err.message}`, { run: runId, stack: err.stack }));
  }

  private locked<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(runId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(runId, settled);
    void settled.then(() => {
      if (this.locks.get(runId) === settled) this.locks.delete(runId);
    });
    return next;
  }

  private async mustRun(runId: string): Promise<RunRow> {
    const run = await this.o.repo.getRun(runId);
    if (!run) throw new NotFoundError('run', runId, 'list runs with `openclaw workflow runs`');
    return run;
  }

  private async tick(runId: string): Promise<void> {
    if (this.stopped) return;
    const run = await this.o.repo.getRun(runId);
    if (!run || run.status !== 'running') return;
    if (this.o.node && run.owner !== this.o.node) return; // another node runs it (adopted it, or never ours)
    const def = run.definition as WorkflowDef;
    const rows = new Map((await this.o.repo.getSteps(runId)).map((r) => [r.key, r]));
    if (!(await this.settle(run, def.steps, 'main', rows))) return;
    const failed = def.steps.filter((s) => rows.get(s.id)?.status === 'failed');
    if (failed.length === 0) return this.finish(run, 'succeeded', null);
    if (def.onFailure.length > 0 && !(await this.settle(run, def.onFailure, 'on_failure', rows))) return;
    const first = rows.get(failed[0].id)!;
    await this.finish(run, 'failed', `step ${failed.map((s) => s.id).join(', ')} failed: ${first.error ?? 'failed'}`);
  }

  /** Advances a phase until a pass changes nothing (a skip can make the next step decidable); true when all are finished. */
  private async settle(run: RunRow, steps: StepDef[], phase: StepRow['phase'], rows: Map<string, StepRow>): Promise<boolean> {
    for (;;) {
      const before = this.writes;
      const done = await this.advance(run, steps, phase, rows);
      if (done || this.writes === before) return done;
    }
  }

  /** Moves the steps of one phase forward; true when all of them are finished. */
  private async advance(run: RunRow, steps: StepDef[], phase: StepRow['phase'], rows: Map<string, StepRow>): Promise<boolean> {
    const now = this.o.clock.now();
    let allDone = true;
    for (const step of steps) {
      const row = rows.get(step.id);
      if (row && TERMINAL_STEP.has(row.status)) continue;
      allDone = false;
      if (row?.status === 'waiting') {
        await this.approvalDeadline(run, step as Extract<StepDef, { type: 'approval' }>, row, rows);
        continue;
      }
      if (row?.status === 'running') {
        if (step.type === 'workflow') await this.checkChild(run, step, row, rows);
        else if (step.for_each !== undefined) await this.fanOut(run, step, row, rows);
        continue;
      }
      // Not started yet, or pending (a retry after backoff, a re-dispatch after a crash).
      const ups = step.needs.map((n) => rows.get(n));
      if (ups.some((u) => !u || !TERMINAL_STEP.has(u.status))) continue;
      if (row?.nextAt && row.nextAt > now) {
        this.armTimer(`${run.id}/${row.key}`, row.nextAt, run.id);
        continue;
      }
      const base: StepRow = row ?? newRow(run.id, step.id, step.id, phase, null, now);
      if (!row) {
        const rule = ruleVerdict(step.trigger_rule, step.needs.map((n) => [n, rows.get(n)!.status] as const));
        if (rule) {
          await this.put(rows, { ...base, status: 'skipped', error: rule, finishedAt: now });
          continue;
        }
        if (step.if !== undefined) {
          let go: boolean;
          try {
            go = evaluateBool(step.if, this.exprContext(run, rows));
          } catch (err) {
            await this.put(rows, { ...base, status: 'failed', error: `if: ${(err as Error).message}`, finishedAt: now });
            continue;
          }
          if (!go) {
            await this.put(rows, { ...base, status: 'skipped', error: `if: ${step.if} is false`, finishedAt: now });
            continue;
          }
        }
      }
      await this.dispatch(run, step, base, rows);
    }
    return allDone;
  }

  private async dispatch(run: RunRow, step: StepDef, row: StepRow, rows: Map<string, StepRow>): Promise<void> {
    const now = this.o.clock.now();
    if (step.type === 'approval') {
      const deadline = now + step.timeout;
      await this.put(rows, { ...row, status: 'waiting', startedAt: now, nextAt: deadline, attempt: 1, input: { message: step.message ?? null, approvers: step.approvers ?? null } });
      this.o.log('info', `workflow '${run.workflow}' run ${run.id}: ${step.id} waits for approval (openclaw approve ${run.id} ${step.id}); default ${step.default} in ${formatDuration(step.timeout)}`, { workflow: run.workflow, run: run.id, step: step.id });
      this.armTimer(`${run.id}/${step.id}`, deadline, run.id);
      return;
    }
    if (step.for_each !== undefined) {
      let items: unknown;
      try {
        items = typeof step.for_each === 'string' ? evaluate(step.for_each, this.exprContext(run, rows)) : renderTemplates(step.for_each, this.exprContext(run, rows));
      } catch (err) {
        return this.put(rows, { ...row, status: 'failed', error: `for_each: ${(err as Error).message}`, startedAt: now, finishedAt: now });
      }
      if (!Array.isArray(items)) return this.put(rows, { ...row, status: 'failed', error: `for_each must give a list, got ${JSON.stringify(items)?.slice(0, 80)}`, startedAt: now, finishedAt: now });
      if (items.length > MAX_FOR_EACH) return this.put(rows, { ...row, status: 'failed', error: `for_each gave ${items.length} items; the limit is ${MAX_FOR_EACH}`, startedAt: now, finishedAt: now });
      const parent = { ...row, status: 'running' as const, startedAt: now, attempt: 1, input: { items } };
      await this.put(rows, parent);
      return this.fanOut(run, step, parent, rows);
    }
    let params: Record<string, unknown>;
    try {
      params = renderParams(step, this.exprContext(run, rows, row.itemIndex === null ? undefined : itemOf(rows, step.id, row.itemIndex)));
    } catch (err) {
      return this.put(rows, { ...row, status: 'failed', error: (err as Error).message, startedAt: now, finishedAt: now });
    }
    if (step.type === 'workflow') {
      const childId = childRunId(run.id, row.key);
      await this.put(rows, { ...row, status: 'running', startedAt: now, attempt: row.attempt + 1, input: params.input ?? null, output: { run: childId }, error: null });
      const existing = await this.o.repo.getRun(childId);
      if (existing && existing.status !== 'running' && existing.status !== 'succeeded') await this.retry(childId).catch(() => undefined);
      else if (!existing) {
        try {
          const trace = typeof run.trigger.traceparent === 'string' ? { traceparent: run.trigger.traceparent } : {};
          await this.start(step.workflow, params.input ?? {}, { id: childId, parent: { run: run.id, step: row.key }, trigger: { type: 'workflow', run: run.id, step: row.key, ...trace } });
        } catch (err) {
          return this.put(rows, { ...row, status: 'failed', error: `sub-workflow: ${(err as Error).message}`, finishedAt: this.o.clock.now() });
        }
      }
      return this.checkChild(run, step, rows.get(row.key)!, rows);
    }
    // shell, http, llm, agent: the row says running (committed) before anything runs.
    const started: StepRow = { ...row, status: 'running', attempt: row.attempt + 1, startedAt: now, finishedAt: null, nextAt: null, input: params, error: null, pid: null, pidStart: null };
    await this.put(rows, started);
    this.launch(run, step, started, params);
  }

  private launch(run: RunRow, step: StepDef, row: StepRow, params: Record<string, unknown>): void {
    const key = `${run.id}/${row.key}`;
    const ctl = new AbortController();
    this.inflight.set(key, ctl);
    const timeoutMs = step.timeout ?? DEFAULT_STEP_TIMEOUT_MS;
    const timer = setTimeout(() => ctl.abort(new Error(`timed out after ${formatDuration(timeoutMs)}`)), timeoutMs);
    timer.unref();
    const fields = { workflow: run.workflow, run: run.id, step: row.key, attempt: row.attempt };
    this.o.log('info', `workflow '${run.workflow}' run ${run.id}: ${row.key} started (attempt ${row.attempt})`, fields);
    const t0 = Date.now();
    const exec: ExecContext = {
      signal: ctl.signal,
      root: this.o.root,
      workflow: run.workflow,
      runId: run.id,
      stepKey: row.key,
      services: this.o.services,
      attempt: row.attempt,
      network: this.o.network,
      deadlineMs: timeoutMs,
      callAgent: this.o.callAgent,
      onSpawn: async (pid, startTime) => {
        await this.locked(run.id, async () => {
          const cur = (await this.o.repo.getSteps(run.id)).find((r) => r.key === row.key);
          if (cur?.status === 'running' && cur.attempt === row.attempt) await this.o.repo.putStep({ ...cur, pid, pidStart: startTime, updatedAt: this.o.clock.now() });
        });
      },
    };
    // Each step is a span of the run's trace (agent calls in it are its children).
    const tp = run.trigger.traceparent;
    const executing =
      tracingEnabled() && typeof tp === 'string'
        ? withSpan('openclaw.workflow.step', { 'openclaw.workflow': run.workflow, 'openclaw.workflow.run_id': run.id, 'openclaw.workflow.step': row.key, 'openclaw.workflow.attempt': row.attempt }, () => execute(step, params, exec), { parent: contextFromTraceparent(tp) })
        : execute(step, params, exec);
    void executing.then(
      (output) => this.completed(run, step, row, ctl, { ok: true, output }, (Date.now() - t0) / 1000),
      (err: unknown) =>
        this.completed(run, step, row, ctl, { ok: false, error: err instanceof Error ? err.message : String(err), output: err instanceof StepFailure ? err.output : undefined, final: err instanceof StepFailure && err.final }, (Date.now() - t0) / 1000),
    ).finally(() => {
      clearTimeout(timer);
      if (this.inflight.get(key) === ctl) this.inflight.delete(key);
    });
  }

  private async completed(run: RunRow, step: StepDef, row: StepRow, ctl: AbortController, result: { ok: true; output: unknown } | { ok: false; error: string; output?: unknown; final?: boolean }, seconds: number): Promise<void> {
    if (this.stopped) return; // abandoned: the row stays running and runs again after restart
    await this.locked(run.id, async () => {
      // Cancelled meanwhile, or the run was retried/reset: this result belongs to nobody.
      if (this.inflight.get(`${run.id}/${row.key}`) !== ctl) return;
      const cur = (await this.o.repo.getSteps(run.id)).find((r) => r.key === row.key);
      if (!cur || cur.status !== 'running' || cur.attempt !== row.attempt) return;
      if (this.o.node && (await this.o.repo.getRun(run.id))?.owner !== this.o.node) return; // adopted by another node meanwhile
      const now = this.o.clock.now();
      const fields = { workflow: run.workflow, run: run.id, step: row.key, attempt: row.attempt };
      this.o.metrics?.stepDuration.observe({ workflow: run.workflow, step: step.id }, seconds);
      if (result.ok) {
        await this.o.repo.putStep({ ...cur, status: 'succeeded', output: result.output ?? null, error: null, finishedAt: now, pid: null, pidStart: null, updatedAt: now });
        this.o.log('info', `workflow '${run.workflow}' run ${run.id}: ${row.key} succeeded in ${seconds.toFixed(2)}s`, fields);
      } else {
        const attempts = step.retry?.attempts ?? 1;
        if (cur.attempt < attempts && !result.final) {
          const r = step.retry!;
          const delay = Math.min(r.max_delay, r.backoff === 'fixed' ? r.delay : r.delay * 2 ** (cur.attempt - 1));
          await this.o.repo.putStep({ ...cur, status: 'pending', output: result.output ?? null, error: result.error, nextAt: now + delay, pid: null, pidStart: null, updatedAt: now });
          this.o.log('warning', `workflow '${run.workflow}' run ${run.id}: ${row.key} failed (attempt ${cur.attempt}/${attempts}): ${result.error}; retrying in ${formatDuration(delay)}`, fields);
        } else {
          await this.o.repo.putStep({ ...cur, status: 'failed', output: result.output ?? null, error: result.error, finishedAt: now, pid: null, pidStart: null, updatedAt: now });
          const why = result.final && cur.attempt < attempts ? ' (not retried: another attempt cannot succeed)' : attempts > 1 ? ` after ${cur.attempt} attempts` : '';
          this.o.log('error', `workflow '${run.workflow}' run ${run.id}: ${row.key} failed${why}: ${result.error}`, fields);
        }
      }
      await this.tick(run.id);
    });
  }

  private async fanOut(run: RunRow, step: StepDef, parent: StepRow, rows: Map<string, StepRow>): Promise<void> {
    const items = ((parent.input as { items?: unknown[] } | null)?.items ?? []) as unknown[];
    const now = this.o.clock.now();
    const kids = items.map((_, i) => rows.get(`${step.id}[${i}]`));
    let slots = step.max_parallel - kids.filter((k) => k?.status === 'running').length;
    for (let i = 0; i < items.length && slots > 0; i++) {
      const k = kids[i];
      if (k && k.status !== 'pending') continue;
      slots--;
      if (k?.nextAt && k.nextAt > now) {
        this.armTimer(`${run.id}/${k.key}`, k.nextAt, run.id);
        continue;
      }
      const child = k ?? newRow(run.id, `${step.id}[${i}]`, step.id, parent.phase, i, now);
      rows.set(child.key, child);
      await this.dispatch(run, { ...step, for_each: undefined } as StepDef, child, rows);
    }
    const done = items.map((_, i) => rows.get(`${step.id}[${i}]`));
    if (done.every((k) => k && TERMINAL_STEP.has(k.status))) {
      const failed = done.filter((k) => k!.status !== 'succeeded');
      const output = done.map((k) => k!.output);
      await this.put(rows, failed.length === 0
        ? { ...parent, status: 'succeeded', output, error: null, finishedAt: now }
        : { ...parent, status: 'failed', output, error: `${failed.length} of ${items.length} items failed; first: ${failed[0]!.key}: ${failed[0]!.error}`, finishedAt: now });
    }
  }

  private async checkChild(run: RunRow, step: StepDef, row: StepRow, rows: Map<string, StepRow>): Promise<void> {
    const child = await this.o.repo.getRun(childRunId(run.id, row.key));
    if (!child || child.status === 'running') return;
    const now = this.o.clock.now();
    const outputs: Record<string, unknown> = {};
    for (const s of await this.o.repo.getSteps(child.id)) if (s.itemIndex === null && s.status === 'succeeded') outputs[s.step] = s.output;
    await this.put(rows, child.status === 'succeeded'
      ? { ...row, status: 'succeeded', output: { run: child.id, steps: outputs }, error: null, finishedAt: now }
      : { ...row, status: 'failed', output: { run: child.id, steps: outputs }, error: `sub-workflow ${child.workflow} run ${child.id} ${child.status}: ${child.error ?? ''}`, finishedAt: now });
  }

  private async approvalDeadline(run: RunRow, step: Extract<StepDef, { type: 'approval' }>, row: StepRow, rows: Map<string, StepRow>): Promise<void> {
    const now = this.o.clock.now();
    if (row.nextAt === null || row.nextAt > now) {
      if (row.nextAt !== null) this.armTimer(`${run.id}/${row.key}`, row.nextAt, run.id);
      return;
    }
    const by = `timeout (default ${step.default})`;
    await this.put(rows, step.default === 'approve'
      ? { ...row, status: 'succeeded', output: { approved: true, by, comment: null, at: now }, decidedBy: by, finishedAt: now, nextAt: null }
      : { ...row, status: 'failed', output: { approved: false, by, comment: null, at: now }, decidedBy: by, error: `no decision within ${formatDuration(step.timeout)}; default outcome: reject`, finishedAt: now, nextAt: null });
    this.o.log('warning', `workflow '${run.workflow}' run ${run.id}: ${row.key} not decided within ${formatDuration(step.timeout)}: ${step.default === 'approve' ? 'approved' : 'rejected'} by default`, { workflow: run.workflow, run: run.id, step: row.key });
  }

  private async put(rows: Map<string, StepRow>, row: StepRow): Promise<void> {
    this.writes++;
    const next = { ...row, updatedAt: this.o.clock.now() };
    await this.o.repo.putStep(next);
    rows.set(next.key, next);
  }

  private async finish(run: RunRow, status: RunStatus, error: string | null): Promise<void> {
    const now = this.o.clock.now();
    await this.o.repo.finishRun(run.id, status, error, now);
    this.o.metrics?.runs.inc({ workflow: run.workflow, status });
    this.o.log(status === 'succeeded' ? 'info' : 'error', `workflow '${run.workflow}' run ${run.id} ${status}${error ? `: ${error}` : ''}`, { workflow: run.workflow, run: run.id });
    this.finished({ ...run, status, error, finishedAt: now });
  }

  private finished(run: RunRow): void {
    if (run.parentRun) void this.nudge(run.parentRun).catch((err: Error) => this.o.log('error', `workflow run ${run.parentRun}: ${err.message}`));
    const waiters = this.finishWaiters.get(run.id);
    this.finishWaiters.delete(run.id);
    for (const w of waiters ?? []) w(run);
  }

  private armTimer(key: string, at: number, runId: string): void {
    const t = this.timers.get(key);
    if (t && t.at === at) return;
    t?.cancel();
    const cancel = this.o.clock.setTimer(() => {
      this.timers.delete(key);
      this.kick(runId);
    }, Math.max(0, at - this.o.clock.now()));
    this.timers.set(key, { at, cancel });
  }

  private clearTimer(key: string): void {
    this.timers.get(key)?.cancel();
    this.timers.delete(key);
  }

  private exprContext(run: RunRow, rows: Map<string, StepRow>, item?: { item: unknown; index: number }): ExprContext {
    const steps: ExprContext['steps'] = {};
    for (const r of rows.values()) if (r.itemIndex === null) steps[r.step] = { status: r.status, output: r.output ?? null };
    return { inputs: run.input, trigger: run.trigger, steps, ...(item ?? {}) };
  }
}

// ---- pure helpers ------------------------------------------------------------------------------

function newRow(runId: string, key: string, step: string, phase: StepRow['phase'], itemIndex: number | null, now: number): StepRow {
  return { runId, key, step, phase, itemIndex, status: 'pending', attempt: 0, input: null, output: null, error: null, startedAt: null, finishedAt: null, nextAt: null, pid: null, pidStart: null, decidedBy: null, comment: null, updatedAt: now };
}

export function childRunId(runId: string, stepKey: string): string {
  return `${runId}.${stepKey}`;
}

function findStep(def: WorkflowDef, id: string): StepDef | undefined {
  return def.steps.find((s) => s.id === id) ?? def.onFailure.find((s) => s.id === id);
}

function itemOf(rows: Map<string, StepRow>, stepId: string, index: number): { item: unknown; index: number } {
  const items = ((rows.get(stepId)?.input as { items?: unknown[] } | null)?.items ?? []) as unknown[];
  return { item: items[index] ?? null, index };
}

const NOT_PARAMS = new Set(['id', 'type', 'description', 'needs', 'if', 'trigger_rule', 'retry', 'timeout', 'for_each', 'max_parallel']);

function renderParams(step: StepDef, ctx: ExprContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(step)) {
    if (NOT_PARAMS.has(k)) continue;
    try {
      out[k] = renderTemplates(v, ctx);
    } catch (err) {
      throw new Error(`${k}: ${(err as Error).message}`);
    }
  }
  return out;
}

function mergeInput(defaults: Record<string, unknown>, input: unknown): unknown {
  if (input === undefined || input === null) return { ...defaults };
  if (typeof input === 'object' && !Array.isArray(input)) return { ...defaults, ...(input as Record<string, unknown>) };
  return input;
}

/** Why a step's trigger rule is NOT met by its upstream statuses (null = met). */
export function ruleVerdict(rule: TriggerRule, ups: ReadonlyArray<readonly [string, StepStatus]>): string | null {
  if (ups.length === 0) return null;
  const with_ = (st: StepStatus) => ups.filter(([, s]) => s === st).map(([id]) => id);
  switch (rule) {
    case 'all_success': {
      const not = ups.filter(([, s]) => s !== 'succeeded');
      return not.length === 0 ? null : `trigger rule all_success: ${not.map(([id, s]) => `${id} ${s}`).join(', ')}`;
    }
    case 'all_done':
      return null;
    case 'all_failed':
      return ups.every(([, s]) => s === 'failed') ? null : `trigger rule all_failed: ${ups.filter(([, s]) => s !== 'failed').map(([id, s]) => `${id} ${s}`).join(', ')}`;
    case 'one_failed':
      return with_('failed').length > 0 ? null : 'trigger rule one_failed: no upstream step failed';
    case 'one_success':
      return with_('succeeded').length > 0 ? null : 'trigger rule one_success: no upstream step succeeded';
    case 'none_failed':
      return with_('failed').length === 0 ? null : `trigger rule none_failed: ${with_('failed').join(', ')} failed`;
  }
}

/** Every step that (transitively) needs `id`. */
export function downstream(steps: StepDef[], id: string): string[] {
  const out = new Set<string>();
  const visit = (x: string) => {
    for (const s of steps) if (s.needs.includes(x) && !out.has(s.id)) {
      out.add(s.id);
      visit(s.id);
    }
  };
  visit(id);
  return [...out];
}

/**
 * `approvers` entries: `admin`, `role:admin`, `finance`, `team:finance` (a bare name matches a
 * role or a team). An admin without a team (a project-wide admin) always may; a team admin is
 * scoped to its team like every team token (docs/api.md, Teams), so it may only when the list names
 * its team or its role.
 */
export function mayApprove(approvers: string[] | undefined, p: Principal): boolean {
  if (!approvers || approvers.length === 0) return true;
  if (p.role === 'admin' && p.team === null) return true;
  return approvers.some((a) => {
    if (a.startsWith('role:')) return p.role === a.slice(5);
    if (a.startsWith('team:')) return p.team === a.slice(5);
    return p.role === a || p.team === a;
  });
}

/**
 * The run's trace (tracing on): a span marks its start — a child of the trigger's trace when it
 * carries one (the event that triggered it, the parent run of a sub-workflow) — and its traceparent
 * is kept in the run's trigger, so every step, also after a restart, continues one trace.
 */
function runTrace(trigger: Record<string, unknown>, workflow: string, runId: string): Record<string, unknown> {
  const parent = typeof trigger.traceparent === 'string' ? trigger.traceparent : null;
  const tp = markSpan('openclaw.workflow.run', { 'openclaw.workflow': workflow, 'openclaw.workflow.run_id': runId, 'openclaw.trigger': String(trigger.type) }, parent);
  return tp ? { ...trigger, traceparent: tp } : trigger;
}
