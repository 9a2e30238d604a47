import { describe, expect, it } from 'vitest';
import {
  InvalidScheduleError,
  describeSchedule,
  fireTimesBetween,
  lastFireTimesBetween,
  machineTimeZone,
  nextFireAfter,
  validateSchedule,
} from '../../src/scheduler/index.js';
import type { ScheduleSpec } from '../../src/scheduler/index.js';

const at = (iso: string) => Date.parse(iso);
const isoList = (times: number[]) => times.map((t) => new Date(t).toISOString());
const MIN = 60_000;

describe('nextFireAfter: every', () => {
  const every5m: ScheduleSpec = { kind: 'every', everyMs: 5 * MIN };

  it('fires at anchor + k·every, strictly after the given time', () => {
    const anchor = at('2026-01-01T10:02:00Z');
    expect(nextFireAfter(every5m, anchor, anchor)).toBe(at('2026-01-01T10:07:00Z'));
    expect(nextFireAfter(every5m, at('2026-01-01T10:06:59.999Z'), anchor)).toBe(at('2026-01-01T10:07:00Z'));
    expect(nextFireAfter(every5m, at('2026-01-01T10:07:00Z'), anchor)).toBe(at('2026-01-01T10:12:00Z'));
    expect(nextFireAfter(every5m, at('2026-01-01T13:00:00Z'), anchor)).toBe(at('2026-01-01T13:02:00Z'));
  });

  it('keeps the anchor phase for times before the anchor', () => {
    const anchor = at('2026-01-01T10:02:00Z');
    expect(nextFireAfter(every5m, at('2026-01-01T09:58:30Z'), anchor)).toBe(at('2026-01-01T09:58:00Z') + 4 * MIN);
    expect(nextFireAfter(every5m, anchor - 1, anchor)).toBe(anchor);
  });

  it('aligns to the Unix epoch without an anchor', () => {
    expect(nextFireAfter(every5m, at('2026-01-01T10:02:00Z'))).toBe(at('2026-01-01T10:05:00Z'));
  });

  it('rejects a period that is not positive', () => {
    expect(() => nextFireAfter({ kind: 'every', everyMs: 0 }, 0)).toThrow(InvalidScheduleError);
    expect(() => nextFireAfter({ kind: 'every', everyMs: Number.NaN }, 0)).toThrow(/positive duration/);
  });
});

describe('nextFireAfter: cron and daily', () => {
  it('evaluates cron in the given time zone', () => {
    const spec: ScheduleSpec = { kind: 'cron', expr: '0 */2 * * *', tz: 'Europe/Paris' };
    // Paris is UTC+1 in January: 02:00 Paris = 01:00Z.
    expect(nextFireAfter(spec, at('2026-01-01T00:00:00.500Z'))).toBe(at('2026-01-01T01:00:00Z'));
    expect(nextFireAfter(spec, at('2026-01-01T01:00:00Z'))).toBe(at('2026-01-01T03:00:00Z'));
  });

  it('supports six-field (seconds) expressions', () => {
    const spec: ScheduleSpec = { kind: 'cron', expr: '*/15 * * * * *', tz: 'UTC' };
    expect(nextFireAfter(spec, at('2026-01-01T00:00:01Z'))).toBe(at('2026-01-01T00:00:15Z'));
  });

  it('is strictly after: a fire time maps to the following one', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 9, minute: 0, tz: 'UTC' };
    expect(nextFireAfter(spec, at('2026-01-01T08:59:59.999Z'))).toBe(at('2026-01-01T09:00:00Z'));
    expect(nextFireAfter(spec, at('2026-01-01T09:00:00Z'))).toBe(at('2026-01-02T09:00:00Z'));
  });

  it('daily is the cron M H * * * in its zone', () => {
    const daily: ScheduleSpec = { kind: 'daily', hour: 9, minute: 30, tz: 'Asia/Tokyo' };
    const cron: ScheduleSpec = { kind: 'cron', expr: '30 9 * * *', tz: 'Asia/Tokyo' };
    const t = at('2026-05-05T12:00:00Z');
    expect(nextFireAfter(daily, t)).toBe(nextFireAfter(cron, t));
    expect(nextFireAfter(daily, t)).toBe(at('2026-05-06T00:30:00Z'));
  });

  it('uses the machine time zone when none is given', () => {
    const zone = machineTimeZone();
    const t = at('2026-07-01T00:00:00Z');
    expect(nextFireAfter({ kind: 'daily', hour: 9, minute: 0 }, t)).toBe(nextFireAfter({ kind: 'daily', hour: 9, minute: 0, tz: zone }, t));
  });

  it('rejects bad expressions, zones and times with a message that says what to fix', () => {
    expect(() => validateSchedule({ kind: 'cron', expr: 'every day' })).toThrow(/invalid cron expression 'every day'/);
    expect(() => validateSchedule({ kind: 'cron', expr: '0 9 * * *', tz: 'Mars/Olympus' })).toThrow(/unknown time zone 'Mars\/Olympus'/);
    expect(() => validateSchedule({ kind: 'daily', hour: 24, minute: 0 })).toThrow(/hour 0-23/);
    expect(() => validateSchedule({ kind: 'daily', hour: 9, minute: 60, tz: 'UTC' })).toThrow(InvalidScheduleError);
    expect(() => validateSchedule({ kind: 'cron', expr: '0 0 30 2 *', tz: 'UTC' })).toThrow(InvalidScheduleError);
    expect(() => validateSchedule({ kind: 'cron', expr: '2026-01-01T09:00:00', tz: 'UTC' })).toThrow(/expected 5 fields/);
    expect(() => validateSchedule({ kind: 'cron', expr: '0 ? * * *', tz: 'UTC' })).toThrow(/'\?' is not supported/);
    expect(() => validateSchedule({ kind: 'cron', expr: '@hourly', tz: 'UTC' })).not.toThrow();
    expect(() => validateSchedule({ kind: 'daily', hour: 9, minute: 0, tz: 'UTC' })).not.toThrow();
  });

  it('errors carry a stable code', () => {
    try {
      validateSchedule({ kind: 'cron', expr: 'x' });
      expect.unreachable();
    } catch (err) {
      expect((err as InvalidScheduleError).code).toBe('schedule_invalid');
    }
  });
});

