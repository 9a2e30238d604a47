// `Schedule.every/cron/daily` build a ScheduleSpec, the same data `schedule:` in openclaw.yaml
// produces. Validation happens here, at class-definition time, so a typo fails when the module is
// loaded (and `openclaw` reports it against the agent) instead of when the first run is due.
import { Cron } from 'croner';
import type { ScheduleSpec } from '../scheduler/types.js';
import { OpenClawError } from '../util/errors.js';

export type { ScheduleSpec };

export interface EveryParts {
  milliseconds?: number;
  seconds?: number;
  minutes?: number;
  hours?: number;
  days?: number;
}

export class ScheduleError extends OpenClawError {
  constructor(message: string) {
    super('schedule_invalid', message, { status: 400, exitCode: 78 });
  }
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART_MS: Record<keyof EveryParts, number> = {
  milliseconds: 1,
  seconds: 1000,
  minutes: 60_000,
  hours: 3_600_000,
  days: 86_400_000,
};

/**
 * Parses a duration such as '30s', '5m', '1h30m', '2d', '250ms' into milliseconds.
 * Returns null when the text is not a duration.
 */
export function parseDuration(text: string): number | null {
  const s = text.trim().toLowerCase();
  if (s === '') return null;
  const re = /(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]]!;
    consumed = re.lastIndex;
    while (s[consumed] === ' ') consumed++;
    re.lastIndex = consumed;
  }
  if (consumed !== s.length) return null;
  return Math.round(total);
}

function validTimeZone(tz: unknown, where: string): string | undefined {
  if (tz === undefined) return undefined;
  if (typeof tz !== 'string' || tz.trim() === '') throw new ScheduleError(`${where}: tz must be an IANA time zone name such as 'Europe/Berlin'`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ScheduleError(`${where}: unknown time zone '${tz}'; use an IANA name such as 'UTC' or 'America/New_York'`);
  }
  return tz;
}

function every(interval: EveryParts | string): ScheduleSpec {
  let everyMs: number;
  if (typeof interval === 'string') {
    const ms = parseDuration(interval);
    if (ms === null) {
      throw new ScheduleError(`Schedule.every('${interval}'): not a duration; use forms like '30s', '5m', '1h30m' or '1d'`);
    }
    everyMs = ms;
  } else if (interval !== null && typeof interval === 'object' && !Array.isArray(interval)) {
    const keys = Object.keys(interval);
    const unknown = keys.filter((k) => !(k in PART_MS));
    if (unknown.length > 0) {
      throw new ScheduleError(`Schedule.every(): unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; use seconds, minutes, hours or days`);
    }
    if (keys.length === 0) throw new ScheduleError('Schedule.every(): give an interval, e.g. Schedule.every({ minutes: 5 }) or Schedule.every(\'5m\')');
    everyMs = 0;
    for (const k of keys as Array<keyof EveryParts>) {
      const v = interval[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new ScheduleError(`Schedule.every(): ${k} must be a non-negative number, got ${JSON.stringify(v)}`);
      }
      everyMs += v * PART_MS[k];
    }
    everyMs = Math.round(everyMs);
  } else {
    throw new ScheduleError(`Schedule.every(): expected { minutes: 5 } or '5m', got ${typeof interval === 'number' ? `the number ${interval} (say which unit: { seconds: ${interval} })` : JSON.stringify(interval)}`);
  }
  if (everyMs <= 0) throw new ScheduleError('Schedule.every(): the interval must be greater than zero');
  return { kind: 'every', everyMs };
}

function cron(expr: string, opts: { tz?: string } = {}): ScheduleSpec {
  if (typeof expr !== 'string' || expr.trim() === '') {
    throw new ScheduleError("Schedule.cron(): give a cron expression such as '0 9 * * 1-5'");
  }
  const tz = validTimeZone(opts?.tz, `Schedule.cron('${expr}')`);
  try {
    // Parsing only: a paused job with no callback never fires and holds no timer.
    const job = new Cron(expr.trim(), { paused: true, ...(tz ? { timezone: tz } : {}) });
    job.stop();
  } catch (err) {
    throw new ScheduleError(`Schedule.cron('${expr}'): invalid cron expression: ${(err as Error).message}`);
  }
  return tz ? { kind: 'cron', expr: expr.trim(), tz } : { kind: 'cron', expr: expr.trim() };
}

function daily(opts: { hour: number; minute?: number; tz?: string }): ScheduleSpec {
  if (opts === null || typeof opts !== 'object') throw new ScheduleError('Schedule.daily(): expected { hour, minute?, tz? }');
  const { hour, minute = 0 } = opts;
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new ScheduleError(`Schedule.daily(): hour must be an integer 0-23, got ${JSON.stringify(hour)}`);
  if (!Number.isInteger(minute) || minute < 0 || minute > 59) throw new ScheduleError(`Schedule.daily(): minute must be an integer 0-59, got ${JSON.stringify(minute)}`);
  const tz = validTimeZone(opts.tz, 'Schedule.daily()');
  return tz ? { kind: 'daily', hour, minute, tz } : { kind: 'daily', hour, minute };
}

// Parses the short text forms also accepted as `static schedule` strings:
// 'every 5m', 'daily 09:30 [Europe/Berlin]', 'cron 0/5 * * * * [tz]' or a bare cron expression.
function parse(text: string): ScheduleSpec {
  const s = String(text).trim();
  const ev = /^every\s+(.+)$/i.exec(s);
  if (ev) return every(ev[1]!);
  const dl = /^daily(?:\s+(?:at\s+)?(\d{1,2}):(\d{2}))?(?:\s+(\S+))?$/i.exec(s);
  if (dl) return daily({ hour: Number(dl[1] ?? 0), minute: Number(dl[2] ?? 0), ...(dl[3] ? { tz: dl[3] } : {}) });
  const cr = /^cron\s+(.+)$/i.exec(s);
  const body = cr ? cr[1]! : s;
  const fields = body.split(/\s+/);
  // A trailing field with a '/' and letters is a time zone: 'cron 0 9 * * 1-5 America/New_York'.
  if (fields.length >= 6 && /[A-Za-z]+\/[A-Za-z_]+|^UTC$/.test(fields[fields.length - 1]!)) {
    return cron(fields.slice(0, -1).join(' '), { tz: fields[fields.length - 1]! });
  }
  return cron(body);
}

export const Schedule = { every, cron, daily, parse } as const;

/** True when `x` is a well-formed ScheduleSpec (as produced by Schedule.*). */
export function isScheduleSpec(x: unknown): x is ScheduleSpec {
  if (x === null || typeof x !== 'object') return false;
  const s = x as Record<string, unknown>;
  switch (s.kind) {
    case 'every':
      return typeof s.everyMs === 'number' && s.everyMs > 0;
    case 'cron':
      return typeof s.expr === 'string' && (s.tz === undefined || typeof s.tz === 'string');
    case 'daily':
      return typeof s.hour === 'number' && typeof s.minute === 'number';
    default:
      return false;
  }
}
