// The time contract: everything that schedules, leases or times out takes a Clock, so tests move
// time instead of sleeping (test/helpers/fake-clock.ts) and nothing reads Date.now() directly.

/** Injectable time source: tests move time instead of sleeping. */
export interface Clock {
  now(): number;
  /** Calls fn once after ms; returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return () => clearTimeout(t);
  },
};
