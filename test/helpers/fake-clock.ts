// A Clock for tests: time moves only when the test moves it, and due timers run in order.
//   advance(ms): time passes normally; each timer runs with now() equal to its due time.
//   set(ms):     the wall clock jumps (forwards or backwards); due timers then run with now() = ms.
//   runAllTimersNow(): every pending timer runs without moving time, as a monotonic timer does when
//                the wall clock was set back while it waited (it wakes "early" by the wall clock).
import type { Clock } from '../../src/scheduler/types.js';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Guards against timers that re-arm themselves at the same instant forever. */
const MAX_TIMERS_PER_STEP = 1_000_000;

export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start: number = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer: FakeTimer = { at: this.current + Math.max(0, ms), seq: ++this.seq, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Timers not yet run or cancelled. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Due times of pending timers, earliest first. */
  pendingDueTimes(): number[] {
    return this.sorted().map((t) => t.at);
  }

  advance(ms: number): void {
    const target = this.current + ms;
    this.runDue(target, (t) => {
      this.current = Math.max(this.current, t.at);
    });
    this.current = target;
  }

  /** Advances to an absolute time (no-op if it is in the past; use set() for a backwards jump). */
  advanceTo(ms: number): void {
    this.advance(Math.max(0, ms - this.current));
  }

  set(ms: number): void {
    this.current = ms;
    this.runDue(ms, () => {});
  }

  runAllTimersNow(): void {
    const timers = this.sorted();
    this.timers = [];
    for (const t of timers) t.fn();
  }

  private runDue(limit: number, beforeRun: (t: FakeTimer) => void): void {
    for (let i = 0; i < MAX_TIMERS_PER_STEP; i++) {
      const next = this.sorted()[0];
      if (!next || next.at > limit) return;
      this.timers = this.timers.filter((t) => t !== next);
      beforeRun(next);
      next.fn();
    }
    throw new Error(`FakeClock: more than ${MAX_TIMERS_PER_STEP} timers ran in one step; a timer re-arms itself at the same instant`);
  }

  private sorted(): FakeTimer[] {
    return [...this.timers].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