describe('DST', () => {
  const walk = (spec: ScheduleSpec, from: string, to: string) => isoList(fireTimesBetween(spec, at(from), at(to)));

  it('America/New_York spring forward: 02:30 does not exist on 2026-03-08 and fires once at 03:30 EDT', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 2, minute: 30, tz: 'America/New_York' };
    expect(walk(spec, '2026-03-06T12:00:00Z', '2026-03-10T12:00:00Z')).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:30:00.000Z', // 03:30 EDT: the shifted time
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  it('America/New_York spring forward: an hourly cron fires 01:00, 03:00 (02:00 shifted onto 03:00 fires once)', () => {
    const spec: ScheduleSpec = { kind: 'cron', expr: '0 * * * *', tz: 'America/New_York' };
    expect(walk(spec, '2026-03-08T05:30:00Z', '2026-03-08T08:00:00Z')).toEqual([
      '2026-03-08T06:00:00.000Z', // 01:00 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-08T08:00:00.000Z', // 04:00 EDT
    ]);
  });

  it('America/New_York spring forward: every time inside the gap fires once, shifted by the gap', () => {
    const spec: ScheduleSpec = { kind: 'cron', expr: '*/20 2 * * *', tz: 'America/New_York' };
    expect(walk(spec, '2026-03-08T00:00:00Z', '2026-03-09T00:00:00Z')).toEqual([
      '2026-03-08T07:00:00.000Z', // 02:00 → 03:00 EDT
      '2026-03-08T07:20:00.000Z', // 02:20 → 03:20 EDT
      '2026-03-08T07:40:00.000Z', // 02:40 → 03:40 EDT
    ]);
  });

  it('America/New_York fall back: 01:30 happens twice on 2026-11-01 and fires once, at its first occurrence', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 1, minute: 30, tz: 'America/New_York' };
    expect(walk(spec, '2026-10-31T00:00:00Z', '2026-11-02T12:00:00Z')).toEqual([
      '2026-10-31T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT (first pass); 01:30 EST (06:30Z) does not fire
      '2026-11-02T06:30:00.000Z', // 01:30 EST
    ]);
  });

  it('America/New_York fall back: a */30 cron fires each wall time of the repeated hour once', () => {
    const spec: ScheduleSpec = { kind: 'cron', expr: '*/30 * * * *', tz: 'America/New_York' };
    expect(walk(spec, '2026-11-01T04:45:00Z', '2026-11-01T07:30:00Z')).toEqual([
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T07:00:00.000Z', // 02:00 EST (the EST pass of 01:00 and 01:30 is skipped)
      '2026-11-01T07:30:00.000Z',
    ]);
  });

  it('America/New_York fall back: asked from inside the second pass, it never answers a past time', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 1, minute: 30, tz: 'America/New_York' };
    const from = at('2026-11-01T06:10:00Z'); // 01:10 EST, after 01:30 EDT already fired
    const next = nextFireAfter(spec, from);
    expect(next).toBeGreaterThan(from);
    expect(new Date(next).toISOString()).toBe('2026-11-02T06:30:00.000Z');
    const hourly: ScheduleSpec = { kind: 'cron', expr: '30 * * * *', tz: 'America/New_York' };
    expect(new Date(nextFireAfter(hourly, from)).toISOString()).toBe('2026-11-01T07:30:00.000Z'); // 02:30 EST
  });

  it('Europe/Berlin spring forward (2026-03-29): 02:30 fires once at 03:30 CEST', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 2, minute: 30, tz: 'Europe/Berlin' };
    expect(walk(spec, '2026-03-28T00:00:00Z', '2026-03-30T12:00:00Z')).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin fall back (2026-10-25): 02:30 fires once, at its first (CEST) occurrence', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 2, minute: 30, tz: 'Europe/Berlin' };
    expect(walk(spec, '2026-10-24T00:00:00Z', '2026-10-26T12:00:00Z')).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST; 02:30 CET (01:30Z) does not fire
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
    const halfHourly: ScheduleSpec = { kind: 'cron', expr: '*/30 * * * *', tz: 'Europe/Berlin' };
    expect(walk(halfHourly, '2026-10-24T23:45:00Z', '2026-10-25T02:00:00Z')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });

  it('fire times are strictly increasing through both transitions (no time fires twice)', () => {
    for (const spec of [
      { kind: 'cron', expr: '*/10 * * * *', tz: 'America/New_York' },
      { kind: 'cron', expr: '*/10 * * * *', tz: 'Europe/Berlin' },
      { kind: 'cron', expr: '0 * * * *', tz: 'Australia/Lord_Howe' }, // 30-minute DST shift
    ] satisfies ScheduleSpec[]) {
      for (const [from, to] of [
        ['2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z'],
        ['2026-03-27T00:00:00Z', '2026-03-30T00:00:00Z'],
        ['2026-10-23T00:00:00Z', '2026-10-26T00:00:00Z'],
        ['2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z'],
        ['2026-04-03T00:00:00Z', '2026-04-06T00:00:00Z'],
      ]) {
        const times = fireTimesBetween(spec, at(from), at(to), 0, 10_000);
        for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]);
      }
    }
  });
});

