// Method calls on an agent (`call()`): wait for a running instance up to the deadline, invoke the
// method as a run transaction, re-run it on a commit conflict, and settle on the first of commit,
// timeout and abort.
import { uuidv7 } from '../util/ids.js';
import type { AgentConfig } from '../config/types.js';
import type { AgentStatus } from './control.js';
import type { Instance } from './instance.js';
import type { ControllerDeps } from './controller-deps.js';
import { executeRun, MAX_CONFLICT_RETRIES } from './run-transaction.js';
import type { CallOptions, CallResult } from '../contracts/modules.js';

/** What calls need from their controller. */
export interface CallHost {
  paused(): boolean;
  status(): AgentStatus;
  pickInstance(needReady: boolean, maxBusy: number, work: 'call'): Instance | null;
  wakeConsumer(): void;
}

export class AgentCalls {
  /** call()s waiting for a usable instance; woken when one becomes running. */
  private readonly capacityWaiters = new Set<() => void>();

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: ControllerDeps,
    private readonly host: CallHost,
  ) {}

  wakeCallers(): void {
    for (const w of [...this.capacityWaiters]) w();
  }

  /** Waits for a running instance; null if the deadline passes, the signal fires or the agent is stopped for good. */
  private async awaitInstance(deadlineAt: number | null, signal?: AbortSignal): Promise<Instance | null> {
    for (;;) {
      if (signal?.aborted) return null;
      if (!this.host.paused()) {
        const inst = this.host.pickInstance(false, Infinity, 'call');
        if (inst) return inst;
      }
      const st = this.host.status();
      if (this.cfg.kind !== 'module' || st === 'stopped' || st === 'crash_loop') return null;
      const left = deadlineAt === null ? 1000 : Math.min(1000, deadlineAt - this.deps.clock.now());
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const done = () => {
          cancel();
          this.capacityWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const cancel = this.deps.clock.setTimer(done, left);
        this.capacityWaiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Invokes `method(payload, opts.meta)` on an instance as a run transaction: its state writes,
   * emits and job enqueues commit in ONE transaction together with `opts.effects`, and the return
   * value comes back. Never rejects. A commit conflict (a replica changed a key the call read) runs
   * the method again, as for events. Waits for a running instance (while the agent starts,
   * restarts or is paused) up to the deadline; a stopped agent fails at once.
   */
  async call(method: string, payload: unknown, opts: CallOptions): Promise<CallResult> {
    const runId = opts.runId ?? uuidv7();
    const fail = (code: string, message: string): CallResult => ({ ok: false, runId, error: { name: 'CallError', message, code } });
    if (typeof method !== 'string' || method === '') return fail('no_method', `call(): a method name is required (agent '${this.cfg.name}')`);
    const now = () => this.deps.clock.now();
    const deadlineAt = opts.deadlineMs === undefined ? null : opts.deadlineMs > 1e12 ? opts.deadlineMs : now() + opts.deadlineMs;
    const inst = await this.awaitInstance(deadlineAt, opts.signal);
    if (opts.signal?.aborted) return fail('call_aborted', `call ${this.cfg.name}.${method}() was cancelled before it started`);
    if (!inst || inst.handle?.kind !== 'module') {
      if (deadlineAt !== null && now() >= deadlineAt) return fail('call_timeout', `call ${this.cfg.name}.${method}() timed out waiting for a running instance (agent is ${this.host.status()})`);
      return fail('agent_unavailable', `agent '${this.cfg.name}' is ${this.host.status()}${this.cfg.kind !== 'module' ? ' (a command agent has no methods to call)' : ''}; start it with \`openclaw start ${this.cfg.name}\``);
    }
    const h = inst.handle.h;
    const gen = inst.generation;
    // 'running' until the agent returns; then the first of commit / timeout / abort wins.
    let phase: 'running' | 'committing' | 'ended' = 'running';
    let settle!: (r: CallResult) => void;
    const early = new Promise<CallResult>((r) => (settle = r));
    const stop = (code: 'call_timeout' | 'call_aborted', message: string) => {
      if (phase !== 'running') return;
      phase = 'ended';
      h.abort(message, runId);
      settle(fail(code, message));
    };
    const cancelTimer = deadlineAt === null ? null : this.deps.clock.setTimer(() => stop('call_timeout', `call ${this.cfg.name}.${method}() passed its deadline`), Math.max(0, deadlineAt - now()));
    const onAbort = () => stop('call_aborted', `call ${this.cfg.name}.${method}() was cancelled${opts.signal?.reason instanceof Error ? `: ${opts.signal.reason.message}` : ''}`);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    inst.busy++;
    const work = (async (): Promise<CallResult> => {
      try {
        const invoke = () =>
          executeRun(this.deps.runContext, h, {
            trigger: opts.trigger,
            kind: 'call',
            method,
            payload,
            meta: opts.meta,
            record: true,
            runId,
            effects: opts.effects,
            parentTrace: opts.parentTrace ?? null,
            // The worker has no injected clock: it gets the budget left, not a time.
            ...(deadlineAt !== null ? { deadlineMs: Math.max(1, deadlineAt - now()) } : {}),
            admitCommit: () => {
              // Past the deadline, whichever of our timer and the result came first: no commit.
              if (phase === 'running' && deadlineAt !== null && now() >= deadlineAt) stop('call_timeout', `call ${this.cfg.name}.${method}() passed its deadline`);
              if (phase !== 'running') return false;
              phase = 'committing';
              return true;
            },
          });
        const current = () => phase;
        let outcome = await invoke();
        for (let i = 0; outcome.conflict && i < MAX_CONFLICT_RETRIES && inst.generation === gen && current() === 'committing'; i++) {
          phase = 'running';
          if (deadlineAt !== null && now() >= deadlineAt) stop('call_timeout', `call ${this.cfg.name}.${method}() passed its deadline`);
          if (current() !== 'running') break;
          outcome = await invoke();
        }
        if (outcome.ok) return { ok: true, runId, value: outcome.result?.value };
        if (outcome.instanceGone) return { ok: false, runId, error: { ...(outcome.error ?? { name: 'InstanceGoneError', message: 'the instance ended during the call' }), code: 'instance_gone' } };
        // The worker aborts the run at the same deadline; its error can arrive before our timer fires.
        if (deadlineAt !== null && (now() >= deadlineAt || outcome.error?.code === 'run_deadline')) return fail('call_timeout', `call ${this.cfg.name}.${method}() passed its deadline`);
        return { ok: false, runId, error: outcome.error ?? { name: 'CallError', message: 'the call failed', code: 'call_failed' } };
      } finally {
        inst.busy--;
        cancelTimer?.();
        opts.signal?.removeEventListener('abort', onAbort);
        this.host.wakeConsumer();
        this.wakeCallers();
      }
    })();
    void work.then((r) => {
      if (phase !== 'ended') {
        phase = 'ended';
        settle(r);
      }
    });
    return early;
  }
}
