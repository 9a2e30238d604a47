import { describe, expect, it } from 'vitest';
import { InvalidScheduleError, MAX_TIMER_DELAY_MS, Scheduler, planMissed } from '../../src/scheduler/index.js';
import type { FireContext, ScheduleSpec } from '../../src/scheduler/index.js';
import { FakeClock } from '../helpers/fake-clock.js';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
const MIN = 60_000;
const HOUR = 60 * MIN;

interface Fired {
  agent: string;
  fireAt: number;
  now: number;
  context: FireContext;
}

function setup(start = at('2026-01-01T10:00:00Z')) {
  const clock = new FakeClock(start);
  const fired: Fired[] = [];
  const scheduler = new Scheduler({ clock, onFire: (agent, fireAt, context) => fired.push({ agent, fireAt, now: clock.now(), context }) });
  return { clock, fired, scheduler };
}

const every = (ms: number): ScheduleSpec => ({ kind: 'every', everyMs: ms });

describe('Scheduler: firing on time', () => {
  it('fires an every schedule at anchor + k·every, at the fire time itself', () => {
    const { clock, fired, scheduler } = setup();
    const anchor = clock.now() + 2 * MIN; // 10:02
    scheduler.add('monitor', every(5 * MIN), { anchor });
    expect(iso(scheduler.nextFire('monitor')!)).toBe('2026-01-01T10:02:00.000Z');
    clock.advance(20 * MIN);
    expect(fired.map((f) => iso(f.fireAt))).toEqual([
      '2026-01-01T10:02:00.000Z',
      '2026-01-01T10:07:00.000Z',
      '2026-01-01T10:12:00.000Z',
      '2026-01-01T10:17:00.000Z',
    ]);
    expect(fired.every((f) => f.now === f.fireAt)).toBe(true);
    expect(fired[1].context).toEqual({ previousFireAt: at('2026-01-01T10:02:00Z'), coalesced: [], missedReason: null });
  });

  it('defaults the anchor to now, so the first fire is one period after add', () => {
    const { clock, fired, scheduler } = setup();
    expect(scheduler.add('a', every(MIN))).toBe(clock.now() + MIN);
    clock.advance(MIN - 1);
    expect(fired).toHaveLength(0);
    clock.advance(1);
    expect(fired).toHaveLength(1);
  });

  it('fires cron and daily schedules in their zones', () => {
    const { clock, fired, scheduler } = setup(at('2026-01-01T00:00:00Z'));
    scheduler.add('report', { kind: 'daily', hour: 9, minute: 0, tz: 'Europe/Paris' });
    scheduler.add('sweep', { kind: 'cron', expr: '0 */6 * * *', tz: 'UTC' });
    clock.advance(24 * HOUR);
    expect(fired.map((f) => `${f.agent} ${iso(f.fireAt)}`)).toEqual([
      'sweep 2026-01-01T06:00:00.000Z',
      'report 2026-01-01T08:00:00.000Z',
      'sweep 2026-01-01T12:00:00.000Z',
      'sweep 2026-01-01T18:00:00.000Z',
      'sweep 2026-01-02T00:00:00.000Z',
    ]);
  });

  it('fires a daily time in the spring-forward gap once, at the shifted time (America/New_York)', () => {
    const { clock, fired, scheduler } = setup(at('2026-03-07T12:00:00Z'));
    scheduler.add('nightly', { kind: 'daily', hour: 2, minute: 30, tz: 'America/New_York' });
    clock.advance(3 * 24 * HOUR);
    expect(fired.map((f) => iso(f.fireAt))).toEqual([
      '2026-03-08T07:30:00.000Z', // 03:30 EDT
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z',
    ]);
  });

  it('fires a time of the repeated fall-back hour once (America/New_York)', () => {
    const { clock, fired, scheduler } = setup(at('2026-11-01T04:00:00Z'));
    scheduler.add('half-hourly', { kind: 'cron', expr: '*/30 1 * * *', tz: 'America/New_York' });
    clock.advance(4 * HOUR);
    expect(fired.map((f) => iso(f.fireAt))).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T05:30:00.000Z']);
  });

  it('arms one timer whatever the number of agents', () => {
    const { clock, fired, scheduler } = setup();
    for (let i = 0; i < 2000; i++) scheduler.add(`agent-${i}`, every((1 + (i % 50)) * 1000));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(10 * MIN);
    expect(clock.pendingTimers).toBe(1);
    // agent-0 runs every second: 600 fires in 10 minutes; every agent fired at least 12 times.
    expect(fired.filter((f) => f.agent === 'agent-0')).toHaveLength(600);
    const counts = new Map<string, number>();
    for (const f of fired) counts.set(f.agent, (counts.get(f.agent) ?? 0) + 1);
    expect(counts.size).toBe(2000);
    expect(Math.min(...counts.values())).toBe(12);
  });

  it('fires agents due at the same instant in the order they were added', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('b', every(MIN));
    scheduler.add('a', every(MIN));
    clock.advance(MIN);
    expect(fired.map((f) => f.agent)).toEqual(['b', 'a']);
  });

  it('waits longer than one timer can (2^31-1 ms) and still fires on time', () => {
    const { clock, fired, scheduler } = setup(at('2026-01-01T00:00:00Z'));
    scheduler.add('yearly', { kind: 'cron', expr: '0 0 1 1 *', tz: 'UTC' });
    expect(clock.pendingDueTimes()[0] - clock.now()).toBe(MAX_TIMER_DELAY_MS);
    clock.advanceTo(at('2026-12-31T23:59:59Z'));
    expect(fired).toHaveLength(0);
    clock.advance(1000);
    expect(fired.map((f) => iso(f.fireAt))).toEqual(['2027-01-01T00:00:00.000Z']);
  });
});