describe('fireTimesBetween and lastFireTimesBetween', () => {
  it('lists fire times in (from, to], oldest first, bounded by max', () => {
    const spec: ScheduleSpec = { kind: 'every', everyMs: MIN };
    const from = at('2026-01-01T00:00:00Z');
    expect(fireTimesBetween(spec, from, from + 3 * MIN)).toEqual([from + MIN, from + 2 * MIN, from + 3 * MIN]);
    expect(fireTimesBetween(spec, from, from + 3 * MIN, 0, 2)).toEqual([from + MIN, from + 2 * MIN]);
    expect(fireTimesBetween(spec, from, from)).toEqual([]);
  });

  it('lastFireTimesBetween returns the tail of fireTimesBetween for every kind of spec', () => {
    const specs: ScheduleSpec[] = [
      { kind: 'every', everyMs: 7 * MIN },
      { kind: 'cron', expr: '*/5 * * * *', tz: 'UTC' },
      { kind: 'cron', expr: '15 9-17 * * 1-5', tz: 'America/New_York' },
      { kind: 'daily', hour: 2, minute: 30, tz: 'Europe/Berlin' },
    ];
    const from = at('2026-03-05T03:00:00Z');
    const to = at('2026-04-02T21:00:00Z');
    for (const spec of specs) {
      const all = fireTimesBetween(spec, from, to, 123, 100_000);
      for (const count of [1, 3, 50]) expect(lastFireTimesBetween(spec, from, to, 123, count)).toEqual(all.slice(-count));
    }
  });

  it('lastFireTimesBetween stays cheap over a long gap of a per-second cron', () => {
    const spec: ScheduleSpec = { kind: 'cron', expr: '* * * * * *', tz: 'UTC' };
    const from = at('2026-01-01T00:00:00Z');
    const to = at('2026-01-08T00:00:00Z');
    expect(lastFireTimesBetween(spec, from, to, 0, 2)).toEqual([to - 1000, to]);
  });

  it('lastFireTimesBetween returns what exists when fewer than count are in range', () => {
    const spec: ScheduleSpec = { kind: 'daily', hour: 9, minute: 0, tz: 'UTC' };
    expect(isoList(lastFireTimesBetween(spec, at('2026-01-01T10:00:00Z'), at('2026-01-03T10:00:00Z'), 0, 5))).toEqual([
      '2026-01-02T09:00:00.000Z',
      '2026-01-03T09:00:00.000Z',
    ]);
    expect(lastFireTimesBetween(spec, at('2026-01-01T10:00:00Z'), at('2026-01-01T11:00:00Z'), 0, 5)).toEqual([]);
  });
});

describe('describeSchedule', () => {
  it('says what the schedule is, with its zone', () => {
    expect(describeSchedule({ kind: 'every', everyMs: 5 * MIN })).toBe('every 5m');
    expect(describeSchedule({ kind: 'every', everyMs: 90 * MIN })).toBe('every 1h30m');
    expect(describeSchedule({ kind: 'every', everyMs: 1500 })).toBe('every 1s500ms');
    expect(describeSchedule({ kind: 'cron', expr: '0 */2 * * *', tz: 'Europe/Paris' })).toBe('cron 0 */2 * * * (Europe/Paris)');
    expect(describeSchedule({ kind: 'daily', hour: 9, minute: 0, tz: 'UTC' })).toBe('daily 09:00 (UTC)');
    expect(describeSchedule({ kind: 'daily', hour: 9, minute: 5 })).toBe(`daily 09:05 (${machineTimeZone()})`);
  });
});
