import { describe, expect, it } from 'vitest';
import { Schedule, ScheduleError, parseDuration, isScheduleSpec } from '../../src/agents/schedule.js';

describe('Schedule.every', () => {
  it('adds up the given units into milliseconds', () => {
    expect(Schedule.every({ minutes: 5 })).toEqual({ kind: 'every', everyMs: 300_000 });
    expect(Schedule.every({ hours: 1, minutes: 30 })).toEqual({ kind: 'every', everyMs: 5_400_000 });
    expect(Schedule.every({ days: 1 })).toEqual({ kind: 'every', everyMs: 86_400_000 });
    expect(Schedule.every({ seconds: 0.5 })).toEqual({ kind: 'every', everyMs: 500 });
  });

  it('accepts duration strings', () => {
    expect(Schedule.every('5m')).toEqual({ kind: 'every', everyMs: 300_000 });
    expect(Schedule.every('1h30m')).toEqual({ kind: 'every', everyMs: 5_400_000 });
    expect(Schedule.every('10s')).toEqual({ kind: 'every', everyMs: 10_000 });
  });

  it('rejects unknown units, bare numbers, zero and garbage with a message naming the problem', () => {
    expect(() => Schedule.every({ minute: 5 } as never)).toThrow(/unknown field 'minute'/);
    expect(() => Schedule.every(5 as never)).toThrow(/the number 5 \(say which unit: \{ seconds: 5 \}\)/);
    expect(() => Schedule.every({ minutes: 0 })).toThrow(/greater than zero/);
    expect(() => Schedule.every({ minutes: -1 })).toThrow(/minutes must be a non-negative number/);
    expect(() => Schedule.every('five minutes')).toThrow(/not a duration/);
    expect(() => Schedule.every({})).toThrow(/give an interval/);
    expect(() => Schedule.every('5m')).not.toThrow();
    try {
      Schedule.every('x');
    } catch (err) {
      expect(err).toBeInstanceOf(ScheduleError);
      expect((err as ScheduleError).code).toBe('schedule_invalid');
    }
  });
});

describe('Schedule.cron', () => {
  it('returns the expression and time zone', () => {
    expect(Schedule.cron('*/5 * * * *')).toEqual({ kind: 'cron', expr: '*/5 * * * *' });
    expect(Schedule.cron('0 9 * * 1-5', { tz: 'America/New_York' })).toEqual({ kind: 'cron', expr: '0 9 * * 1-5', tz: 'America/New_York' });
  });

  it('rejects invalid expressions and unknown time zones', () => {
    expect(() => Schedule.cron('61 * * * *')).toThrow(/Schedule.cron\('61 \* \* \* \*'\): invalid cron expression/);
    expect(() => Schedule.cron('not a cron')).toThrow(/invalid cron expression/);
    expect(() => Schedule.cron('')).toThrow(/give a cron expression/);
    expect(() => Schedule.cron('0 9 * * *', { tz: 'Mars/Olympus' })).toThrow(/unknown time zone 'Mars\/Olympus'/);
  });
});

describe('Schedule.daily', () => {
  it('defaults the minute to 0', () => {
    expect(Schedule.daily({ hour: 9 })).toEqual({ kind: 'daily', hour: 9, minute: 0 });
    expect(Schedule.daily({ hour: 23, minute: 59, tz: 'Europe/Berlin' })).toEqual({ kind: 'daily', hour: 23, minute: 59, tz: 'Europe/Berlin' });
  });

  it('rejects out-of-range hours and minutes', () => {
    expect(() => Schedule.daily({ hour: 24 })).toThrow(/hour must be an integer 0-23, got 24/);
    expect(() => Schedule.daily({ hour: 9, minute: 60 })).toThrow(/minute must be an integer 0-59, got 60/);
    expect(() => Schedule.daily({ hour: 9.5 })).toThrow(/hour must be an integer/);
    expect(() => Schedule.daily({ hour: 9, tz: 'Nowhere/City' })).toThrow(/unknown time zone/);
  });
});

describe('Schedule.parse and parseDuration', () => {
  it('parses the text forms', () => {
    expect(Schedule.parse('every 5m')).toEqual({ kind: 'every', everyMs: 300_000 });
    expect(Schedule.parse('daily 09:30')).toEqual({ kind: 'daily', hour: 9, minute: 30 });
    expect(Schedule.parse('daily 09:30 UTC')).toEqual({ kind: 'daily', hour: 9, minute: 30, tz: 'UTC' });
    expect(Schedule.parse('0 9 * * 1-5')).toEqual({ kind: 'cron', expr: '0 9 * * 1-5' });
    expect(Schedule.parse('cron 0 9 * * 1-5 Europe/Berlin')).toEqual({ kind: 'cron', expr: '0 9 * * 1-5', tz: 'Europe/Berlin' });
  });

  it('parses durations and refuses partial matches', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1h 5m')).toBe(3_900_000);
    expect(parseDuration('5 minutes')).toBeNull();
    expect(parseDuration('5m!')).toBeNull();
    expect(parseDuration('')).toBeNull();
  });

  it('recognises well-formed specs only', () => {
    expect(isScheduleSpec(Schedule.every('1m'))).toBe(true);
    expect(isScheduleSpec({ kind: 'every', everyMs: 0 })).toBe(false);
    expect(isScheduleSpec({ kind: 'weekly' })).toBe(false);
    expect(isScheduleSpec('every 5m')).toBe(false);
  });
});
