// Fire times of a ScheduleSpec. Pure: no timers, no clock; every function takes the times it needs.
//
// `every` fires at anchor + k·everyMs (k any integer), so an agent first started at 10:02 with
// `every 5m` fires at 10:07, 10:12, … and keeps that phase across restarts when the daemon passes
// the same anchor. Without an anchor the phase is the Unix epoch (every 5m → :00, :05, … UTC).
//
// `cron` and `daily` use croner to parse and match the pattern, but croner only ever sees a
// "wall clock" timeline (local time in the zone written as if it were UTC); turning wall times into
// instants is done here. Why: croner 9's own `timezone` option, asked for the next run from inside
// a repeated fall-back hour, returns a time in the past (America/New_York, from 01:10 EST it
// answers 01:30 EDT, forty minutes earlier), and it picks the first occurrence of a repeated time
// in New York but the second in Berlin. Our rules, the same in every zone:
//   - Spring forward (a wall time that does not exist): it fires once, shifted forward by the
//     gap, which is what croner gives too: 02:30 on 2026-03-08 in New York fires at 03:30 EDT.
//     When the shifted time coincides with a real match (02:00 → 03:00) the two fire once.
//   - Fall back (a wall time that happens twice): it fires once, at its first occurrence
//     (01:30 EDT in New York on 2026-11-01); the second pass through the hour fires nothing.
import { Cron } from 'croner';
import { OpenClawError } from '../util/errors.js';
import { formatDuration } from '../util/format-duration.js';
import type { ScheduleSpec } from './types.js';

/** A schedule that cannot produce fire times (bad cron expression, unknown zone, zero period). */
export class InvalidScheduleError extends OpenClawError {
  constructor(message: string) {
    super('schedule_invalid', message, { status: 400, exitCode: 2 });
  }
}

const DAY_MS = 86_400_000;
/** Bound on pattern matches skipped in one lookup (a per-second cron crossing a repeated hour skips 3,600). */
const MAX_SKIPPED_MATCHES = 100_000;

/** The zone used when a cron/daily spec names none: the machine's (TZ, else the system zone). */
export function machineTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * The first fire time strictly after `afterMs`. `anchorMs` sets the phase of `every` schedules
 * (ignored by cron/daily). Throws InvalidScheduleError for a spec that cannot fire.
 */
export function nextFireAfter(spec: ScheduleSpec, afterMs: number, anchorMs = 0): number {
  switch (spec.kind) {
    case 'every': {
      const every = checkedPeriod(spec.everyMs);
      const k = Math.floor((afterMs - anchorMs) / every) + 1;
      return anchorMs + k * every;
    }
    case 'cron':
      return nextWallMatchAfter(compileCron(spec.expr), zoneOf(spec), afterMs, spec.expr);
    case 'daily': {
      const expr = dailyCronExpression(spec);
      return nextWallMatchAfter(compileCron(expr), zoneOf(spec), afterMs, expr);
    }
  }
}

/**
 * Fire times t with fromExclusive < t ≤ toInclusive, oldest first, at most `max` of them (the
 * oldest `max`). Use lastFireTimesBetween for the most recent ones.
 */
export function fireTimesBetween(spec: ScheduleSpec, fromExclusive: number, toInclusive: number, anchorMs = 0, max = 1000): number[] {
  const out: number[] = [];
  let t = fromExclusive;
  while (out.length < max) {
    t = nextFireAfter(spec, t, anchorMs);
    if (t > toInclusive) break;
    out.push(t);
  }
  return out;
}

/**
 * The most recent `count` fire times in (fromExclusive, toInclusive], oldest first. Cost does not
 * grow with the length of the range: `every` is arithmetic, cron searches backwards from the end in
 * doubling windows, so "what was due during a week of downtime" stays cheap for a per-second cron.
 */
export function lastFireTimesBetween(spec: ScheduleSpec, fromExclusive: number, toInclusive: number, anchorMs = 0, count = 1): number[] {
  if (count <= 0 || toInclusive <= fromExclusive) return [];
  if (spec.kind === 'every') {
    const every = checkedPeriod(spec.everyMs);
    const out: number[] = [];
    let t = anchorMs + Math.floor((toInclusive - anchorMs) / every) * every;
    while (t > fromExclusive && out.length < count) {
      out.push(t);
      t -= every;
    }
    return out.reverse();
  }
  for (let span = 1000; ; span *= 2) {
    const start = Math.max(fromExclusive, toInclusive - span);
    const window: number[] = [];
    for (let t = nextFireAfter(spec, start, anchorMs); t <= toInclusive; t = nextFireAfter(spec, t, anchorMs)) {
      window.push(t);
      if (window.length > count) window.shift();
    }
    if (window.length >= count || start === fromExclusive) return window;
  }
}

/** 'every 5m', 'cron 0 *\/2 * * * (Europe/Paris)', 'daily 09:00 (UTC)'. */
export function describeSchedule(spec: ScheduleSpec): string {
  switch (spec.kind) {
    case 'every':
      return `every ${formatDuration(spec.everyMs)}`;
    case 'cron':
      return `cron ${spec.expr} (${zoneOf(spec)})`;
    case 'daily':
      return `daily ${pad2(spec.hour)}:${pad2(spec.minute)} (${zoneOf(spec)})`;
  }
}

