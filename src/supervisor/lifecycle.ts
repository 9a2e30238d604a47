// The agent instance lifecycle (seed 003 §6) as a pure transition function, OTP style:
//   transition(state, event, policy, now) → { state, effects }
// It decides; a runner performs the effects (spawn a worker, kill a process group, arm a timer,
// write the record) and feeds what happens back as events. No I/O, no clock: `now` comes in.
//
//   stopped ──start──► initializing ──setup_ok──► running ◄──resume── paused
//                          │   ▲                    │  └────pause────►  │
//                          │   └──retry_due── error ◄── crashed / liveness probe failed
//                          │                    │  └─ max retries → stopped; too many restarts
//                          │                    │     in the intensity window → crash_loop
//                 stop: running/paused/initializing ──► stopping ──stopped──► stopped
//
// Invalid events (resume while running, …) do not throw: the state comes back unchanged with an
// `invalid` effect whose message the API can show (or wrap: new InvalidStateTransitionError(
// agent, effect.action, effect.status)). Why not throw: the same events come from runners racing
// with users (a retry timer firing just after a stop), and those are not errors to unwind.
import type { RestartPolicyConfig } from '../config/types.js';
import { formatDuration } from '../util/format-duration.js';
import { backoffDelay, restartsInWindow, retriesExhausted } from './restart-policy.js';

export type LifecycleStatus = 'initializing' | 'running' | 'paused' | 'error' | 'stopping' | 'stopped' | 'crash_loop';

export const LIFECYCLE_STATUSES: readonly LifecycleStatus[] = ['initializing', 'running', 'paused', 'error', 'stopping', 'stopped', 'crash_loop'];

/** Exit code 78 (EX_CONFIG): "my configuration is invalid, do not restart me". */
export const EXIT_CONFIG_INVALID = 78;

export interface LastError {
  kind: 'setup_failed' | 'crashed' | 'liveness';
  reason: string;
  message: string;
  at: number;
}

export interface InstanceState {
  status: LifecycleStatus;
  /** When `status` was entered. */
  since: number;
  /** Why the instance is in this status (the reason of the last record). */
  reason: string;
  /** Consecutive failures since the last reset; retry n waits backoffDelay(policy, n). */
  attempt: number;
  /** Times automatic restarts were decided, pruned to the intensity window. */
  restartTimes: number[];
  /** Start of the current alive period (running or paused), for resetAfterMs; else null. */
  aliveSince: number | null;
  /** error: when the scheduled retry is due; else null. */
  retryAt: number | null;
  /** A pause asked for while not running: the instance comes up paused (and stays paused across crashes). */
  pauseRequested: boolean;
  /** stopping: what happens when teardown finishes ('start' after an explicit restart). */
  afterStop: 'stay_stopped' | 'start';
  lastError: LastError | null;
}

export type LifecycleEvent =
  /** Explicit start (user or daemon at boot). Also resets the retry counter and the crash-loop breaker. */
  | { type: 'start' }
  /** setup() returned: the instance is up. */
  | { type: 'setup_ok' }
  /** setup() threw or the startup timeout passed. */
  | { type: 'setup_failed'; error: string }
  /** The process/worker died (or was killed outside the lifecycle, e.g. memory hard limit). */
  | { type: 'crashed'; reason: string; message: string; exitCode?: number | null }
  /** The liveness probe reached its failure threshold (see ProbeTracker). */
  | { type: 'probe_failed'; kind: 'liveness'; message?: string }
  | { type: 'pause' }
  | { type: 'resume' }
  /** Explicit stop; `reason` is recorded ('stop requested' by default, e.g. 'daemon shutdown'). */
  | { type: 'stop'; reason?: string }
  /** Teardown finished and the process is gone. */
  | { type: 'stopped' }
  /** The timer armed by schedule_retry fired. */
  | { type: 'retry_due' }
  /** Time passes (send periodically, e.g. with the liveness probe): resets the retry counter after resetAfterMs alive. */
  | { type: 'healthy_tick' }
  /** Explicit restart: teardown then start, resetting the retry counter and the breaker. */
  | { type: 'restart'; reason?: string };

