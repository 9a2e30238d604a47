// The window engine of one query: assigns events to tumbling, hopping or session windows over
// event time, per partition key; keeps per-partition watermarks; closes windows; says what changed.
// Pure and synchronous: no store, no timers — the processor feeds it a batch, then commits what
// flush() returns (state rows, results, late events) with the cursor in one transaction.
//
// Semantics (docs/streams.md, "Windows"):
//  - watermark(p) = max event time seen in partition p − allowed_lateness, never moving back;
//  - a window [start, end) is open while watermark(p) < end + grace; it closes (its final result is
//    emitted and its state dropped) once watermark(p) ≥ end + grace;
//  - an event whose windows are all closed is late: it goes to the `late` side stream, counted;
//  - an idle partition (no event for idle_timeout of processing time, from the injected clock)
//    follows the stream's watermark (the lowest of the active partitions', or the highest of all
//    when every partition is idle), so a quiet key does not hold its windows open forever;
//  - session windows: [first event, last event + gap); an event within gap of two sessions (a late
//    bridging event) merges them into one; the merged-away sessions are named in `merged`.
// Results are emitted once per flush for windows updated in it (emit: on_update, final: false) and
// always once when a window closes (final: true).
import type { Acc, Aggregator } from './aggregates.js';

export type WindowType = 'tumbling' | 'hopping' | 'session';

export interface QuerySpec {
  name: string;
  stream: string;
  type: WindowType;
  sizeMs: number;
  slideMs: number;
  gapMs: number;
  latenessMs: number;
  graceMs: number;
  idleMs: number | null;
  emit: 'on_update' | 'on_window_close';
  agg: Aggregator;
}

export interface WindowEvent {
  seq: number;
  time: number;
  key: string;
  payload: unknown;
}

export interface WindowResult {
  window: string;
  stream: string;
  key: string;
  start: number;
  end: number;
  final: boolean;
  /** 1, 2, … per emission of this window: (window, key, start, rev) identifies a result. */
  rev: number;
  count: number;
  values: Record<string, unknown>;
  /** Session windows: starts of the sessions this one absorbed. */
  merged?: number[];
}

interface Win {
  start: number;
  end: number;
  /** Session windows: the last event's time (end = last + gap). */
  last: number;
  n: number;
  acc: Acc;
  rev: number;
  /** Session starts absorbed since the last emission. */
  merged: number[] | null;
}

interface Part {
  key: string;
  maxTime: number;
  wm: number;
  lastSeen: number;
  wins: Map<number, Win>;
}

/** Persisted rows (see store.ts). */
export interface PartRow {
  key: string;
  maxTime: number;
  wm: number;
  lastSeen: number;
}
export interface WinRow {
  key: string;
  start: number;
  state: string;
}

export interface FlushOutput {
  results: WindowResult[];
  late: WindowEvent[];
  upserts: WinRow[];
  deletes: Array<{ key: string; start: number }>;
  parts: PartRow[];
}

const NEG = Number.NEGATIVE_INFINITY;

export class WindowEngine {
  private readonly parts = new Map<string, Part>();
  private dirty = new Map<Win, Part>();
  private dirtyParts = new Set<Part>();
  private deletes: Array<{ key: string; start: number }> = [];
  private results: WindowResult[] = [];
  private late: WindowEvent[] = [];
  private open = 0;

  constructor(readonly spec: QuerySpec) {}

  /** Open windows (the window-state-size metric). */
  get size(): number {
    return this.open;
  }

  partitions(): PartRow[] {
    return [...this.parts.values()].map((p) => ({ key: p.key, maxTime: p.maxTime, wm: p.wm, lastSeen: p.lastSeen }));
  }

  /** The lowest watermark over partitions (the watermark-lag metric), or null without partitions. */
  lowWatermark(): number | null {
    let low: number | null = null;
    for (const p of this.parts.values()) if (p.wm !== NEG && (low === null || p.wm < low)) low = p.wm;
    return low;
  }

  /** Restores committed state (at start, or after a failed commit). */
  load(parts: PartRow[], wins: WinRow[]): void {
    this.parts.clear();
    this.resetBatch();
    this.open = 0;
    for (const r of parts) this.parts.set(r.key, { key: r.key, maxTime: r.maxTime, wm: r.wm, lastSeen: r.lastSeen, wins: new Map() });
    for (const w of wins) {
      const p = this.part(w.key, 0);
      const s = JSON.parse(w.state) as { e: number; l: number; n: number; r: number; a: unknown[] };
      p.wins.set(w.start, { start: w.start, end: s.e, last: s.l, n: s.n, acc: this.spec.agg.fromJSON(s.a), rev: s.r, merged: null });
      this.open++;
    }
  }

  private resetBatch(): void {
    this.dirty = new Map();
    this.dirtyParts = new Set();
    this.deletes = [];
    this.results = [];
    this.late = [];
  }

  private part(key: string, now: number): Part {
    let p = this.parts.get(key);
    if (!p) {
      p = { key, maxTime: NEG, wm: NEG, lastSeen: now, wins: new Map() };
      this.parts.set(key, p);
    }
    return p;
  }

  private newWin(p: Part, start: number, end: number, t: number): Win {
    const w: Win = { start, end, last: t, n: 0, acc: this.spec.agg.init(), rev: 0, merged: null };
    p.wins.set(start, w);
    this.open++;
    return w;
  }

  private touch(p: Part, w: Win, ev: WindowEvent): void {
    this.spec.agg.add(w.acc, ev.payload);
    w.n++;
    this.dirty.set(w, p);
  }

