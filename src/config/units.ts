// Parsers for the human units used in openclaw.yaml, the SDK (`Schedule.every('5m')`) and the CLI.
// Each throws a BadRequestError whose message says what was wrong and what is accepted, so the
// config loader, the API and the CLI can all show it as is.
import { Cron } from 'croner';
import { BadRequestError } from '../util/errors.js';
import type { ScheduleSpec } from '../scheduler/types.js';
import { suggest } from './suggest.js';

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

const DURATION_HINT = 'use a number with a unit (250ms, 30s, 5m, 1h, 7d, 1h30m) or a plain number of seconds';

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * A duration in milliseconds. `250ms`, `5s`, `10m`, `1h`, `7d`, `1w`, combinations like `1h30m`;
 * a plain number (YAML number or numeric string) means seconds, as in seed 003's `timeout: 10`.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new BadRequestError(`invalid duration ${show(input)}: must be zero or more seconds`, 'invalid_duration');
    }
    return Math.round(input * 1000);
  }
  if (typeof input !== 'string') {
    throw new BadRequestError(`invalid duration ${show(input)}: ${DURATION_HINT}`, 'invalid_duration');
  }
  const s = input.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/gy;
  let total = 0;
  let pos = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = part.exec(s)) !== null) {
    const unit = DURATION_UNITS[m[2]];
    if (unit === undefined) {
      throw new BadRequestError(`invalid duration ${show(input)}: unknown unit "${m[2]}"; ${DURATION_HINT}`, 'invalid_duration');
    }
    total += Number(m[1]) * unit;
    pos = part.lastIndex;
    matched++;
  }
  if (matched === 0 || pos !== s.length) {
    throw new BadRequestError(`invalid duration ${show(input)}: ${DURATION_HINT}`, 'invalid_duration');
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 1024,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

const SIZE_HINT = 'use a number with a unit (512k, 100MB, 256Mi, 1Gi) or a plain number of bytes';

/**
 * A size in bytes. Binary units `Ki Mi Gi Ti` (1024-based, as in Kubernetes), decimal `k M G T`
 * with or without `B` (1000-based); units are case-insensitive, so `512m` is 512 MB, never "milli".
 */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new BadRequestError(`invalid size ${show(input)}: must be zero or more bytes`, 'invalid_size');
    }
    return Math.round(input);
  }
  if (typeof input !== 'string') throw new BadRequestError(`invalid size ${show(input)}: ${SIZE_HINT}`, 'invalid_size');
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(input.trim());
  if (!m) throw new BadRequestError(`invalid size ${show(input)}: ${SIZE_HINT}`, 'invalid_size');
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) {
    throw new BadRequestError(`invalid size ${show(input)}: unknown unit "${m[2]}"; ${SIZE_HINT}`, 'invalid_size');
  }
  return Math.round(Number(m[1]) * unit);
}

