// A run is a transaction: an invocation's buffered writes, its emitted events (the outbox), the
// acknowledgement of the delivery that triggered it and its run record commit in ONE store
// transaction. A thrown error or a crash discards the buffer; the trigger is delivered again.
import { uuidv7 } from '../util/ids.js';
import type { InstanceHandle } from '../runtime/types.js';
import type { Invocation, InvocationResult, RunIntent, SerializedError } from '../runtime/protocol.js';
import {
  SHARED_NAMESPACE,
  type CommitResult,
  type LeaseFence,
  type NewEvent,
  type RunRecord,
  type RunTrigger,
  type StateRead,
  type StateWrite,
  type Store,
  type TxEffect,
} from '../store/types.js';
import { FencedError, OpenClawError, StateConflictError } from '../util/errors.js';
import { SpanStatusCode } from '@opentelemetry/api';
import type { CoreMetrics } from '../observability/metrics.js';
import { activeTraceIds, contextFromTraceparent, traceparent, tracer, tracingEnabled, withSpan } from '../observability/tracing.js';

/** The committed version of each namespace, so workers can keep read caches honest. */
export class NamespaceVersions {
  private readonly versions = new Map<string, number>();
  constructor(private readonly store: Store) {}

  async load(namespaces: string[]): Promise<void> {
    for (const ns of namespaces) this.versions.set(ns, await this.store.namespaceVersion(ns));
  }

  get(ns: string): number {
    return this.versions.get(ns) ?? 0;
  }

  apply(result: Pick<CommitResult, 'versions'>): void {
    for (const [ns, v] of Object.entries(result.versions)) {
      if (v > (this.versions.get(ns) ?? 0)) this.versions.set(ns, v);
    }
  }

  set(ns: string, v: number): void {
    this.versions.set(ns, v);
  }

  /**
   * After a conflict: the namespace moved without this daemon committing it (another node of the
   * fleet, sharing the store). Re-read its version, so the retry's workers drop their read cache
   * instead of reading the same stale value and conflicting again without end.
   */
  async refresh(ns: string): Promise<void> {
    const v = await this.store.namespaceVersion(ns);
    if (v > (this.versions.get(ns) ?? 0)) this.versions.set(ns, v);
  }

  /** Commits of each instance's runs not yet told to its worker (see Invocation.commits). */
  private readonly unsent = new Map<string, Array<{ runId: string; versions: Record<string, number> }>>();

  noteCommit(instanceId: string, runId: string, versions: Record<string, number>): void {
    if (Object.keys(versions).length === 0) return;
    let list = this.unsent.get(instanceId);
    if (!list) this.unsent.set(instanceId, (list = []));
    list.push({ runId, versions });
    // A worker that is not invoked for a long time loses the oldest: it then reads them by RPC.
    if (list.length > 256) list.shift();
  }

  takeCommits(instanceId: string): Array<{ runId: string; versions: Record<string, number> }> | undefined {
    const list = this.unsent.get(instanceId);
    if (!list) return undefined;
    this.unsent.delete(instanceId);
    return list;
  }

  /** Versions an agent's worker needs: its own namespace and the shared one. */
  forAgent(agent: string): Record<string, number> {
    return { [agent]: this.get(agent), [SHARED_NAMESPACE]: this.get(SHARED_NAMESPACE) };
  }
}

export interface RunOutcome {
  runId: string;
  ok: boolean;
  /** The agent's own error (thrown in setup/run/handler), or a commit failure. */
  error?: SerializedError;
  /** True when the commit lost an optimistic-concurrency race: retry the trigger. */
  conflict?: boolean;
  /** True when the instance died during the invocation. */
  instanceGone?: boolean;
  /** True when admitCommit refused: the agent finished but nothing was committed. */
  discarded?: boolean;
  /** True when the cluster fence refused the commit: the instance's lease moved to another node. */
  fenced?: boolean;
  result?: InvocationResult;
  commit?: CommitResult;
  startedAt: number;
  finishedAt: number;
}

