// The scheduler module: when schedules fire (schedule.ts), what to do about fire times that could
// not run on time (timeline.ts), and a one-timer driver over an injected Clock (scheduler.ts).
export type { ScheduleSpec, Clock } from './types.js';
export { systemClock } from './types.js';
export {
  InvalidScheduleError,
  describeSchedule,
  fireTimesBetween,
  lastFireTimesBetween,
  machineTimeZone,
  nextFireAfter,
  validateSchedule,
} from './schedule.js';
export {
  DEFAULT_MAX_CATCH_UP,
  DEFAULT_MAX_LISTED_MISSED,
  DEFAULT_MAX_QUEUE,
  decideOverlap,
  planMissed,
  type MissedReason,
  type MissedRunPlan,
  type OverlapInput,
  type PlanMissedInput,
} from './timeline.js';
export { MAX_TIMER_DELAY_MS, Scheduler, type AddOptions, type DueFire, type FireContext, type SchedulerOptions } from './scheduler.js';
