// Window semantics of the engine, with an injected clock and results computed by hand in comments.
import { describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/streams/aggregates.js';
import { parseAgg } from '../../src/streams/config.js';
import { WindowEngine, type QuerySpec, type WindowResult, type WinRow, type PartRow } from '../../src/streams/windows.js';
import { FakeClock } from '../helpers/fake-clock.js';

const S = 1000;

function engine(over: Partial<QuerySpec>, aggs: Record<string, string> = { n: 'count', sum: 'sum(v)' }): WindowEngine {
  const agg = new Aggregator(Object.fromEntries(Object.entries(aggs).map(([k, v]) => [k, parseAgg(v)])));
  return new WindowEngine({ name: 'w', stream: 's', type: 'tumbling', sizeMs: 60 * S, slideMs: 60 * S, gapMs: 0, latenessMs: 0, graceMs: 0, idleMs: null, emit: 'on_window_close', agg, ...over });
}

let seq = 0;
const ev = (key: string, t: number, v = 1) => ({ seq: ++seq, time: t * S, key, payload: { v } });
const brief = (r: WindowResult) => ({ key: r.key, start: r.start / S, end: r.end / S, final: r.final, n: r.values.n, sum: r.values.sum, ...(r.merged ? { merged: r.merged.map((m) => m / S) } : {}) });
const sortRes = (rs: ReturnType<typeof brief>[]) => rs.sort((a, b) => a.key.localeCompare(b.key) || a.start - b.start);

describe('tumbling windows', () => {
  it('closes a window when the watermark passes its end and sends later events to the late side stream', () => {
    const e = engine({});
    for (const x of [ev('a', 10, 1), ev('a', 20, 2), ev('a', 70, 3)]) e.add(x, 0);
    // [0,60) holds 10 and 20 (n 2, sum 3); the event at 70 moves the watermark to 70 ≥ 60.
    expect(e.flush(0).results.map(brief)).toEqual([{ key: 'a', start: 0, end: 60, final: true, n: 2, sum: 3 }]);
    e.add(ev('a', 50, 9), 0); // its window [0,60) is closed: late
    const out = e.flush(0);
    expect(out.results).toEqual([]);
    expect(out.late.map((l) => l.time / S)).toEqual([50]);
    e.add(ev('a', 130, 4), 0);
    expect(e.flush(0).results.map(brief)).toEqual([{ key: 'a', start: 60, end: 120, final: true, n: 1, sum: 3 }]);
  });

  it('accepts an out-of-order event within grace and refuses one beyond it', () => {
    const e = engine({ graceMs: 20 * S });
    e.add(ev('a', 70, 1), 0);
    e.add(ev('a', 50, 2), 0); // watermark 70, [0,60) open until 60 + 20 = 80
    expect(e.flush(0).results).toEqual([]);
    e.add(ev('a', 85, 4), 0); // watermark 85 ≥ 80: [0,60) closes with the event at 50
    expect(e.flush(0).results.map(brief)).toEqual([{ key: 'a', start: 0, end: 60, final: true, n: 1, sum: 2 }]);
    e.add(ev('a', 55, 8), 0); // beyond grace
    const out = e.flush(0);
    expect(out.late.map((l) => l.time / S)).toEqual([55]);
    expect(out.results).toEqual([]);
  });

  it('holds windows back by allowed_lateness (the watermark trails the newest event)', () => {
    const e = engine({ latenessMs: 10 * S });
    e.add(ev('a', 65, 1), 0); // watermark 55 < 60
    e.add(ev('a', 59, 2), 0);
    expect(e.flush(0).results).toEqual([]);
    e.add(ev('a', 75, 4), 0); // watermark 65
    expect(e.flush(0).results.map(brief)).toEqual([{ key: 'a', start: 0, end: 60, final: true, n: 1, sum: 2 }]);
  });

  it('keeps a watermark per partition', () => {
    const e = engine({});
    e.add(ev('a', 10, 1), 0);
    e.add(ev('b', 90, 1), 0); // b's watermark does not close a's window
    expect(e.flush(0).results).toEqual([]);
    e.add(ev('a', 61, 5), 0);
    expect(e.flush(0).results.map(brief)).toEqual([{ key: 'a', start: 0, end: 60, final: true, n: 1, sum: 1 }]);
  });
});

describe('hopping windows', () => {
  it('puts each event in size/slide windows', () => {
    const e = engine({ type: 'hopping', sizeMs: 30 * S, slideMs: 10 * S });
    for (const x of [ev('a', 5, 1), ev('a', 25, 2), ev('a', 35, 4)]) e.add(x, 0);
    expect(e.flush(0).results.map(brief)).toEqual([
      // watermark 35 closes the windows ending at or before 35
      { key: 'a', start: -20, end: 10, final: true, n: 1, sum: 1 },
      { key: 'a', start: -10, end: 20, final: true, n: 1, sum: 1 },
      { key: 'a', start: 0, end: 30, final: true, n: 2, sum: 3 },
    ]);
    e.add(ev('a', 100, 0), 0);
    expect(sortRes(e.flush(0).results.map(brief))).toEqual([
      { key: 'a', start: 10, end: 40, final: true, n: 2, sum: 6 },
      { key: 'a', start: 20, end: 50, final: true, n: 2, sum: 6 },
      { key: 'a', start: 30, end: 60, final: true, n: 1, sum: 4 },
    ]);
    expect(e.size).toBe(3); // [80,110), [90,120), [100,130)
  });
});

describe('session windows', () => {
  it('merges two sessions when a late bridging event falls within the gap of both', () => {
    const e = engine({ type: 'session', gapMs: 15 * S, graceMs: 30 * S });
    for (const x of [ev('a', 0, 1), ev('a', 10, 2), ev('a', 35, 4)]) e.add(x, 0);
    // sessions [0,25) and [35,50); watermark 35, closing needs end + 30 ≤ 35: none closes
    const first = e.flush(0);
    expect(first.results).toEqual([]);
    expect(first.upserts.map((u) => u.start / S).sort((a, b) => a - b)).toEqual([0, 35]);
    e.add(ev('a', 22, 8), 0); // 22 ≤ 10 + 15 and 22 ≥ 35 − 15: bridges both
    const merged = e.flush(0);
    expect(merged.deletes.map((d) => d.start / S)).toEqual([35]);
    expect(e.size).toBe(1);
    e.add(ev('a', 200, 0), 0);
    expect(e.flush(0).results.map(brief)).toEqual([{ key: 'a', start: 0, end: 50, final: true, n: 4, sum: 15, merged: [35] }]);
  });

  it('sends an event late when no open session is within its gap and its own session would be closed', () => {
    const e = engine({ type: 'session', gapMs: 10 * S });
    e.add(ev('a', 100, 1), 0);
    e.add(ev('a', 50, 1), 0); // [50,60) would end before the watermark 100
    const out = e.flush(0);
    expect(out.late.map((l) => l.time / S)).toEqual([50]);
  });
});

describe('idle partitions', () => {
  it('lets an idle partition follow the stream watermark so its window closes', () => {
    const clock = new FakeClock(0);
    const e = engine({ idleMs: 30 * S });
    e.add(ev('a', 10, 1), clock.now());
    e.add(ev('b', 20, 1), clock.now());
    expect(e.flush(clock.now()).results).toEqual([]);
    clock.advance(40 * S); // a has been silent for 40 s ≥ idle_timeout
    e.add(ev('b', 130, 1), clock.now());
    expect(sortRes(e.flush(clock.now()).results.map(brief))).toEqual([
      { key: 'a', start: 0, end: 60, final: true, n: 1, sum: 1 },
      { key: 'b', start: 0, end: 60, final: true, n: 1, sum: 1 },
    ]);
  });

  it('without idle_timeout a silent partition keeps its window open', () => {
    const clock = new FakeClock(0);
    const e = engine({});
    e.add(ev('a', 10, 1), clock.now());
    clock.advance(3600 * S);
    e.add(ev('b', 130, 1), clock.now());
    expect(e.flush(clock.now()).results.map(brief)).toEqual([]);
    expect(e.size).toBe(2);
  });
});

describe('emit modes', () => {
  it('on_update emits each updated window once per batch, then the final result at close', () => {
    const e = engine({ emit: 'on_update' });
    e.add(ev('a', 10, 1), 0);
    e.add(ev('a', 20, 2), 0);
    expect(e.flush(0).results.map((r) => ({ ...brief(r), rev: r.rev }))).toEqual([{ key: 'a', start: 0, end: 60, final: false, n: 2, sum: 3, rev: 1 }]);
    e.add(ev('a', 30, 4), 0);
    expect(e.flush(0).results.map((r) => ({ ...brief(r), rev: r.rev }))).toEqual([{ key: 'a', start: 0, end: 60, final: false, n: 3, sum: 7, rev: 2 }]);
    e.add(ev('a', 70, 8), 0);
    expect(e.flush(0).results.map((r) => ({ ...brief(r), rev: r.rev }))).toEqual([
      { key: 'a', start: 0, end: 60, final: true, n: 3, sum: 7, rev: 3 },
      { key: 'a', start: 60, end: 120, final: false, n: 1, sum: 8, rev: 1 },
    ]);
  });

  it('on_window_close emits nothing until the window closes', () => {
    const e = engine({});
    e.add(ev('a', 10, 1), 0);
    expect(e.flush(0).results).toEqual([]);
    e.add(ev('a', 30, 1), 0);
    expect(e.flush(0).results).toEqual([]);
  });
});

describe('aggregations and state', () => {
  it('computes count, sum, min, max, avg, distinct, a filtered count and a user reducer', () => {
    const agg = new Aggregator(
      { n: parseAgg('count'), s: parseAgg('sum(v)'), lo: parseAgg('min(v)'), hi: parseAgg('max(v)'), mean: parseAgg('avg(v)'), users: parseAgg('distinct(u)'), errors: parseAgg({ op: 'count', where: { level: 'error' } }) },
      { init: [], step: '(acc, e) => acc.concat([e.v])', merge: '(a, b) => a.concat(b)' },
    );
    const e = new WindowEngine({ name: 'w', stream: 's', type: 'tumbling', sizeMs: 60 * S, slideMs: 0, gapMs: 0, latenessMs: 0, graceMs: 0, idleMs: null, emit: 'on_window_close', agg });
    const rows = [
      { v: 4, u: 'x', level: 'info' },
      { v: 1, u: 'y', level: 'error' },
      { v: 7, u: 'x', level: 'error' },
    ];
    rows.forEach((payload, i) => e.add({ seq: i, time: i * S, key: 'k', payload }, 0));
    e.add({ seq: 9, time: 61 * S, key: 'k', payload: { v: 0 } }, 0);
    expect(e.flush(0).results[0]!.values).toEqual({ n: 3, s: 12, lo: 1, hi: 7, mean: 4, users: 2, errors: 2, value: [4, 1, 7] });
  });

  it('restored from its committed rows, an engine continues exactly as one that never stopped', () => {
    const input = [ev('a', 5, 1), ev('b', 7, 2), ev('a', 25, 3), ev('b', 44, 5), ev('a', 61, 7), ev('a', 3, 1), ev('b', 95, 1), ev('a', 140, 2)];
    const straight = engine({ type: 'hopping', sizeMs: 40 * S, slideMs: 20 * S, graceMs: 10 * S }, { n: 'count', sum: 'sum(v)', u: 'distinct(v)' });
    const all: WindowResult[] = [];
    for (const x of input) {
      straight.add(x, 0);
      all.push(...straight.flush(0).results);
    }
    // The same input in batches of 3, with a fresh engine loaded from the "store" after each batch.
    const wins = new Map<string, WinRow>();
    const parts = new Map<string, PartRow>();
    const got: WindowResult[] = [];
    for (let i = 0; i < input.length; i += 3) {
      const e = engine({ type: 'hopping', sizeMs: 40 * S, slideMs: 20 * S, graceMs: 10 * S }, { n: 'count', sum: 'sum(v)', u: 'distinct(v)' });
      e.load([...parts.values()], [...wins.values()]);
      for (const x of input.slice(i, i + 3)) e.add(x, 0);
      const out = e.flush(0);
      got.push(...out.results);
      for (const d of out.deletes) wins.delete(`${d.key}/${d.start}`);
      for (const u of out.upserts) wins.set(`${u.key}/${u.start}`, u);
      for (const p of out.parts) parts.set(p.key, p);
    }
    const key = (r: WindowResult) => `${r.key}/${r.start}`;
    expect(new Map(got.map((r) => [key(r), r.values]))).toEqual(new Map(all.map((r) => [key(r), r.values])));
    expect(got.length).toBe(all.length);
  });
});