export type LifecycleEventType = LifecycleEvent['type'];

/** What the runner must do, in order. */
export type Effect =
  /** Log and store the transition (every transition has one, first). */
  | { type: 'record'; from: LifecycleStatus; to: LifecycleStatus; reason: string }
  /** Start the instance (process/worker) and run setup(); report setup_ok / setup_failed / crashed. */
  | { type: 'spawn' }
  /** Terminate the instance now, without teardown (process group SIGKILL / worker terminate). Idempotent. */
  | { type: 'kill'; reason: string }
  /** Graceful stop: stop admitting work, drain, call teardown() within its timeout, then exit; report `stopped`. */
  | { type: 'teardown' }
  /** Arm a timer; when it fires send `retry_due`. `attempt` is the retry number, for logs. */
  | { type: 'schedule_retry'; delayMs: number; attempt: number }
  /** Disarm the timer from schedule_retry (a late retry_due would be reported invalid anyway). */
  | { type: 'cancel_retry' }
  /** The event does not apply in this status; nothing changed. `message` is fit for the API/CLI. */
  | { type: 'invalid'; action: LifecycleEventType; status: LifecycleStatus; message: string };

export interface Transition {
  state: InstanceState;
  effects: Effect[];
}

/** A new instance: stopped, not yet started. */
export function initialInstanceState(now: number): InstanceState {
  return {
    status: 'stopped',
    since: now,
    reason: 'not started',
    attempt: 0,
    restartTimes: [],
    aliveSince: null,
    retryAt: null,
    pauseRequested: false,
    afterStop: 'stay_stopped',
    lastError: null,
  };
}

/** The daemon starts scheduled runs and delivers events only to RUNNING instances. */
export function admitsWork(state: InstanceState): boolean {
  return state.status === 'running';
}