export interface RunContext {
  store: Store;
  versions: NamespaceVersions;
  now: () => number;
  agent: string;
  maxStateSizeBytes: number;
  /** Per value / per event payload, JSON bytes (resources.max_state_value_size / max_event_size). */
  maxValueBytes?: number;
  maxEventBytes?: number;
  /** Called after a commit that published events, with the names published. */
  onPublished: (eventNames: string[]) => void;
  /** Replaces secret values in what is about to be stored (state, events, errors). */
  redact?: <T>(value: T) => T;
  /** After a successful commit: what was written and emitted (for the audit log). */
  onCommitted?: (info: { writes: StateWrite[]; emits: NewEvent[]; result: CommitResult; runId: string | null; reason?: string }) => void;
  /** Guardrails (output validators, agent-wide rate limits): may rewrite the emits, throws to fail the commit. */
  beforeCommit?: <B extends { writes: StateWrite[]; emits: Array<{ id: string; name: string; data: unknown }> }>(agent: string, buf: B) => B;
  /** Run, event and emit counters (the daemon's registry). */
  metrics?: CoreMetrics;
  /**
   * Turns a run's intents (`this.jobs.enqueue` …) into effects of its commit; registered by daemon
   * modules (ModuleContext.intent). An intent of a kind nobody handles fails the commit.
   */
  intents?: (intents: RunIntent[], caller: { agent: string; runId: string | null }) => TxEffect[];
  /** Called after a commit, with the intents it committed (wake-ups: a job queue's workers). */
  onIntentsCommitted?: (intents: RunIntent[]) => void;
  /** Cluster leases (src/cluster): every commit of an instance's run is conditional on its lease. */
  fence?: FenceSource;
}

/** Where a run's commit gets the lease it is conditional on, and reports what became of it. */
export interface FenceSource {
  /** The instance's current lease; null when not fenced (a single daemon). */
  of(instanceId: string): LeaseFence | null;
  /** One fenced commit attempt: accepted, refused by the fence, or failed otherwise (a conflict…). */
  settled(instanceId: string, result: 'accepted' | 'fenced' | 'failed'): void;
}

type CommitExtra = {
  run?: RunRecord;
  ack?: { deliveryId: number; leaseToken: string };
  reason?: string;
  runId?: string | null;
  effects?: TxEffect[];
  instanceId?: string;
  /** The lease taken when the run started (a later lease of the same instance must not admit it). */
  fence?: LeaseFence | null;
  /** Otherwise the instance whose current lease fences the commit (a checkpoint). */
  fenceInstance?: string;
};

/**
 * Records a run outside a commit (failed, missed, skipped), fenced like a commit: a node that
 * lost the instance's lease records nothing (the run belongs to the new owner now). True when
 * the record was written (always, on a single daemon).
 */
export async function recordRunFenced(ctx: RunContext, run: RunRecord, instanceId: string | null, startFence?: LeaseFence | null, effects?: TxEffect[]): Promise<boolean> {
  const fence = startFence !== undefined ? startFence : instanceId ? ctx.fence?.of(instanceId) : null;
  // With effects (a schedule fire's ledger row to close), the record goes through the group commit
  // with them: many fires recorded missed in one tick share one transaction instead of two each.
  // A failed record leaves the fire open for the next start's recovery.
  if (!fence && !effects) return ctx.store.recordRun(run).then(() => true, () => true);
  return ctx.store.commitRun({ writes: [], reads: [], emits: [], run, ...(fence ? { fence } : {}), ...(effects ? { effects } : {}) }).then(
    () => (fence && ctx.fence?.settled(instanceId!, 'accepted'), true),
    (err) => (fence && ctx.fence?.settled(instanceId!, err instanceof FencedError ? 'fenced' : 'failed'), !(err instanceof FencedError)),
  );
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, stack: err.stack, code: (err as { code?: string }).code };
  }
  return { name: 'Error', message: String(err) };
}

/** Only the agent's own namespace and the shared one are writable from agent code. */
function checkWrites(agent: string, writes: StateWrite[]): void {
  for (const w of writes) {
    if (w.namespace !== agent && w.namespace !== SHARED_NAMESPACE) {
      throw new OpenClawError('state_forbidden', `agent '${agent}' may not write the state of '${w.namespace}' (other agents' state is read-only)`, { status: 403 });
    }
  }
}

export function toEvents(agent: string | null, emits: Array<{ id: string; name: string; data: unknown; key?: string }>, now: number, runId: string | null = null): NewEvent[] {
  // Events carry the trace of the run that emitted them (tracing on): handling one continues it.
  const on = tracingEnabled();
  const traceId = on ? (activeTraceIds()?.traceId ?? null) : null;
  const tp = on ? (traceparent() ?? null) : null;
  return emits.map((e) => ({ id: e.id, name: e.name, payload: e.data ?? null, source: agent, createdAt: now, traceId, traceparent: tp, ...(e.key ? { key: e.key } : {}), ...(runId ? { runId } : {}) }));
}