/** Throws InvalidScheduleError with a message that says what to fix; config loading calls this. */
export function validateSchedule(spec: ScheduleSpec): void {
  // Computing one fire time exercises every check: period, hour/minute, expression and zone.
  nextFireAfter(spec, Date.UTC(2026, 0, 1));
}

// ---- cron on the wall-clock timeline -------------------------------------------------------

function dailyCronExpression(spec: { hour: number; minute: number }): string {
  const { hour, minute } = spec;
  if (!Number.isInteger(hour) || hour < 0 || hour > 23 || !Number.isInteger(minute) || minute < 0 || minute > 59) {
    throw new InvalidScheduleError(`daily schedule time ${hour}:${minute} is not a time of day; use hour 0-23 and minute 0-59`);
  }
  return `${minute} ${hour} * * *`;
}

function zoneOf(spec: { tz?: string }): string {
  return spec.tz ?? machineTimeZone();
}

function checkedPeriod(everyMs: number): number {
  if (!Number.isFinite(everyMs) || everyMs <= 0) {
    throw new InvalidScheduleError(`'every' period must be a positive duration, got ${everyMs} ms`);
  }
  return everyMs;
}

// Parsed patterns, shared by all agents with the same expression (croner parsing is the costly part).
const compiledCrons = new Map<string, Cron>();

function compileCron(expr: string): Cron {
  let cron = compiledCrons.get(expr);
  if (cron) return cron;
  const fields = expr.trim().split(/\s+/);
  // croner would take an ISO date as a one-shot "pattern", and fills '?' from the current time.
  if (!expr.trim().startsWith('@') && fields.length !== 5 && fields.length !== 6) {
    throw new InvalidScheduleError(`invalid cron expression '${expr}': expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first`);
  }
  if (expr.includes('?')) throw new InvalidScheduleError(`invalid cron expression '${expr}': '?' is not supported; use '*'`);
  try {
    // No callback and paused: croner arms no timer; we only use it as a pattern matcher. The
    // matcher runs in UTC because its input is a wall-clock time (see the file header); utcOffset 0
    // rather than timezone 'UTC' because croner then skips Intl: 7 µs per lookup instead of 200.
    cron = new Cron(expr, { utcOffset: 0, paused: true });
  } catch (err) {
    throw new InvalidScheduleError(`invalid cron expression '${expr}': ${(err as Error).message}`);
  }
  if (compiledCrons.size >= 1000) compiledCrons.clear();
  compiledCrons.set(expr, cron);
  return cron;
}

/** Next instant > afterMs whose local time in `zone` matches `cron`, applying the DST rules above. */
function nextWallMatchAfter(cron: Cron, zone: string, afterMs: number, expr: string): number {
  const offsetNow = offsetAt(zone, afterMs);
  const offsetDayBefore = offsetAt(zone, afterMs - DAY_MS);
  let wall = afterMs + offsetNow;
  // Just after a spring-forward, wall times in the skipped span have shifted fire times that may
  // still lie ahead (*/20 2 * * *: 02:20 fires at 03:20 EDT); scan from where the wall clock
  // would be without the jump. Matches that resolve to instants ≤ afterMs are skipped below.
  if (offsetDayBefore < offsetNow && offsetAt(zone, afterMs - (offsetNow - offsetDayBefore)) === offsetDayBefore) {
    wall = afterMs + offsetDayBefore;
  }
  for (let i = 0; i < MAX_SKIPPED_MATCHES; i++) {
    const match = cron.nextRun(new Date(wall));
    if (!match) throw new InvalidScheduleError(`cron expression '${expr}' never fires after ${new Date(afterMs).toISOString()}`);
    wall = match.getTime();
    const instants = wallToInstants(zone, wall);
    // First occurrence only: if it has passed, the second pass of a repeated hour fires nothing.
    const first = instants[0];
    if (first > afterMs) return first;
  }
  throw new InvalidScheduleError(`cron expression '${expr}' in ${zone}: no fire time found near ${new Date(afterMs).toISOString()}`);
}

/**
 * The instants at which the zone's clock shows `wall` (a wall time written as UTC epoch ms):
 * one normally, two (ascending) in a repeated hour, and for a wall time skipped by a spring-forward
 * the instant shifted forward by the gap (02:30 → 03:30 EDT).
 */
function wallToInstants(zone: string, wall: number): number[] {
  const offsetBefore = offsetAt(zone, wall - DAY_MS);
  const offsetAfter = offsetAt(zone, wall + DAY_MS);
  const instants: number[] = [];
  for (const offset of offsetBefore === offsetAfter ? [offsetBefore] : [offsetBefore, offsetAfter]) {
    const instant = wall - offset;
    if (offsetAt(zone, instant) === offset) instants.push(instant);
  }
  if (instants.length === 0) return [wall - offsetBefore];
  return instants.sort((a, b) => a - b);
}

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

/** UTC offset of `zone` at instant t, in ms (New York in winter: -18,000,000). */
function offsetAt(zone: string, t: number): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 0;
  let fmt = zoneFormatters.get(zone);
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new InvalidScheduleError(`unknown time zone '${zone}'; use an IANA name such as 'Europe/Paris' or 'UTC'`);
    }
    zoneFormatters.set(zone, fmt);
  }
  const whole = Math.floor(t / 1000) * 1000;
  const f: Record<string, number> = {};
  for (const part of fmt.formatToParts(whole)) if (part.type !== 'literal') f[part.type] = Number(part.value);
  const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour === 24 ? 0 : f.hour, f.minute, f.second);
  return asUtc - whole;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
