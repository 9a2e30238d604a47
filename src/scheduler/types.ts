// Schedules as data. `Schedule.every/cron/daily` in the SDK and `schedule:` in YAML both produce
// a ScheduleSpec; the scheduler turns it into fire times. Times are epoch milliseconds.

export type ScheduleSpec =
  | { kind: 'every'; everyMs: number }
  | { kind: 'cron'; expr: string; tz?: string }
  | { kind: 'daily'; hour: number; minute: number; tz?: string };

/** Injectable time source: tests move time instead of sleeping. */
export interface Clock {
  now(): number;
  /** Calls fn once after ms; returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return () => clearTimeout(t);
  },
};