/** Commits a buffer (a finished run or a checkpoint). */
export async function commitBuffer(
  ctx: RunContext,
  buf: { writes: StateWrite[]; reads: StateRead[]; emits: Array<{ id: string; name: string; data: unknown }>; intents?: RunIntent[] },
  extra: CommitExtra,
): Promise<CommitResult> {
  checkSizes(buf, ctx);
  if (ctx.redact) buf = redactBuffer(buf, ctx.redact);
  checkWrites(ctx.agent, buf.writes);
  if (ctx.beforeCommit) buf = ctx.beforeCommit(ctx.agent, buf);
  if (!tracingEnabled()) {
    const result = await commitEmits(ctx, buf, toEvents(ctx.agent, buf.emits, ctx.now(), extra.runId ?? extra.run?.id ?? null), extra);
    ctx.metrics?.emitted(ctx.agent, result.published);
    return result;
  }
  const attrs = { 'openclaw.agent': ctx.agent, 'openclaw.state.writes': buf.writes.length, 'openclaw.events.emitted': buf.emits.length };
  return withSpan('openclaw.state.commit', attrs, async () => {
    const emits = toEvents(ctx.agent, buf.emits, ctx.now(), extra.runId ?? extra.run?.id ?? null);
    // One span per emitted event, a child of the commit, ending when the event is durably published.
    const spans = emits.map((e) => tracer().startSpan('openclaw.emit', { attributes: { 'openclaw.agent': ctx.agent, 'openclaw.event.name': e.name, 'openclaw.event.id': e.id } }));
    try {
      const result = await commitEmits(ctx, buf, emits, extra);
      ctx.metrics?.emitted(ctx.agent, result.published);
      return result;
    } catch (err) {
      for (const sp of spans) sp.setStatus({ code: SpanStatusCode.ERROR, message: 'not published: the commit failed' });
      throw err;
    } finally {
      for (const sp of spans) sp.end();
    }
  });
}

async function commitEmits(
  ctx: RunContext,
  buf: { writes: StateWrite[]; reads: StateRead[]; intents?: RunIntent[] },
  emits: NewEvent[],
  extra: CommitExtra,
): Promise<CommitResult> {
  const intents = buf.intents ?? [];
  const effects = [...(extra.effects ?? [])];
  if (intents.length > 0) {
    if (!ctx.intents) throw new OpenClawError('intent_unsupported', `the run used ${[...new Set(intents.map((i) => i.kind))].join(', ')}, which this daemon does not serve (is the module enabled?)`);
    effects.push(...ctx.intents(intents, { agent: ctx.agent, runId: extra.runId ?? extra.run?.id ?? null }));
  }
  const fenceInstance = extra.fenceInstance ?? extra.instanceId;
  const fence = extra.fence !== undefined ? extra.fence : fenceInstance ? ctx.fence?.of(fenceInstance) : null;
  let result: CommitResult;
  try {
    result = await ctx.store.commitRun({
      writes: buf.writes,
      reads: buf.reads,
      emits,
      ack: extra.ack,
      run: extra.run,
      maxStateSize: { [ctx.agent]: ctx.maxStateSizeBytes },
      reason: extra.reason,
      runId: extra.runId ?? extra.run?.id ?? null,
      ...(effects.length > 0 ? { effects } : {}),
      ...(fence ? { fence } : {}),
    });
  } catch (err) {
    if (fence) ctx.fence?.settled(fenceInstance!, err instanceof FencedError ? 'fenced' : 'failed');
    throw err;
  }
  if (fence) ctx.fence?.settled(fenceInstance!, 'accepted');
  ctx.versions.apply(result);
  const runId = extra.runId ?? extra.run?.id;
  if (extra.instanceId && runId) ctx.versions.noteCommit(extra.instanceId, runId, result.versions);
  if (result.published > 0) ctx.onPublished([...new Set(emits.map((e) => e.name))]);
  ctx.onCommitted?.({ writes: buf.writes, emits, result, runId: extra.runId ?? extra.run?.id ?? null, reason: extra.reason });
  if (intents.length > 0) ctx.onIntentsCommitted?.(intents);
  return result;
}

/** Commit conflicts re-run a trigger at once this many times (events, calls, scheduled runs). */
export const MAX_CONFLICT_RETRIES = 20;

export const DEFAULT_MAX_VALUE_BYTES = 4 * 1024 ** 2;
export const DEFAULT_MAX_EVENT_BYTES = 1024 ** 2;

