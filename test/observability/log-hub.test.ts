// LogHub on disk: pino-shaped JSON lines, rotation by size and by age, `logging.retention`
// deleting old files, and reading history back across rotated files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromJsonLine, LogHub, toJsonLine } from '../../src/observability/log-hub.js';
import type { LogLine } from '../../src/runtime/protocol.js';
import { waitFor } from '../helpers/project.js';

const DAY = 86_400_000;

function line(time: number, msg: string, extra: Partial<LogLine> = {}): LogLine {
  return { time, level: 'info', agent: 'a', instance: 'a#0', msg, ...extra };
}

describe('log file lines', () => {
  it('are pino-shaped (numeric level, fields at the top) and read back the same', () => {
    const l = line(1_700_000_000_000, 'hello', { level: 'warning', runId: 'r1', traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), fields: { n: 1, msg: 'clash' } });
    const json = JSON.parse(toJsonLine(l));
    expect(json).toEqual({ level: 40, time: 1_700_000_000_000, agent: 'a', instance: 'a#0', msg: 'hello', runId: 'r1', traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), n: 1, fields: { msg: 'clash' } });
    expect(fromJsonLine(toJsonLine(l))).toEqual(l);
    // Files written before this format (string level, nested fields) still read.
    expect(fromJsonLine(JSON.stringify({ time: 5, level: 'error', agent: 'a', instance: 'a#0', msg: 'old', fields: { k: 'v' } }))).toEqual({ time: 5, level: 'error', agent: 'a', instance: 'a#0', msg: 'old', fields: { k: 'v' } });
    expect(fromJsonLine('{"torn":')).toBeNull();
  });
});

describe('LogHub files', () => {
  it('rotates by size, rotates a day-old file, deletes files past the retention, and reads history across files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-loghub-'));
    let now = Date.UTC(2026, 0, 1);
    const hub = new LogHub({ dir, maxFileBytes: 2000, retentionMs: () => 3 * DAY, now: () => now });
    const file = path.join(dir, 'a.log');
    const lines = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((t) => fromJsonLine(t)!);
    // Rotation (renames, deletions) is decided as lines are written; their bytes reach the files
    // through write streams, so a check of the contents waits until they are there.
    const history = () => hub.fromFiles('a', { limit: 1000 }).map((l) => l.msg.split(' ').slice(0, 2).join(' '));

    for (let i = 0; i < 30; i++) hub.write(line(now, `size ${i} ${'y'.repeat(100)}`));
    // The file opens in the background (the first lines wait for it), then they rotate it.
    await waitFor('a size rotation', () => fs.existsSync(`${file}.1`)); // 30 × ~170 bytes > 2000
    await waitFor('30 lines on disk', () => history().length === 30);
    expect(history()).toEqual(Array.from({ length: 30 }, (_, i) => `size ${i}`));
    expect(fs.statSync(`${file}.1`).size).toBeLessThanOrEqual(2000);

    // A day later one small line goes to a new file: files are cut by age too, so that the
    // retention can delete whole files.
    const filesBefore = fs.readdirSync(dir).length;
    now += DAY;
    hub.write(line(now, 'next day'));
    expect(fs.readdirSync(dir).length).toBe(filesBefore + 1);
    await waitFor('the next-day line on disk', () => fs.readFileSync(file, 'utf8').includes('next day'));
    expect(lines(file).map((l) => l.msg)).toEqual(['next day']);

    // Everything whose newest line is older than the retention (3 days) goes at the next
    // rotation or hourly sweep; a quiet agent's current file is rotated out of the way first.
    now += 3 * DAY - 1000;
    hub.sweep();
    expect(fs.readdirSync(dir).sort()).toEqual(['a.log']); // the size-rotated files: their lines are from day 0
    expect(lines(file).map((l) => l.msg)).toEqual(['next day']); // 'next day' is just inside the retention
    now += 2000;
    hub.sweep();
    // Now 'next day' is past it: the current file is rotated out and deleted.
    expect(fs.readdirSync(dir).sort()).toEqual(['a.log']);
    expect(lines(file)).toEqual([]);
    hub.write(line(now, 'later'));
    await waitFor('the later line on disk', () => hub.fromFiles('a', { limit: 10 }).length > 0);
    expect(hub.fromFiles('a', { limit: 10 }).map((l) => l.msg)).toEqual(['later']);
    await hub.close();
  });

  it('bounds a stalled follower: its queue drops and counts instead of growing', async () => {
    const hub = new LogHub({ dir: null, followerQueue: 100 });
    const got: LogLine[] = [];
    let reported = 0;
    hub.follow('a', (l) => got.push(l), (n) => (reported += n));
    for (let i = 0; i < 1000; i++) hub.write(line(i, `l${i}`)); // synchronously: the follower cannot drain in between
    expect(hub.followerDrops).toBe(900);
    await new Promise((r) => setImmediate(r));
    expect(got.length).toBe(100);
    expect(reported).toBe(900);
    await hub.close();
  });
});
