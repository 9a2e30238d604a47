// Per-agent scheduling decisions, pure: what ran, what was missed and why, what runs now.
// The scheduler never skips silently (ARCHITECTURE.md): every fire time that does not run comes
// out of these functions as `missed`, with a reason the daemon records.
import type { MissedRunPolicy, OverlapPolicy } from '../config/types.js';
import { lastFireTimesBetween, nextFireAfter } from './schedule.js';
import type { ScheduleSpec } from './types.js';

/** Why a fire time did not run. The daemon stores it with the missed-run record. */
export type MissedReason =
  | 'daemon down' // the daemon was not running at the fire time
  | 'clock jump' // the clock (or a stalled event loop) moved past several fire times at once
  | 'catch-up limit' // run_all: more fire times were due than maxCatchUp
  | 'overlap'; // overlap policy: a run was in progress (and the queue, if any, was full)

/** run_all runs at most this many fire times by default; the rest are missed ('catch-up limit'). */
export const DEFAULT_MAX_CATCH_UP = 10;
/** At most this many missed fire times are listed; older ones are summarised by `truncated`. */
export const DEFAULT_MAX_LISTED_MISSED = 1000;
/** The overlap queue holds at most one pending run by default: a second one would only repeat it. */
export const DEFAULT_MAX_QUEUE = 1;

export interface PlanMissedInput {
  spec: ScheduleSpec;
  /** Phase of `every` schedules (see nextFireAfter); also the lower bound when lastFireAt is null. */
  anchor?: number;
  /** The last fire time that was handled (ran or recorded missed); null if the agent never fired. */
  lastFireAt: number | null;
  now: number;
  policy: MissedRunPolicy;
  /** run_all only: the most that run now. Default DEFAULT_MAX_CATCH_UP. */
  maxCatchUp?: number;
  /** Longest `missed` list returned. Default DEFAULT_MAX_LISTED_MISSED. */
  maxListed?: number;
  /** Reason for fire times the policy does not run. Default 'daemon down'. */
  reason?: Exclude<MissedReason, 'catch-up limit' | 'overlap'>;
}

export interface MissedRunPlan {
  /** Fire times that did not run and will not, oldest first; record each with `missedReason`. */
  missed: number[];
  /** One reason for all of `missed` (a plan never mixes reasons); null when nothing was missed. */
  missedReason: MissedReason | null;
  /** True when more fire times were missed before missed[0] than `maxListed` allowed to list. */
  truncated: boolean;
  /** Fire times to run now, oldest first (each run carries its fire time). */
  toRun: number[];
  /** The next fire time strictly after `now`. */
  next: number;
}

/**
 * Decides what to do with the fire times in (lastFireAt, now] that did not run on time.
 * - skip: none runs; all are missed ('daemon down').
 * - run_once: the latest runs; the others are missed ('daemon down').
 * - run_all: all run in order, but at most maxCatchUp of them, the most recent ones (a stale run is
 *   worth less than a fresh one); the older excess is missed ('catch-up limit').
 */
export function planMissed(input: PlanMissedInput): MissedRunPlan {
  const { spec, anchor, lastFireAt, now, policy } = input;
  const maxCatchUp = Math.max(1, input.maxCatchUp ?? DEFAULT_MAX_CATCH_UP);
  const maxListed = Math.max(0, input.maxListed ?? DEFAULT_MAX_LISTED_MISSED);
  const next = nextFireAfter(spec, now, anchor);
  const from = lastFireAt ?? anchor ?? now;
  const runCount = policy === 'skip' ? 0 : policy === 'run_once' ? 1 : maxCatchUp;

  const due = lastFireTimesBetween(spec, from, now, anchor, runCount + maxListed);
  if (due.length === 0) return { missed: [], missedReason: null, truncated: false, toRun: [], next };

  const truncated = nextFireAfter(spec, from, anchor) < due[0];
  const toRun = due.slice(Math.max(0, due.length - runCount));
  const missed = due.slice(0, due.length - toRun.length);
  const missedReason: MissedReason | null =
    missed.length === 0 && !truncated ? null : policy === 'run_all' ? 'catch-up limit' : (input.reason ?? 'daemon down');
  return { missed, missedReason, truncated, toRun, next };
}

export interface OverlapInput {
  policy: OverlapPolicy;
  /** Runs of this agent in progress. */
  running: number;
  /** Runs of this agent waiting for the current one to finish. */
  queued: number;
  /** queue policy: most runs waiting at once. Default DEFAULT_MAX_QUEUE (1). */
  maxQueue?: number;
}

/**
 * What to do with a fire time when it comes due:
 * - 'start': start the run now;
 * - 'queue': hold it and start it when the running one finishes;
 * - 'skip': do not run it; record it missed with reason 'overlap'.
 * allow always starts; skip starts only when nothing runs; queue waits behind the running run
 * while the queue has room (maxQueue, default 1), and skips when it is full.
 */
export function decideOverlap(input: OverlapInput): 'start' | 'queue' | 'skip' {
  const { policy, running, queued } = input;
  const maxQueue = input.maxQueue ?? DEFAULT_MAX_QUEUE;
  if (policy === 'allow') return 'start';
  if (running <= 0 && queued <= 0) return 'start';
  if (policy === 'skip') return 'skip';
  // queue: also when nothing runs but others wait, the new one goes behind them to keep order.
  return queued < maxQueue ? 'queue' : 'skip';
}