/** JSON size of a value, stopping early: a short string or number needs no serialising. */
function jsonBytes(v: unknown): number {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return 8;
  if (typeof v === 'string' && v.length < 1024) return v.length * 3;
  return Buffer.byteLength(JSON.stringify(v) ?? '');
}

/** A state value or an event over its limit fails the run with a message that says what to change. */
function checkSizes(buf: { writes: StateWrite[]; emits: Array<{ name: string; data: unknown }> }, ctx: Pick<RunContext, 'agent' | 'maxValueBytes' | 'maxEventBytes'>): void {
  const maxValue = ctx.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const maxEvent = ctx.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  for (const w of buf.writes) {
    const n = w.value === undefined ? 0 : jsonBytes(w.value);
    if (n > maxValue) {
      throw new OpenClawError('value_too_large', `agent '${ctx.agent}': state key '${w.key}' is ${n} bytes as JSON, over the limit of ${maxValue}; store large data elsewhere, or raise resources.max_state_value_size`, { status: 413 });
    }
  }
  for (const e of buf.emits) {
    const n = jsonBytes(e.data);
    if (n > maxEvent) {
      throw new OpenClawError('event_too_large', `agent '${ctx.agent}': event '${e.name}' is ${n} bytes as JSON, over the limit of ${maxEvent}; send a reference instead, or raise resources.max_event_size`, { status: 413 });
    }
  }
}

/** Secret values in state keys and values and in event payloads become `[REDACTED:NAME]`. */
function redactBuffer<B extends { writes: StateWrite[]; emits: Array<{ id: string; name: string; data: unknown }> }>(buf: B, redact: <T>(v: T) => T): B {
  const writes = buf.writes.map((w) => {
    const key = redact(w.key);
    const value = redact(w.value);
    return key === w.key && value === w.value ? w : { ...w, key, value };
  });
  const emits = buf.emits.map((e) => {
    const data = redact(e.data);
    return data === e.data ? e : { ...e, data };
  });
  return { ...buf, writes, emits };
}

export interface ExecuteOptions {
  trigger: RunTrigger;
  kind: Invocation['kind'];
  method?: string;
  event?: Invocation['event'];
  /** The traceparent this run continues (the span that emitted the event it handles). */
  parentTrace?: string | null;
  payload?: unknown;
  /** For 'call': the method's second argument (a job's id and attempt, …). */
  meta?: unknown;
  scheduledAt?: number | null;
  deadlineMs?: number;
  ack?: { deliveryId: number; leaseToken: string };
  /** Whether to write a run record (setup/teardown are not counted as runs). */
  record: boolean;
  runId?: string;
  /**
   * Subsystem work committed in the run's transaction (a job's completion); a throw aborts it. A
   * function gets the 'call' method's return value (a job's result, a step's output).
   */
  effects?: TxEffect[] | ((value: unknown) => TxEffect[]);
  /**
   * Asked once the agent returned, before the commit: false discards the run (a call that timed
   * out or was cancelled meanwhile must not commit). Once it returns true the commit goes ahead.
   */
  admitCommit?: () => boolean;
}

/**
 * Invokes agent code in its isolate and commits what it did. Never throws: the outcome says
 * whether the agent failed, the commit conflicted or the instance died.
 */
export async function executeRun(ctx: RunContext, instance: InstanceHandle, opts: ExecuteOptions): Promise<RunOutcome> {
  const runId = opts.runId ?? uuidv7();
  // Tracing off: no span, no attributes, no parent context — only the run and its counters.
  if (!tracingEnabled()) return countRun(ctx, opts, await invokeAndCommit(ctx, instance, opts, runId));
  const attrs: Record<string, string | number> = { 'openclaw.agent': ctx.agent, 'openclaw.instance': instance.instanceId, 'openclaw.run_id': runId, 'openclaw.trigger': opts.trigger, 'openclaw.invocation': opts.kind };
  if (opts.event) Object.assign(attrs, { 'openclaw.event.name': opts.event.name, 'openclaw.event.id': opts.event.id, 'openclaw.event.attempt': opts.event.attempt });
  return withSpan(opts.kind === 'event' ? 'openclaw.event' : `openclaw.${opts.kind}`, attrs, async (span) => {
    const outcome = await invokeAndCommit(ctx, instance, opts, runId);
    if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.conflict ? 'state conflict' : outcome.error?.message });
    if (outcome.conflict) span.setAttribute('openclaw.conflict', true);
    return countRun(ctx, opts, outcome);
  }, opts.parentTrace ? { parent: contextFromTraceparent(opts.parentTrace) } : {});
}