export function transition(state: InstanceState, event: LifecycleEvent, policy: RestartPolicyConfig, now: number): Transition {
  const { status } = state;
  switch (event.type) {
    case 'start':
      switch (status) {
        case 'stopped':
          return spawnFresh(state, now, 'start requested');
        case 'crash_loop':
          return spawnFresh(state, now, 'start requested; crash-loop breaker reset');
        case 'error':
          return spawnFresh(state, now, 'start requested; pending retry cancelled', [{ type: 'cancel_retry' }]);
        case 'stopping':
          return pendingStart(state, event, now, 'start requested; it starts when teardown finishes');
        default:
          return invalid(state, event, 'it is already started; use restart to start it again');
      }

    case 'setup_ok':
      if (status !== 'initializing') return unexpected(state, event);
      return move(state, state.pauseRequested ? 'paused' : 'running', now, state.pauseRequested ? 'setup completed; paused as requested' : 'setup completed', {
        aliveSince: now,
      });

    case 'setup_failed':
      if (status !== 'initializing') return unexpected(state, event);
      return fail(state, policy, now, { kind: 'setup_failed', reason: 'setup_failed', message: event.error, at: now }, `setup failed: ${event.error}`, true);

    case 'crashed':
      switch (status) {
        case 'initializing':
        case 'running':
        case 'paused':
          return fail(
            state,
            policy,
            now,
            { kind: 'crashed', reason: event.reason, message: event.message, at: now },
            `crashed (${event.reason}): ${event.message}`,
            false,
            event.exitCode === EXIT_CONFIG_INVALID,
          );
        case 'stopping':
          // The process is gone: the stop is complete, if not gracefully.
          return state.afterStop === 'start'
            ? spawnFresh(state, now, `crashed while stopping (${event.reason}); starting as requested`)
            : move(state, 'stopped', now, `crashed while stopping (${event.reason}): ${event.message}`, { afterStop: 'stay_stopped' });
        default:
          return unexpected(state, event);
      }

    case 'probe_failed':
      switch (status) {
        case 'initializing':
        case 'running':
        case 'paused': {
          const what = `liveness probe failed${event.message ? `: ${event.message}` : ''}`;
          return fail(state, policy, now, { kind: 'liveness', reason: 'liveness', message: event.message ?? 'liveness probe failed', at: now }, what, true);
        }
        default:
          return unexpected(state, event);
      }

    case 'pause':
      switch (status) {
        case 'running':
          return move(state, 'paused', now, 'pause requested', { pauseRequested: true });
        case 'initializing':
        case 'error':
          if (state.pauseRequested) return invalid(state, event, 'a pause is already requested');
          return move(state, status, now, 'pause requested; it comes up paused', { pauseRequested: true });
        case 'paused':
          return invalid(state, event, 'it is already paused');
        default:
          return invalid(state, event, 'start it first');
      }

    case 'resume':
      switch (status) {
        case 'paused':
          return move(state, 'running', now, 'resume requested', { pauseRequested: false });
        case 'initializing':
        case 'error':
          if (!state.pauseRequested) return invalid(state, event, 'it is not paused');
          return move(state, status, now, 'resume requested; it comes up running', { pauseRequested: false });
        case 'running':
          return invalid(state, event, 'it is not paused');
        default:
          return invalid(state, event, 'use start');
      }

    case 'stop': {
      const reason = event.reason ?? 'stop requested';
      switch (status) {
        case 'initializing':
        case 'running':
        case 'paused':
          return move(state, 'stopping', now, reason, { afterStop: 'stay_stopped', pauseRequested: false, aliveSince: null }, [{ type: 'teardown' }]);
        case 'error':
          return move(state, 'stopped', now, `${reason}; pending retry cancelled`, { retryAt: null, pauseRequested: false }, [{ type: 'cancel_retry' }]);
        case 'crash_loop':
          return move(state, 'stopped', now, reason, { pauseRequested: false });
        case 'stopping':
          if (state.afterStop === 'start') return move(state, 'stopping', now, `${reason}; pending restart cancelled`, { afterStop: 'stay_stopped' });
          return invalid(state, event, 'it is already stopping');
        case 'stopped':
          return invalid(state, event, 'it is already stopped');
      }
      break;
    }

    case 'stopped':
      if (status !== 'stopping') return unexpected(state, event);
      return state.afterStop === 'start' ? spawnFresh(state, now, 'teardown completed; starting as requested') : move(state, 'stopped', now, 'teardown completed');

    case 'retry_due':
      if (status !== 'error') return unexpected(state, event);
      return move(state, 'initializing', now, `retry ${state.attempt} of ${policy.maxRetries}`, { retryAt: null }, [{ type: 'spawn' }]);

    case 'healthy_tick': {
      if ((status !== 'running' && status !== 'paused') || state.aliveSince === null) return { state, effects: [] };
      const aliveFor = now - state.aliveSince;
      if (state.attempt > 0 && aliveFor >= policy.resetAfterMs) {
        return move(state, status, now, `healthy for ${formatDuration(aliveFor)}: retry counter reset`, {
          attempt: 0,
          restartTimes: restartsInWindow(policy, state.restartTimes, now),
        });
      }
      return { state, effects: [] };
    }

    case 'restart': {
      const reason = event.reason ?? 'restart requested';
      switch (status) {
        case 'initializing':
        case 'running':
        case 'paused':
          return move(state, 'stopping', now, reason, { afterStop: 'start', aliveSince: null, attempt: 0, restartTimes: [] }, [{ type: 'teardown' }]);
        case 'error':
          return spawnFresh(state, now, `${reason}; pending retry cancelled`, [{ type: 'cancel_retry' }]);
        case 'stopped':
        case 'crash_loop':
          return spawnFresh(state, now, status === 'crash_loop' ? `${reason}; crash-loop breaker reset` : reason);
        case 'stopping':
          return pendingStart(state, event, now, `${reason}; it starts when teardown finishes`);
      }
      break;
    }
  }
  // Unreachable for well-typed input; a runtime-only event type (from JSON) lands here.
  return unexpected(state, event);
}