describe('Scheduler: never fires a time twice', () => {
  it('a backwards clock jump refires nothing', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('a', every(10 * MIN), { anchor: clock.now() });
    clock.advance(HOUR); // 10:10 … 11:00
    expect(fired).toHaveLength(6);
    clock.set(clock.now() - 2 * HOUR); // back to 09:00
    clock.advance(3 * HOUR); // through 12:00 again
    const times = fired.map((f) => f.fireAt);
    expect(new Set(times).size).toBe(times.length);
    expect(times.slice(6).map(iso)).toEqual(['2026-01-01T11:10:00.000Z', '2026-01-01T11:20:00.000Z', '2026-01-01T11:30:00.000Z', '2026-01-01T11:40:00.000Z', '2026-01-01T11:50:00.000Z', '2026-01-01T12:00:00.000Z']);
  });

  it('a timer that wakes before its fire time (monotonic timer, wall clock set back) fires nothing and re-arms', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('a', every(5 * MIN), { anchor: clock.now() });
    clock.set(clock.now() - HOUR);
    clock.runAllTimersNow();
    expect(fired).toHaveLength(0);
    expect(clock.pendingDueTimes()).toEqual([at('2026-01-01T10:05:00Z')]);
    clock.advanceTo(at('2026-01-01T10:05:00Z'));
    expect(fired.map((f) => iso(f.fireAt))).toEqual(['2026-01-01T10:05:00.000Z']);
  });

  it('a forward jump fires each due agent once, for its latest due time, listing the ones it stands in for', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('half-hourly', every(30 * MIN), { anchor: clock.now() });
    scheduler.add('daily', { kind: 'daily', hour: 23, minute: 0, tz: 'UTC' });
    clock.set(clock.now() + 3 * HOUR + 10 * MIN); // 13:10
    expect(fired).toHaveLength(1);
    const [fire] = fired;
    expect(fire.agent).toBe('half-hourly');
    expect(iso(fire.fireAt)).toBe('2026-01-01T13:00:00.000Z');
    expect(fire.context.previousFireAt).toBeNull();
    expect(fire.context.coalesced.map(iso)).toEqual([
      '2026-01-01T10:30:00.000Z',
      '2026-01-01T11:00:00.000Z',
      '2026-01-01T11:30:00.000Z',
      '2026-01-01T12:00:00.000Z',
      '2026-01-01T12:30:00.000Z',
    ]);
    expect(fire.context.missedReason).toBe('daemon down'); // first fire since add()
    expect(iso(scheduler.nextFire('half-hourly')!)).toBe('2026-01-01T13:30:00.000Z');
  });

  it('a later forward jump reports a clock jump, and planMissed turns it into runs and missed records', () => {
    const { clock, fired, scheduler } = setup();
    const anchor = clock.now();
    scheduler.add('a', every(30 * MIN), { anchor });
    clock.advance(30 * MIN); // normal fire at 10:30
    clock.set(clock.now() + 3 * HOUR); // 13:30
    const jump = fired[1];
    expect(jump.context.missedReason).toBe('clock jump');
    const plan = planMissed({
      spec: every(30 * MIN),
      anchor,
      lastFireAt: jump.context.previousFireAt,
      now: jump.fireAt,
      policy: 'run_all',
      maxCatchUp: 3,
      reason: jump.context.missedReason!,
    });
    expect(plan.toRun.map(iso)).toEqual(['2026-01-01T12:30:00.000Z', '2026-01-01T13:00:00.000Z', '2026-01-01T13:30:00.000Z']);
    expect(plan.missed.map(iso)).toEqual(['2026-01-01T11:00:00.000Z', '2026-01-01T11:30:00.000Z', '2026-01-01T12:00:00.000Z']);
    expect(plan.missedReason).toBe('catch-up limit');
  });

  it('after a restart, fire times after the persisted lastFireAt fire once on the next tick (daemon down)', () => {
    const { clock, fired, scheduler } = setup(at('2026-01-01T13:10:00Z'));
    const anchor = at('2026-01-01T09:00:00Z');
    scheduler.add('a', every(HOUR), { anchor, lastFireAt: at('2026-01-01T10:00:00Z') });
    clock.advance(0);
    expect(fired).toHaveLength(1);
    expect(iso(fired[0].fireAt)).toBe('2026-01-01T13:00:00.000Z');
    expect(fired[0].context).toEqual({
      previousFireAt: at('2026-01-01T10:00:00Z'),
      coalesced: [at('2026-01-01T11:00:00Z'), at('2026-01-01T12:00:00Z')],
      missedReason: 'daemon down',
    });
  });

  it('a fire time at or before lastFireAt never fires, even if the clock is behind it', () => {
    const { clock, fired, scheduler } = setup(at('2026-01-01T10:00:00Z'));
    scheduler.add('a', every(HOUR), { anchor: 0, lastFireAt: at('2026-01-01T12:00:00Z') });
    expect(iso(scheduler.nextFire('a')!)).toBe('2026-01-01T13:00:00.000Z');
    clock.advance(3 * HOUR + 1);
    expect(fired.map((f) => iso(f.fireAt))).toEqual(['2026-01-01T13:00:00.000Z']);
  });

  it('removing and re-adding with the last fire time does not refire it', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('a', every(MIN), { anchor: clock.now() });
    clock.advance(MIN);
    scheduler.remove('a');
    scheduler.add('a', every(MIN), { anchor: at('2026-01-01T10:00:00Z'), lastFireAt: fired[0].fireAt });
    clock.advance(MIN);
    expect(fired.map((f) => f.fireAt)).toEqual([clock.now() - MIN, clock.now()]);
  });
});

