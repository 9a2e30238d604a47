// Drives time triggers through the injected Clock. It decides WHEN an agent's schedule fires;
// whether a run starts (paused, overlap, budget, missed-run policy) is the daemon's decision in
// onFire. One timer is armed for the earliest due agent, whatever the number of agents.
//
// Guarantees:
//  - A fire time fires at most once: each agent's next fire time is computed strictly after the
//    last one fired (or the lastFireAt given to add), so a backwards clock jump never refires.
//  - A timer that wakes before its fire time (a wall clock set back while a monotonic timer ran,
//    or the ~24.8-day cap on one timer) fires nothing and re-arms.
//  - When several fire times of an agent are due at once (forward clock jump, stalled event loop,
//    daemon restarted with an old lastFireAt), the agent fires ONCE, for the latest of them, and
//    the earlier ones are passed in `FireContext.coalesced` so the daemon can apply planMissed.
//  - With maxPendingFires, an onFires that returns promises holds the timer while that many fire
//    times are pending: a slow store makes ticks coalesce (bounded work), never pile up.
import type { MissedReason } from './timeline.js';
import { FireQueue, type QueuedFire } from './fire-queue.js';
import { lastFireTimesBetween, nextFireAfter } from './schedule.js';
import type { Clock, ScheduleSpec } from './types.js';

/** setTimeout fires at once for delays above 2^31-1 ms; longer waits are taken in steps. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
/** Longest `coalesced` list passed to onFire (the most recent ones). */
const MAX_COALESCED = 1000;

export interface FireContext {
  /** The fire time handled before this one (lastFireAt from add, or the previous fire); null if none. */
  previousFireAt: number | null;
  /**
   * Earlier fire times, after previousFireAt, that came due together with this one and are NOT
   * fired separately (oldest first, at most 1000). Empty in the normal case. When not empty, run
   * planMissed({ lastFireAt: previousFireAt, now: fireAt, reason: missedReason, … }).
   */
  coalesced: number[];
  /** Why `coalesced` is not empty: 'daemon down' for the first fire after add(), else 'clock jump'. */
  missedReason: Extract<MissedReason, 'daemon down' | 'clock jump'> | null;
}

/** One fire time of one agent, as handed to onFires. */
export interface DueFire {
  agent: string;
  fireAt: number;
  context: FireContext;
}

export interface SchedulerOptions {
  clock: Clock;
  /** Called once per fire time (unless onFires is given). Should not throw; if it does, see onError. */
  onFire?: (agent: string, fireAt: number, context: FireContext) => void;
  /**
   * Called once per tick with every fire time that came due in it (in fire order), instead of
   * onFire: the daemon claims and records them together, one store transaction for the tick
   * rather than several per fire (10,000 agents at 1 Hz: see src/daemon/schedules.ts).
   * Errors go to onError with the agent '*'. When it returns a promise, that tick's fire times are
   * pending until it settles, and while maxPendingFires are pending the scheduler does not tick:
   * fire times that come due meanwhile are coalesced into the next tick (FireContext), never
   * queued without limit.
   */
  onFires?: (fires: DueFire[]) => void | Promise<unknown>;
  /**
   * Most fire times in pending onFires calls (each due fire with its coalesced times) before the
   * scheduler holds its timer (default: no limit). The tick that crosses it is still handed over.
   */
  maxPendingFires?: number;
  /** Receives errors thrown by onFire. Without it they are rethrown after the tick (state stays consistent). */
  onError?: (error: unknown, agent: string) => void;
}

export interface AddOptions {
  /** Phase of `every` schedules (fire times are anchor + k·every). Default: now. */
  anchor?: number;
  /** The last fire time already handled (persisted). Fire times ≤ it never fire. Default: now. */
  lastFireAt?: number | null;
}

interface ScheduledAgent {
  spec: ScheduleSpec;
  anchor: number;
  /** Exclusive lower bound of the next fire: the previous fire time, or where scheduling began. */
  after: number;
  previousFireAt: number | null;
  next: number;
  seq: number;
  firedSinceAdd: boolean;
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly onFire: SchedulerOptions['onFire'];
  private readonly onFires: SchedulerOptions['onFires'];
  private readonly onError: SchedulerOptions['onError'];
  private readonly agents = new Map<string, ScheduledAgent>();
  private readonly queue = new FireQueue();
  private armed: { at: number; cancel: () => void } | null = null;
  private ticking = false;
  private closed = false;
  private readonly maxPendingFires: number;
  private pendingFires = 0;
  private seq = 0;

  constructor(options: SchedulerOptions) {
    this.clock = options.clock;
    if (!options.onFire && !options.onFires) throw new Error('Scheduler: onFire or onFires is required');
    this.onFire = options.onFire;
    this.onFires = options.onFires;
    this.onError = options.onError;
    this.maxPendingFires = Math.max(1, options.maxPendingFires ?? Infinity);
  }

  /**
   * Schedules `agent` (replacing any previous schedule of it) and returns its next fire time.
   * Throws InvalidScheduleError for a bad spec, before changing anything. If fire times after
   * lastFireAt are already due they fire on the next tick, coalesced into one (see FireContext).
   */
  add(agent: string, spec: ScheduleSpec, options: AddOptions = {}): number {
    if (this.closed) throw new Error('Scheduler is closed');
    const now = this.clock.now();
    const anchor = options.anchor ?? now;
    const previousFireAt = options.lastFireAt ?? null;
    const after = previousFireAt ?? now;
    const next = nextFireAfter(spec, after, anchor);
    const seq = ++this.seq;
    this.agents.set(agent, { spec, anchor, after, previousFireAt, next, seq, firedSinceAdd: false });
    this.queue.push({ at: next, agent, seq });
    this.arm();
    return next;
  }