// ---- building transitions -------------------------------------------------------------------

function move(state: InstanceState, to: LifecycleStatus, now: number, reason: string, patch: Partial<InstanceState> = {}, effects: Effect[] = []): Transition {
  const next: InstanceState = { ...state, ...patch, status: to, since: to === state.status ? state.since : now, reason };
  return { state: next, effects: [{ type: 'record', from: state.status, to, reason }, ...effects] };
}

/** An explicit start: counters and breaker reset, then spawn. */
function spawnFresh(state: InstanceState, now: number, reason: string, before: Effect[] = []): Transition {
  return move(
    state,
    'initializing',
    now,
    reason,
    { attempt: 0, restartTimes: [], retryAt: null, aliveSince: null, afterStop: 'stay_stopped' },
    [...before, { type: 'spawn' }],
  );
}

function pendingStart(state: InstanceState, event: LifecycleEvent, now: number, reason: string): Transition {
  if (state.afterStop === 'start') return invalid(state, event, 'it starts again when teardown finishes');
  return move(state, 'stopping', now, reason, { afterStop: 'start', attempt: 0, restartTimes: [] });
}

/**
 * A failure of a live instance: retry after the backoff delay, or stop when retries are exhausted
 * or the configuration is invalid, or trip the crash-loop breaker when restarts come too fast.
 */
function fail(
  state: InstanceState,
  policy: RestartPolicyConfig,
  now: number,
  lastError: LastError,
  what: string,
  kill: boolean,
  configInvalid = false,
): Transition {
  const attempt = state.attempt + 1;
  const killEffects: Effect[] = kill ? [{ type: 'kill', reason: what }] : [];
  const common: Partial<InstanceState> = { attempt, lastError, aliveSince: null, retryAt: null, afterStop: 'stay_stopped' };
  if (configInvalid) {
    return move(state, 'stopped', now, `${what}; configuration is invalid (exit code ${EXIT_CONFIG_INVALID}), not restarting: fix it and start the agent`, common, killEffects);
  }
  if (retriesExhausted(policy, attempt)) {
    return move(state, 'stopped', now, `max retries exceeded (${policy.maxRetries}); last failure: ${what}`, common, killEffects);
  }
  const recent = restartsInWindow(policy, state.restartTimes, now);
  if (recent.length + 1 > policy.intensity.maxRestarts) {
    return move(
      state,
      'crash_loop',
      now,
      `crash loop: more than ${policy.intensity.maxRestarts} restarts in ${formatDuration(policy.intensity.windowMs)}; last failure: ${what}; start or restart it to try again`,
      { ...common, restartTimes: recent },
      killEffects,
    );
  }
  const delayMs = backoffDelay(policy, attempt);
  return move(
    state,
    'error',
    now,
    `${what}; retry ${attempt} of ${policy.maxRetries} in ${formatDuration(delayMs)}`,
    { ...common, retryAt: now + delayMs, restartTimes: [...recent, now] },
    [...killEffects, { type: 'schedule_retry', delayMs, attempt }],
  );
}

/** A user action that does not apply: "cannot resume while running: it is not paused". */
function invalid(state: InstanceState, event: LifecycleEvent, hint: string): Transition {
  return rejected(state, event, `cannot ${event.type} while ${describe(state.status)}: ${hint}`);
}

/** A runner report that does not fit (a late retry timer, a crash report after a stop): ignored. */
function unexpected(state: InstanceState, event: LifecycleEvent): Transition {
  return rejected(state, event, `'${event.type}' reported while ${describe(state.status)}; ignored`);
}

function rejected(state: InstanceState, event: LifecycleEvent, message: string): Transition {
  return { state, effects: [{ type: 'invalid', action: event.type, status: state.status, message }] };
}

function describe(status: LifecycleStatus): string {
  switch (status) {
    case 'error':
      return 'waiting to retry after an error';
    case 'crash_loop':
      return 'stopped by the crash-loop breaker';
    default:
      return status;
  }
}
