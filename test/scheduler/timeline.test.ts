import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_QUEUE, decideOverlap, planMissed } from '../../src/scheduler/index.js';
import type { ScheduleSpec } from '../../src/scheduler/index.js';

const at = (iso: string) => Date.parse(iso);
const isoList = (times: number[]) => times.map((t) => new Date(t).toISOString().slice(11, 16));
const MIN = 60_000;
const HOUR = 60 * MIN;

describe('planMissed after a 3-hour gap', () => {
  // Every 30 minutes, anchored at 09:00; last fired at 09:00, daemon back at 12:10: six fire times
  // (09:30 … 12:00) did not run.
  const spec: ScheduleSpec = { kind: 'every', everyMs: 30 * MIN };
  const anchor = at('2026-01-01T09:00:00Z');
  const base = { spec, anchor, lastFireAt: anchor, now: at('2026-01-01T12:10:00Z') };

  it('skip: nothing runs, all six are missed because the daemon was down', () => {
    const plan = planMissed({ ...base, policy: 'skip' });
    expect(plan.toRun).toEqual([]);
    expect(isoList(plan.missed)).toEqual(['09:30', '10:00', '10:30', '11:00', '11:30', '12:00']);
    expect(plan.missedReason).toBe('daemon down');
    expect(plan.truncated).toBe(false);
    expect(plan.next).toBe(at('2026-01-01T12:30:00Z'));
  });

  it('run_once: the latest runs, the five before it are missed', () => {
    const plan = planMissed({ ...base, policy: 'run_once' });
    expect(isoList(plan.toRun)).toEqual(['12:00']);
    expect(isoList(plan.missed)).toEqual(['09:30', '10:00', '10:30', '11:00', '11:30']);
    expect(plan.missedReason).toBe('daemon down');
  });

  it('run_all: all six run in order when within maxCatchUp', () => {
    const plan = planMissed({ ...base, policy: 'run_all', maxCatchUp: 10 });
    expect(isoList(plan.toRun)).toEqual(['09:30', '10:00', '10:30', '11:00', '11:30', '12:00']);
    expect(plan.missed).toEqual([]);
    expect(plan.missedReason).toBeNull();
  });

  it('run_all: beyond maxCatchUp the most recent run and the older excess is missed with reason catch-up limit', () => {
    const plan = planMissed({ ...base, policy: 'run_all', maxCatchUp: 4 });
    expect(isoList(plan.toRun)).toEqual(['10:30', '11:00', '11:30', '12:00']);
    expect(isoList(plan.missed)).toEqual(['09:30', '10:00']);
    expect(plan.missedReason).toBe('catch-up limit');
  });

  it('uses the given reason (a clock jump rather than downtime)', () => {
    expect(planMissed({ ...base, policy: 'skip', reason: 'clock jump' }).missedReason).toBe('clock jump');
  });

  it('works for cron schedules in a zone', () => {
    const plan = planMissed({
      spec: { kind: 'cron', expr: '0 * * * *', tz: 'Europe/Berlin' },
      lastFireAt: at('2026-01-01T08:00:00Z'), // 09:00 Berlin
      now: at('2026-01-01T11:30:00Z'),
      policy: 'run_once',
    });
    expect(isoList(plan.toRun)).toEqual(['11:00']);
    expect(isoList(plan.missed)).toEqual(['09:00', '10:00']);
    expect(plan.next).toBe(at('2026-01-01T12:00:00Z'));
  });
});

describe('planMissed edge cases', () => {
  const spec: ScheduleSpec = { kind: 'every', everyMs: MIN };

  it('plans nothing when no fire time passed', () => {
    const t = at('2026-01-01T09:00:00Z');
    const plan = planMissed({ spec, anchor: 0, lastFireAt: t, now: t + 30_000, policy: 'run_all' });
    expect(plan).toEqual({ missed: [], missedReason: null, truncated: false, toRun: [], next: t + MIN });
  });

  it('plans nothing when lastFireAt is after now (clock set back)', () => {
    const t = at('2026-01-01T09:00:00Z');
    const plan = planMissed({ spec, anchor: 0, lastFireAt: t, now: t - HOUR, policy: 'run_all' });
    expect(plan.toRun).toEqual([]);
    expect(plan.missed).toEqual([]);
  });

  it('counts from the anchor when the agent never fired', () => {
    const anchor = at('2026-01-01T09:00:00Z');
    const plan = planMissed({ spec, anchor, lastFireAt: null, now: anchor + 3 * MIN, policy: 'skip' });
    expect(plan.missed).toEqual([anchor + MIN, anchor + 2 * MIN, anchor + 3 * MIN]);
  });

  it('lists at most maxListed missed times (the most recent) and says the list is truncated', () => {
    const last = at('2026-01-01T00:00:00Z');
    const now = last + 7 * 24 * HOUR; // a week of a per-minute schedule: 10,080 fire times
    const plan = planMissed({ spec, anchor: 0, lastFireAt: last, now, policy: 'run_once', maxListed: 100 });
    expect(plan.toRun).toEqual([now]);
    expect(plan.missed).toHaveLength(100);
    expect(plan.missed[99]).toBe(now - MIN);
    expect(plan.truncated).toBe(true);
    expect(plan.missedReason).toBe('daemon down');
  });

  it('a fire time at exactly now is due; one at lastFireAt is not', () => {
    const last = at('2026-01-01T09:00:00Z');
    const plan = planMissed({ spec, anchor: 0, lastFireAt: last, now: last + MIN, policy: 'run_once' });
    expect(plan.toRun).toEqual([last + MIN]);
    expect(plan.missed).toEqual([]);
  });
});

describe('decideOverlap', () => {
  const cases: Array<[policy: 'skip' | 'queue' | 'allow', running: number, queued: number, expected: 'start' | 'queue' | 'skip']> = [
    ['skip', 0, 0, 'start'],
    ['skip', 1, 0, 'skip'],
    ['queue', 0, 0, 'start'],
    ['queue', 1, 0, 'queue'],
    ['queue', 1, 1, 'skip'], // the queue holds one by default
    ['queue', 0, 1, 'skip'], // one already waits to start: a second adds nothing
    ['allow', 0, 0, 'start'],
    ['allow', 3, 0, 'start'],
  ];
  it.each(cases)('policy %s with %i running and %i queued → %s', (policy, running, queued, expected) => {
    expect(decideOverlap({ policy, running, queued })).toBe(expected);
  });

  it('the default queue holds one run', () => {
    expect(DEFAULT_MAX_QUEUE).toBe(1);
  });

  it('a larger maxQueue queues more', () => {
    expect(decideOverlap({ policy: 'queue', running: 1, queued: 2, maxQueue: 3 })).toBe('queue');
    expect(decideOverlap({ policy: 'queue', running: 1, queued: 3, maxQueue: 3 })).toBe('skip');
  });
});
