// Schedules as data. `Schedule.every/cron/daily` in the SDK and `schedule:` in YAML both produce
// a ScheduleSpec; the scheduler turns it into fire times. Times are epoch milliseconds.

export type ScheduleSpec =
  | { kind: 'every'; everyMs: number }
  | { kind: 'cron'; expr: string; tz?: string }
  | { kind: 'daily'; hour: number; minute: number; tz?: string };

// The Clock contract lives in src/contracts/clock.ts; re-exported for existing imports.
export { systemClock, type Clock } from '../contracts/clock.js';