  /** Stops scheduling `agent`. Returns false if it was not scheduled. */
  remove(agent: string): boolean {
    if (!this.agents.delete(agent)) return false;
    // Stale heap entries are skipped lazily; rebuild when they dominate so memory stays bounded.
    if (this.queue.size > 2 * this.agents.size + 64) this.compact();
    this.arm();
    return true;
  }

  /** The agent's next fire time, or undefined when it is not scheduled. */
  nextFire(agent: string): number | undefined {
    return this.agents.get(agent)?.next;
  }

  has(agent: string): boolean {
    return this.agents.has(agent);
  }

  get size(): number {
    return this.agents.size;
  }

  /** Cancels the timer and forgets every agent (daemon shutdown). */
  close(): void {
    this.closed = true;
    this.armed?.cancel();
    this.armed = null;
    this.agents.clear();
    this.queue.rebuild([]);
  }

  private readonly tick = (): void => {
    this.armed = null;
    if (this.closed) return;
    const errors: Array<{ error: unknown; agent: string }> = [];
    const due: DueFire[] = [];
    this.ticking = true;
    try {
      const now = this.clock.now();
      for (let top = this.liveTop(); top && top.at <= now; top = this.liveTop()) {
        this.queue.pop();
        const scheduled = this.agents.get(top.agent) as ScheduledAgent;
        const { fireAt, context } = this.advance(top.agent, scheduled, now);
        if (this.onFires) {
          due.push({ agent: top.agent, fireAt, context });
          continue;
        }
        try {
          this.onFire!(top.agent, fireAt, context);
        } catch (error) {
          errors.push({ error, agent: top.agent });
        }
      }
      if (due.length > 0) {
        try {
          const p = this.onFires!(due);
          if (p && typeof (p as Promise<unknown>).then === 'function') {
            const weight = due.reduce((n, f) => n + 1 + f.context.coalesced.length, 0);
            this.pendingFires += weight;
            const settled = () => {
              this.pendingFires -= weight;
              // What came due while held fires now, not through a timer of 0 ms (an injected clock
              // runs timers only as it moves).
              const top = this.liveTop();
              if (!this.closed && !this.ticking && top && top.at <= this.clock.now() && this.pendingFires < this.maxPendingFires) {
                this.armed?.cancel();
                this.tick();
              } else this.arm();
            };
            (p as Promise<unknown>).then(settled, (error: unknown) => {
              settled();
              if (this.onError) this.onError(error, '*');
            });
          }
        } catch (error) {
          errors.push({ error, agent: '*' });
        }
      }
    } finally {
      this.ticking = false;
      this.arm();
    }
    for (const { error, agent } of errors) {
      if (this.onError) this.onError(error, agent);
      else throw error;
    }
  };

  /** Moves a due agent past every fire time ≤ now; returns the one to fire and what it stands in for. */
  private advance(agent: string, scheduled: ScheduledAgent, now: number): { fireAt: number; context: FireContext } {
    const { spec, anchor } = scheduled;
    let fireAt = scheduled.next;
    let coalesced: number[] = [];
    let next = nextFireAfter(spec, fireAt, anchor);
    if (next <= now) {
      // Several are due: find the latest without walking the whole gap (a week of a per-second
      // cron); the list keeps the most recent MAX_COALESCED, planMissed reports any truncation.
      const due = lastFireTimesBetween(spec, scheduled.after, now, anchor, MAX_COALESCED + 1);
      fireAt = due[due.length - 1];
      coalesced = due.slice(0, -1);
      next = nextFireAfter(spec, fireAt, anchor);
    }
    const context: FireContext = {
      previousFireAt: scheduled.previousFireAt,
      coalesced,
      missedReason: coalesced.length === 0 ? null : scheduled.firedSinceAdd ? 'clock jump' : 'daemon down',
    };
    scheduled.previousFireAt = fireAt;
    scheduled.after = fireAt;
    scheduled.firedSinceAdd = true;
    scheduled.next = next;
    scheduled.seq = ++this.seq;
    this.queue.push({ at: next, agent, seq: scheduled.seq });
    return { fireAt, context };
  }

  /** The earliest non-stale queue entry, dropping stale ones on the way. */
  private liveTop(): QueuedFire | undefined {
    for (let top = this.queue.peek(); top; top = this.queue.peek()) {
      if (this.agents.get(top.agent)?.seq === top.seq) return top;
      this.queue.pop();
    }
    return undefined;
  }

  /** Keeps exactly one timer armed for the earliest fire time (none when nothing is scheduled). */
  private arm(): void {
    if (this.ticking || this.closed) return;
    // Back-pressure: the timer waits for a pending tick to settle; what comes due meanwhile is
    // coalesced into the next tick (a stalled store never piles up fire after fire).
    if (this.pendingFires >= this.maxPendingFires) {
      this.armed?.cancel();
      this.armed = null;
      return;
    }
    const top = this.liveTop();
    if (this.armed && top && this.armed.at === top.at) return;
    this.armed?.cancel();
    this.armed = null;
    if (!top) return;
    const delay = Math.min(Math.max(0, top.at - this.clock.now()), MAX_TIMER_DELAY_MS);
    this.armed = { at: top.at, cancel: this.clock.setTimer(this.tick, delay) };
  }

  private compact(): void {
    const live: QueuedFire[] = [];
    for (const [agent, scheduled] of this.agents) live.push({ at: scheduled.next, agent, seq: scheduled.seq });
    this.queue.rebuild(live);
  }
}