describe('Scheduler: add, remove, errors', () => {
  it('remove stops the agent and re-arms for the next one', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('soon', every(MIN));
    scheduler.add('later', every(5 * MIN));
    expect(scheduler.remove('soon')).toBe(true);
    expect(scheduler.remove('soon')).toBe(false);
    expect(clock.pendingDueTimes()).toEqual([clock.now() + 5 * MIN]);
    clock.advance(5 * MIN);
    expect(fired.map((f) => f.agent)).toEqual(['later']);
    expect(scheduler.nextFire('soon')).toBeUndefined();
    expect(scheduler.has('later')).toBe(true);
    expect(scheduler.size).toBe(1);
  });

  it('removing the last agent leaves no timer', () => {
    const { clock, scheduler } = setup();
    scheduler.add('a', every(MIN));
    scheduler.remove('a');
    expect(clock.pendingTimers).toBe(0);
  });

  it('add replaces an agent\'s schedule', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('a', every(MIN));
    scheduler.add('a', every(10 * MIN));
    clock.advance(10 * MIN);
    expect(fired).toHaveLength(1);
  });

  it('stays bounded under add/remove churn', () => {
    const { clock, scheduler } = setup();
    for (let i = 0; i < 10_000; i++) {
      scheduler.add(`a${i % 10}`, every(MIN));
      if (i % 3 === 0) scheduler.remove(`a${i % 10}`);
    }
    expect(clock.pendingTimers).toBe(1);
    expect(scheduler.size).toBeLessThanOrEqual(10);
  });

  it('onFire may remove agents, including one due in the same tick', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const scheduler = new Scheduler({
      clock,
      onFire: (agent) => {
        fired.push(agent);
        scheduler.remove('b');
      },
    });
    scheduler.add('a', every(MIN));
    scheduler.add('b', every(MIN));
    clock.advance(3 * MIN);
    expect(fired).toEqual(['a', 'a', 'a']);
  });

  it('an onFire error goes to onError and the other agents still fire', () => {
    const clock = new FakeClock();
    const errors: string[] = [];
    const fired: string[] = [];
    const scheduler = new Scheduler({
      clock,
      onFire: (agent) => {
        if (agent === 'bad') throw new Error('boom');
        fired.push(agent);
      },
      onError: (error, agent) => errors.push(`${agent}: ${(error as Error).message}`),
    });
    scheduler.add('bad', every(MIN));
    scheduler.add('good', every(MIN));
    clock.advance(2 * MIN);
    expect(errors).toEqual(['bad: boom', 'bad: boom']);
    expect(fired).toEqual(['good', 'good']);
  });

  it('without onError an onFire error is rethrown, after the schedule moved on', () => {
    const clock = new FakeClock();
    const scheduler = new Scheduler({ clock, onFire: () => { throw new Error('boom'); } });
    scheduler.add('a', every(MIN));
    expect(() => clock.advance(MIN)).toThrow('boom');
    expect(scheduler.nextFire('a')).toBe(clock.now() + MIN);
    expect(clock.pendingTimers).toBe(1);
  });

  it('an invalid spec throws InvalidScheduleError and changes nothing', () => {
    const { clock, scheduler } = setup();
    scheduler.add('a', every(MIN));
    expect(() => scheduler.add('a', { kind: 'cron', expr: 'nope' })).toThrow(InvalidScheduleError);
    expect(scheduler.nextFire('a')).toBe(clock.now() + MIN);
  });

  it('close cancels the timer and forgets every agent', () => {
    const { clock, fired, scheduler } = setup();
    scheduler.add('a', every(MIN));
    scheduler.close();
    clock.advance(HOUR);
    expect(fired).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
    expect(() => scheduler.add('a', every(MIN))).toThrow(/closed/);
  });
});

