import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatRate, formatRelative, formatTimestamp, renderTable } from '../../src/cli/format.js';

describe('renderTable', () => {
  it('draws a box table sized to the widest cell, as the seed does', () => {
    expect(renderTable(['Version', 'Keys'], [['v142', '4'], ['v9', '12']])).toBe(
      [
        '┌─────────┬──────┐',
        '│ Version │ Keys │',
        '├─────────┼──────┤',
        '│ v142    │ 4    │',
        '│ v9      │ 12   │',
        '└─────────┴──────┘',
      ].join('\n'),
    );
  });

  it('right-aligns the columns asked for', () => {
    expect(renderTable(['N', 'Name'], [['7', 'a'], ['12', 'b']], { align: ['right'] }).split('\n')[3]).toBe('│  7 │ a    │');
  });
});

describe('formatDuration', () => {
  it.each([
    [4 * 86_400_000 + 12 * 3_600_000 + 59 * 60_000, '4d 12h'],
    [3 * 3_600_000 + 5 * 60_000, '3h 5m'],
    [3 * 60_000 + 59_000, '3m'],
    [42_500, '42s'],
    [0, '0s'],
    [null, '-'],
    [-5, '-'],
  ])('%s ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('formatRelative', () => {
  const now = 1_000_000_000_000;
  it.each([
    [now - 2 * 60_000 - 30_000, '2m ago'],
    [now - 3_600_000, '1h ago'],
    [now - 3 * 86_400_000, '3d ago'],
    [now - 15_000, '15s ago'],
    [now - 200, 'just now'],
    [now + 5 * 60_000, 'in 5m'],
    [null, '-'],
  ])('%s → %s', (at, text) => expect(formatRelative(at, now)).toBe(text));
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [2.3 * 1024 * 1024, '2.3 MB'],
    [1536, '1.5 KB'],
    [230 * 1024 * 1024, '230 MB'],
    [5 * 1024 ** 3, '5.0 GB'],
    [null, '-'],
  ])('%s → %s', (n, text) => expect(formatBytes(n)).toBe(text));
});

describe('formatRate', () => {
  it.each([
    [0.997, '99.7%'],
    [0.982, '98.2%'],
    [1, '100%'],
    [0.57, '57%'],
    [0, '0%'],
    [null, '-'],
  ])('%s → %s', (r, text) => expect(formatRate(r)).toBe(text));

  it('never rounds a fleet with failures up to 100%', () => {
    expect(formatRate(0.9999)).toBe('99.9%');
  });
});

describe('formatTimestamp', () => {
  it('prints ISO-8601 UTC without milliseconds', () => {
    expect(formatTimestamp(Date.UTC(2026, 3, 18, 14, 30, 0, 123))).toBe('2026-04-18T14:30:00Z');
  });
});