/** `300000` → `5m`, `5400000` → `1h30m`, `250` → `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms / 1000;
  let out = '';
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const q = Math.floor(rest / n);
    if (q > 0) {
      out += `${q}${u}`;
      rest -= q * n;
    }
  }
  return out;
}

/** `268435456` → `256Mi`; falls back to plain bytes when no binary unit divides evenly. */
export function formatSize(bytes: number): string {
  for (const [u, n] of [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${u}`;
  }
  return String(bytes);
}

/** Throws unless `tz` is an IANA time zone this Node knows; suggests the closest name. */
export function validateTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return;
  } catch {
    let zones: string[] = [];
    try {
      zones = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf('timeZone');
    } catch {
      // Older ICU builds lack supportedValuesOf: no suggestion then.
    }
    const near = suggest(tz, zones);
    throw new BadRequestError(
      `unknown time zone ${JSON.stringify(tz)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}; use an IANA name such as Europe/Paris or UTC`,
      'invalid_timezone',
    );
  }
}

const CRON_NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly'];

/**
 * Throws unless `expr` is a cron expression croner accepts (5 fields, or 6 with seconds first,
 * or a nickname such as `@hourly`) that fires at least once.
 */
export function validateCron(expr: string, tz?: string): void {
  const e = expr.trim();
  const fields = e.split(/\s+/).filter(Boolean);
  const bad = (why: string) =>
    new BadRequestError(`invalid cron expression ${JSON.stringify(expr)}: ${why}`, 'invalid_schedule');
  if (e.startsWith('@')) {
    if (!CRON_NICKNAMES.includes(e.toLowerCase())) throw bad(`unknown nickname; use one of ${CRON_NICKNAMES.join(', ')}`);
  } else if (fields.length !== 5 && fields.length !== 6) {
    // Checked here because croner also accepts an ISO date as a one-shot "pattern".
    throw bad(`expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got ${fields.length}`);
  }
  if (tz !== undefined) validateTimeZone(tz);
  let job: Cron;
  try {
    job = new Cron(e, { paused: true, timezone: tz });
  } catch (err) {
    throw bad(String((err as Error).message ?? err).replace(/^CronPattern:\s*/, ''));
  }
  const next = job.nextRun();
  job.stop();
  if (next === null) throw bad('it never fires');
}

/** `HH:MM` (24h) → hour and minute. */
export function parseDailyTime(input: string): { hour: number; minute: number } {
  const m = /^(\d{1,2}):(\d{2})$/.exec(input.trim());
  const hour = m ? Number(m[1]) : NaN;
  const minute = m ? Number(m[2]) : NaN;
  if (!m || hour > 23 || minute > 59) {
    throw new BadRequestError(`invalid time of day ${JSON.stringify(input)}: use 24-hour HH:MM, e.g. 09:00 or 17:30`, 'invalid_schedule');
  }
  return { hour, minute };
}

/** An interval for `every`: a duration greater than zero. */
export function parseEvery(input: string | number): number {
  const ms = parseDuration(input);
  if (ms <= 0) throw new BadRequestError(`invalid interval ${show(input)}: must be greater than zero`, 'invalid_schedule');
  return ms;
}

const SCHEDULE_HINT =
  'use "every 5m", "cron 0 */2 * * *", a bare cron expression such as "0 9 * * 1-5", or "daily 09:00" (optionally followed by a time zone: "daily 09:00 Europe/Paris")';

/**
 * A schedule written as one string:
 * `every 5m` · `cron 0 9 * * *` · `0 9 * * 1-5` (bare cron) · `@hourly` · `daily 09:00` · `daily 09:00 Europe/Paris`.
 * `tz` applies to cron and daily schedules (the mapping form `{ cron, tz }` passes it here).
 */
export function parseSchedule(input: string, tz?: string): ScheduleSpec {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new BadRequestError(`invalid schedule ${show(input)}: ${SCHEDULE_HINT}`, 'invalid_schedule');
  }
  const s = input.trim();
  const [head, ...restParts] = s.split(/\s+/);
  const rest = restParts.join(' ');
  const word = head.toLowerCase();
  if (word === 'every') {
    if (tz !== undefined) throw new BadRequestError('a time zone applies only to cron and daily schedules, not to "every"', 'invalid_schedule');
    if (!rest) throw new BadRequestError(`invalid schedule ${show(input)}: say how often, e.g. "every 5m"`, 'invalid_schedule');
    return { kind: 'every', everyMs: parseEvery(rest) };
  }
  if (word === 'cron') {
    if (!rest) throw new BadRequestError(`invalid schedule ${show(input)}: give the expression, e.g. "cron 0 */2 * * *"`, 'invalid_schedule');
    validateCron(rest, tz);
    return tz !== undefined ? { kind: 'cron', expr: rest, tz } : { kind: 'cron', expr: rest };
  }
  if (word === 'daily') {
    if (restParts.length === 0 || restParts.length > 2) {
      throw new BadRequestError(`invalid schedule ${show(input)}: use "daily HH:MM" or "daily HH:MM Area/City"`, 'invalid_schedule');
    }
    const { hour, minute } = parseDailyTime(restParts[0]);
    if (restParts.length === 2 && tz !== undefined) {
      throw new BadRequestError(`invalid schedule ${show(input)}: the time zone is given twice`, 'invalid_schedule');
    }
    const zone = restParts[1] ?? tz;
    if (zone !== undefined) validateTimeZone(zone);
    return zone !== undefined ? { kind: 'daily', hour, minute, tz: zone } : { kind: 'daily', hour, minute };
  }
  const fields = s.split(/\s+/);
  if (s.startsWith('@') || fields.length === 5 || fields.length === 6) {
    validateCron(s, tz);
    return tz !== undefined ? { kind: 'cron', expr: s, tz } : { kind: 'cron', expr: s };
  }
  throw new BadRequestError(`invalid schedule ${show(input)}: ${SCHEDULE_HINT}`, 'invalid_schedule');
}

/**
 * Splits a command line into words the way a POSIX shell would for quoting only: whitespace
 * separates, '…' is literal, "…" allows \" and \\, a backslash escapes the next character.
 * Nothing is expanded (no $VARS, globs or pipes); use `[sh, -c, "…"]` for that.
 */
export function splitCommandLine(input: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (input[i + 1] === '"' || input[i + 1] === '\\')) cur += input[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < input.length) {
      cur += input[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new BadRequestError(`unterminated ${quote} quote in command ${JSON.stringify(input)}`, 'invalid_command');
  if (inWord) words.push(cur);
  return words;
}