function countRun(ctx: RunContext, opts: ExecuteOptions, outcome: RunOutcome): RunOutcome {
  if (opts.record && !outcome.conflict) {
    ctx.metrics?.run(ctx.agent, outcome.ok, Math.max(0, outcome.finishedAt - outcome.startedAt) / 1000);
    if (outcome.ok && opts.ack) ctx.metrics?.consumed(ctx.agent);
  }
  return outcome;
}

/**
 * The lease an instance incarnation runs under: bound at its first invocation (setup(), right
 * after it was started on this node), kept for all its runs and retries. If the node loses the
 * lease — even if it takes the instance again later (a new incarnation, a new epoch) — nothing
 * this incarnation still runs commits.
 */
const incarnationFences = new WeakMap<InstanceHandle, LeaseFence | null>();
function fenceOf(ctx: RunContext, instance: InstanceHandle): LeaseFence | null {
  if (!ctx.fence) return null;
  let f = incarnationFences.get(instance);
  if (f === undefined) incarnationFences.set(instance, (f = ctx.fence.of(instance.instanceId)));
  return f;
}

async function invokeAndCommit(ctx: RunContext, instance: InstanceHandle, opts: ExecuteOptions, runId: string): Promise<RunOutcome> {
  const startedAt = ctx.now();
  const fence = fenceOf(ctx, instance);
  let result: InvocationResult;
  try {
    result = await instance.invoke({
      runId,
      kind: opts.kind,
      method: opts.method,
      event: opts.event,
      payload: opts.payload,
      ...(opts.meta !== undefined ? { meta: opts.meta } : {}),
      scheduledAt: opts.scheduledAt ?? null,
      versions: ctx.versions.forAgent(ctx.agent),
      commits: ctx.versions.takeCommits(instance.instanceId),
      deadlineMs: opts.deadlineMs,
      traceparent: traceparent(),
    });
  } catch (err) {
    return { runId, ok: false, instanceGone: true, error: serializeError(err), startedAt, finishedAt: ctx.now() };
  }
  // An agent's error message is stored and shown: no secret value in it.
  if (!result.ok && result.error && ctx.redact) result = { ...result, error: ctx.redact(result.error) };
  const finishedAt = ctx.now();
  const record = (status: RunRecord['status'], error: string | null): RunRecord | undefined =>
    opts.record
      ? {
          id: runId,
          agent: ctx.agent,
          instance: instance.instanceId,
          trigger: opts.trigger,
          status,
          scheduledAt: opts.scheduledAt ?? null,
          startedAt,
          finishedAt,
          error,
          reason: null,
          eventId: opts.event?.id ?? null,
        }
      : undefined;

  if (!result.ok) {
    const run = record('failed', result.error ? `${result.error.name}: ${result.error.message}` : 'failed');
    if (run) await recordRunFenced(ctx, run, instance.instanceId, fence);
    return { runId, ok: false, error: result.error, result, startedAt, finishedAt };
  }
  if (opts.admitCommit && !opts.admitCommit()) {
    return { runId, ok: false, discarded: true, error: { name: 'RunDiscarded', message: 'the run finished after it was cancelled or timed out; nothing was committed', code: 'run_discarded' }, result, startedAt, finishedAt };
  }
  try {
    const effects = typeof opts.effects === 'function' ? opts.effects(result.value) : opts.effects;
    const commit = await commitBuffer(ctx, result, { run: record('succeeded', null), ack: opts.ack, runId, effects, instanceId: instance.instanceId, fence });
    return { runId, ok: true, result, commit, startedAt, finishedAt };
  } catch (err) {
    if (err instanceof StateConflictError) {
      await ctx.versions.refresh(err.namespace).catch(() => undefined);
      return { runId, ok: false, conflict: true, error: serializeError(err), result, startedAt, finishedAt };
    }
    // Fenced: the instance's lease moved to another node, which runs the trigger again; no record here.
    if (err instanceof FencedError) return { runId, ok: false, fenced: true, error: serializeError(err), result, startedAt, finishedAt };
    const run = record('failed', `commit failed: ${(err as Error).message}`);
    if (run) await recordRunFenced(ctx, run, instance.instanceId, fence);
    return { runId, ok: false, error: serializeError(err), result, startedAt, finishedAt };
  }
}
