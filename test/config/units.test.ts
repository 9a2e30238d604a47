// The unit parsers shared by the config loader, the SDK and the CLI.
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatSize,
  parseDuration,
  parseSchedule,
  parseSize,
  splitCommandLine,
  suggest,
  validateCron,
} from '../../src/config/index.js';
import { BadRequestError } from '../../src/util/errors.js';

function thrown(fn: () => unknown): BadRequestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BadRequestError) return err;
    throw err;
  }
  throw new Error('expected a BadRequestError');
}

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['300s', 300_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['2 minutes', 120_000],
    ['30', 30_000],
    [10, 10_000],
    [0.25, 250],
  ] as const)('%s → %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['5x', 'soon', '', '5s junk', '-1s', '1h-30m'])('rejects %j with the accepted forms', (input) => {
    const err = thrown(() => parseDuration(input));
    expect(err.code).toBe('invalid_duration');
    expect(err.message).toContain(`invalid duration ${JSON.stringify(input)}`);
    expect(err.message).toContain('250ms, 30s, 5m, 1h, 7d');
  });

  it('rejects negative numbers', () => {
    expect(thrown(() => parseDuration(-1)).message).toBe('invalid duration -1: must be zero or more seconds');
  });
});

describe('parseSize', () => {
  it.each([
    ['256Mi', 256 * 1024 ** 2],
    ['1Gi', 1024 ** 3],
    ['100MB', 100_000_000],
    ['512k', 512_000],
    ['512Ki', 512 * 1024],
    ['1.5Gi', 1.5 * 1024 ** 3],
    ['2048', 2048],
    [4096, 4096],
  ] as const)('%s → %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['256Zi', 'lots', '1 2 MB', ''])('rejects %j', (input) => {
    const err = thrown(() => parseSize(input));
    expect(err.code).toBe('invalid_size');
    expect(err.message).toContain(`invalid size ${JSON.stringify(input)}`);
  });
});

describe('parseSchedule', () => {
  it('reads every, cron (prefixed, bare, nickname) and daily forms', () => {
    expect(parseSchedule('every 5m')).toEqual({ kind: 'every', everyMs: 300_000 });
    expect(parseSchedule('every 30s')).toEqual({ kind: 'every', everyMs: 30_000 });
    expect(parseSchedule('cron 0 */2 * * *')).toEqual({ kind: 'cron', expr: '0 */2 * * *' });
    expect(parseSchedule('0 9 * * 1-5')).toEqual({ kind: 'cron', expr: '0 9 * * 1-5' });
    expect(parseSchedule('*/10 * * * * *')).toEqual({ kind: 'cron', expr: '*/10 * * * * *' });
    expect(parseSchedule('@hourly')).toEqual({ kind: 'cron', expr: '@hourly' });
    expect(parseSchedule('cron 0 9 * * *', 'Europe/Paris')).toEqual({ kind: 'cron', expr: '0 9 * * *', tz: 'Europe/Paris' });
    expect(parseSchedule('daily 09:00')).toEqual({ kind: 'daily', hour: 9, minute: 0 });
    expect(parseSchedule('daily 7:45 Asia/Tokyo')).toEqual({ kind: 'daily', hour: 7, minute: 45, tz: 'Asia/Tokyo' });
  });

  it.each([
    ['every 0s', 'invalid_schedule', 'invalid interval "0s": must be greater than zero'],
    ['every', 'invalid_schedule', 'say how often'],
    ['cron 0 9 * *', 'invalid_schedule', 'expected 5 fields'],
    ['cron 0 25 * * *', 'invalid_schedule', 'invalid cron expression "0 25 * * *"'],
    ['0 0 31 2 *', 'invalid_schedule', 'it never fires'],
    ['daily 24:00', 'invalid_schedule', 'invalid time of day "24:00"'],
    ['daily 09:00 Mars/Olympus', 'invalid_timezone', 'unknown time zone "Mars/Olympus"'],
    ['at noon', 'invalid_schedule', 'invalid schedule "at noon": use "every 5m"'],
    ['2025-01-01T00:00:00', 'invalid_schedule', 'invalid schedule "2025-01-01T00:00:00"'],
  ])('%j → %s: %s', (input, code, message) => {
    const err = thrown(() => parseSchedule(input));
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
  });

  it('a time zone is refused on every-schedules and cron checks the zone', () => {
    expect(thrown(() => parseSchedule('every 5m', 'UTC')).message).toContain('only to cron and daily');
    expect(thrown(() => validateCron('0 9 * * *', 'Europe/Pariss')).message).toContain('did you mean "Europe/Paris"');
  });
});

describe('helpers', () => {
  it('splitCommandLine honours quotes and escapes without expanding anything', () => {
    expect(splitCommandLine(`python3 "my agent.py" --name 'a b' x\\ y $HOME`)).toEqual(['python3', 'my agent.py', '--name', 'a b', 'x y', '$HOME']);
    expect(splitCommandLine('  ')).toEqual([]);
    expect(() => splitCommandLine('echo "unterminated')).toThrow('unterminated " quote');
  });

  it('suggest finds typos, transpositions and prefixes, and nothing for unrelated words', () => {
    const keys = ['restart_policy', 'health_check', 'resources', 'schedule'];
    expect(suggest('restart_polcy', keys)).toBe('restart_policy');
    expect(suggest('restart-policy', keys)).toBe('restart_policy');
    expect(suggest('shcedule', keys)).toBe('schedule');
    expect(suggest('resource', keys)).toBe('resources');
    expect(suggest('banana', keys)).toBeNull();
  });

  it('formatDuration and formatSize print the canonical short forms', () => {
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatSize(256 * 1024 ** 2)).toBe('256Mi');
    expect(formatSize(1000)).toBe('1000');
  });
});