  add(ev: WindowEvent, now: number): void {
    const s = this.spec;
    const p = this.part(ev.key, now);
    p.lastSeen = now;
    const t = ev.time;
    if (t > p.maxTime) {
      p.maxTime = t;
      p.wm = Math.max(p.wm, t - s.latenessMs);
    }
    this.dirtyParts.add(p);
    const closedBy = p.wm - s.graceMs; // a window with end ≤ closedBy is closed
    if (s.type === 'tumbling') {
      const start = Math.floor(t / s.sizeMs) * s.sizeMs;
      const end = start + s.sizeMs;
      if (end <= closedBy) return void this.late.push(ev);
      this.touch(p, p.wins.get(start) ?? this.newWin(p, start, end, t), ev);
      return;
    }
    if (s.type === 'hopping') {
      let any = false;
      for (let start = Math.floor(t / s.slideMs) * s.slideMs; start > t - s.sizeMs; start -= s.slideMs) {
        const end = start + s.sizeMs;
        if (end <= closedBy) continue;
        this.touch(p, p.wins.get(start) ?? this.newWin(p, start, end, t), ev);
        any = true;
      }
      if (!any) this.late.push(ev);
      return;
    }
    this.addSession(p, ev, closedBy);
  }

  private addSession(p: Part, ev: WindowEvent, closedBy: number): void {
    const gap = this.spec.gapMs;
    const t = ev.time;
    const hits: Win[] = [];
    // A session already past the watermark is closed (its final result goes out at the flush), even
    // if the flush has not run yet: joining it would make results depend on batch boundaries.
    for (const w of p.wins.values()) if (w.end > closedBy && t >= w.start - gap && t <= w.last + gap) hits.push(w);
    if (hits.length === 0) {
      if (t + gap <= closedBy) return void this.late.push(ev);
      this.touch(p, this.newWin(p, t, t + gap, t), ev);
      return;
    }
    hits.sort((a, b) => a.start - b.start);
    let keep = hits[0]!;
    for (const other of hits.slice(1)) {
      keep.acc = this.spec.agg.merge(keep.acc, other.acc);
      keep.n += other.n;
      keep.last = Math.max(keep.last, other.last);
      keep.rev = Math.max(keep.rev, other.rev);
      (keep.merged ??= []).push(other.start, ...(other.merged ?? []));
      p.wins.delete(other.start);
      this.open--;
      this.dirty.delete(other);
      this.deletes.push({ key: p.key, start: other.start });
    }
    if (t < keep.start) {
      // The session now starts earlier: it is stored under its new start.
      p.wins.delete(keep.start);
      this.deletes.push({ key: p.key, start: keep.start });
      if (keep.rev > 0) (keep.merged ??= []).push(keep.start);
      keep.start = t;
      p.wins.set(t, keep);
    }
    keep.last = Math.max(keep.last, t);
    keep.end = keep.last + gap;
    this.touch(p, keep, ev);
  }

  /** Closes what the watermarks allow, emits, and hands over everything to commit. */
  flush(now: number): FlushOutput {
    const s = this.spec;
    const check = s.idleMs === null ? this.dirtyParts : this.applyIdle(now);
    for (const p of check) {
      const closedBy = p.wm - s.graceMs;
      for (const w of [...p.wins.values()].sort((a, b) => a.start - b.start)) {
        if (w.end > closedBy) continue;
        w.rev++;
        this.results.push(this.result(p, w, true));
        p.wins.delete(w.start);
        this.open--;
        this.dirty.delete(w);
        this.deletes.push({ key: p.key, start: w.start });
      }
    }
    const upserts: WinRow[] = [];
    for (const [w, p] of this.dirty) {
      if (s.emit === 'on_update') {
        w.rev++;
        this.results.push(this.result(p, w, false));
      }
      upserts.push({ key: p.key, start: w.start, state: JSON.stringify({ e: w.end, l: w.last, n: w.n, r: w.rev, a: s.agg.toJSON(w.acc) }) });
    }
    const upserted = new Set(upserts.map((u) => `${u.start}\u0000${u.key}`));
    const out: FlushOutput = {
      results: this.results,
      late: this.late,
      upserts,
      // A window deleted and re-created in one batch (a session restarted at the same start) is upserted.
      deletes: this.deletes.filter((d) => !upserted.has(`${d.start}\u0000${d.key}`)),
      parts: [...this.dirtyParts].map((p) => ({ key: p.key, maxTime: p.maxTime, wm: p.wm, lastSeen: p.lastSeen })),
    };
    this.resetBatch();
    return out;
  }

  /** Raises idle partitions' watermarks to the stream's; returns the partitions to check. */
  private applyIdle(now: number): Iterable<Part> {
    const idleMs = this.spec.idleMs!;
    let activeLow: number | null = null;
    let high = NEG;
    for (const p of this.parts.values()) {
      if (p.wm > high) high = p.wm;
      if (now - p.lastSeen < idleMs && p.wm !== NEG && (activeLow === null || p.wm < activeLow)) activeLow = p.wm;
    }
    const streamWm = activeLow ?? high;
    for (const p of this.parts.values()) {
      if (now - p.lastSeen >= idleMs && p.wm < streamWm) {
        p.wm = streamWm;
        this.dirtyParts.add(p);
      }
    }
    return this.parts.values();
  }

  private result(p: Part, w: Win, final: boolean): WindowResult {
    const r: WindowResult = { window: this.spec.name, stream: this.spec.stream, key: p.key, start: w.start, end: w.end, final, rev: w.rev, count: w.n, values: this.spec.agg.result(w.acc) };
    if (w.merged) {
      r.merged = w.merged;
      w.merged = null;
    }
    return r;
  }
}