describe('Scheduler: onFires, every fire of a tick in one call', () => {
  it('hands the fires due together to one call, in fire order, with the same contexts onFire gets', () => {
    const start = at('2026-01-01T10:00:00Z');
    const clock = new FakeClock(start);
    const calls: Array<Array<{ agent: string; fireAt: number; context: FireContext }>> = [];
    const scheduler = new Scheduler({ clock, onFires: (due) => calls.push(due) });
    // a, b, c on the same phase; d half a second later; e added with an old last fire (coalesced).
    for (const name of ['a', 'b', 'c']) scheduler.add(name, every(1000), { anchor: start });
    scheduler.add('d', every(1000), { anchor: start + 500 });
    scheduler.add('e', every(1000), { anchor: start, lastFireAt: start - 3000 });
    clock.advance(1000);
    expect(calls.map((due) => due.map((f) => f.agent))).toEqual([['e'], ['d'], ['a', 'b', 'c', 'e']]);
    expect(calls[0]![0]!.context.coalesced).toEqual([start - 2000, start - 1000]);
    expect(calls[0]![0]!.context.missedReason).toBe('daemon down');
    expect(calls[2]!.every((f) => f.fireAt === start + 1000 && f.context.coalesced.length === 0)).toBe(true);
    scheduler.close();
  });

  it('passes an error thrown by onFires to onError and keeps scheduling', () => {
    const clock = new FakeClock();
    const errors: string[] = [];
    let n = 0;
    const scheduler = new Scheduler({
      clock,
      onFires: () => {
        n++;
        throw new Error('store down');
      },
      onError: (err, agent) => errors.push(`${agent}: ${(err as Error).message}`),
    });
    scheduler.add('a', every(1000), { anchor: clock.now() });
    clock.advance(3000);
    expect(n).toBe(3);
    expect(errors).toEqual(['*: store down', '*: store down', '*: store down']);
    expect(() => new Scheduler({ clock })).toThrow(/onFire or onFires/);
  });

  it('holds its ticks while maxPendingFires are pending, then coalesces what came due meanwhile', async () => {
    const start = at('2026-01-01T10:00:00Z');
    const clock = new FakeClock(start);
    const calls: Array<Array<{ agent: string; fireAt: number; context: FireContext }>> = [];
    const settle: Array<() => void> = [];
    const scheduler = new Scheduler({
      clock,
      maxPendingFires: 2,
      onFires: (due) => {
        calls.push(due);
        return new Promise<void>((resolve) => settle.push(resolve));
      },
    });
    scheduler.add('a', every(1000), { anchor: start });
    scheduler.add('b', every(1000), { anchor: start + 500 });
    // A store that does not answer for 10 s: two ticks (b at +0.5 s, a at +1 s) and nothing more.
    clock.advance(10_000);
    expect(calls.map((due) => due.map((f) => [f.agent, f.fireAt - start]))).toEqual([[['b', 500]], [['a', 1000]]]);
    // One settles: the next tick holds every time that came due meanwhile, as one coalesced fire each.
    settle.shift()!();
    await new Promise((r) => setImmediate(r));
    clock.advance(0);
    expect(calls).toHaveLength(3);
    const third = calls[2]!;
    expect(third.map((f) => [f.agent, f.fireAt - start])).toEqual([
      ['b', 9_500],
      ['a', 10_000],
    ]);
    expect(third[0]!.context.coalesced.map((t) => t - start)).toEqual([1500, 2500, 3500, 4500, 5500, 6500, 7500, 8500]);
    expect(third[1]!.context.coalesced.map((t) => t - start)).toEqual([2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);
    expect(third.every((f) => f.context.missedReason === 'clock jump')).toBe(true);
    // Without promises (or below the limit) nothing changes: the next second ticks as usual.
    for (const s of settle.splice(0)) s();
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    expect(calls.slice(3).map((due) => due.map((f) => [f.agent, f.fireAt - start]))).toEqual([[['b', 10_500]], [['a', 11_000]]]);
    scheduler.close();
  });
});
