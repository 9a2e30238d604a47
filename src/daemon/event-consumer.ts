// Delivers an agent's events: a lane of the agent's consumer group on the Bus. It claims a batch
// of deliveries (leases) in one step, hands each to a ready instance with a free slot, and settles
// the outcome. The handler's state effects and the ack commit together (run-transaction.ts; the
// runs finishing in one turn share one group commit), so a redelivery after a crash finds the
// effect either fully there (and the delivery gone) or not there at all.
//
// Ordering (docs/architecture.md, "Event ordering"): with `events.ordering: key`, events of one
// key (NewEvent.key) are handled one at a time in log order — a later one waits, leased, in this
// lane until the earlier one settled. Without it (the default) events are handled concurrently,
// up to `events.concurrency` per instance, and may finish in any order.
import type { Clock } from '../scheduler/types.js';
import type { Bus } from '../bus/types.js';
import type { Delivery } from '../store/types.js';
import type { EventDeliveryConfig } from '../config/types.js';
import type { RunOutcome } from './run-transaction.js';

export interface ConsumerHooks {
  /** Free handler slots across ready instances right now. */
  capacity(): number;
  /** Runs the delivery on some ready instance and returns the outcome (never throws). */
  handle(delivery: Delivery): Promise<RunOutcome | null>;
  onSettled(delivery: Delivery, outcome: RunOutcome | null, fate: 'done' | 'retry' | 'dead' | 'lost'): void;
}

/** Re-runs after commit conflicts before a delivery goes back to the store as a retry. */
const MAX_CONFLICT_RERUNS = 20;

export function retryDelay(cfg: EventDeliveryConfig, attempt: number): number {
  return Math.min(cfg.maxDelayMs, cfg.initialDelayMs * 2 ** Math.max(0, attempt - 1));
}

export class EventConsumer {
  private pumping = false;
  private again = false;
  private stopped = true;
  private readonly inFlight = new Map<number, Delivery>();
  private cancelRetryTimer: (() => void) | null = null;
  private retryAt = Infinity;
  private extendTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  /** ordering 'key': key → deliveries waiting behind the one of that key in flight. */
  private readonly keyQueues = new Map<string, Delivery[]>();
  private waiting = 0;
  /**
   * Congestion window over the deliveries in flight (AIMD): handlers that contend on one state key
   * (a counter) conflict at commit when many run at once, and each conflict re-runs a handler. A
   * conflict halves the window, a clean run widens it by one, up to what the slots allow — so
   * independent handlers keep the full concurrency and a hot key settles near one at a time.
   */
  private window = Infinity;
  /** Handlers running now (in flight minus those parked: behind a key, or after a conflict). */
  private running = 0;
  /** Deliveries whose run lost a commit race: re-run (same lease, no attempt spent) as the window allows. */
  private readonly conflicted: Delivery[] = [];
  private readonly conflictRuns = new Map<number, number>();

  constructor(
    private readonly agent: string,
    private readonly bus: Bus,
    private readonly clock: Clock,
    private readonly cfg: EventDeliveryConfig,
    private readonly hooks: ConsumerHooks,
    private readonly leaseMs = 60_000,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // Leases are extended while handlers run, so a slow handler is not taken for a dead one.
    this.extendTimer = setInterval(() => void this.extendLeases(), Math.max(1000, this.leaseMs / 3));
    this.extendTimer.unref();
    // Safety net for deliveries that became due without a wake-up (another daemon, clock skew).
    this.pollTimer = setInterval(() => this.wake(), 5000);
    this.pollTimer.unref();
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    if (this.extendTimer) clearInterval(this.extendTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.extendTimer = this.pollTimer = null;
    this.cancelRetryTimer?.();
    this.cancelRetryTimer = null;
    this.retryAt = Infinity;
    // Parked deliveries (behind a key, or after a conflict) are not running: give them back now.
    const parked = [...this.conflicted.splice(0), ...[...this.keyQueues.values()].flat()];
    for (const q of this.keyQueues.values()) q.length = 0;
    this.waiting = 0;
    for (const d of parked) {
      this.inFlight.delete(d.deliveryId);
      this.conflictRuns.delete(d.deliveryId);
    }
    if (parked.length > 0) void this.bus.nack(parked.map((d) => ({ deliveryId: d.deliveryId, leaseToken: d.leaseToken, error: 'consumer stopped' }))).catch(() => 0);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  /** Resolves when no handler is in flight (drain), or after timeoutMs. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.inFlight.size === 0;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        let free = Math.min(this.hooks.capacity(), this.window - this.running);
        // Conflicted runs go again first (they hold leases already).
        while (free > 0 && this.conflicted.length > 0 && !this.stopped) {
          free--;
          void this.run(this.conflicted.shift()!);
        }
        free -= this.waiting + this.conflicted.length;
        if (free <= 0 || this.stopped) break;
        // Refill in batches, not one slot at a time: a claim is a write transaction, and claiming
        // each time one handler finishes made one claim per event (profile of bench/events).
        if (this.inFlight.size > 0 && free < Math.ceil((free + this.inFlight.size) / 4)) break;
        const limit = Math.min(free, 256);
        const batch = await this.bus.claim(this.agent, { limit, leaseMs: this.leaseMs });
        for (const d of batch) {
          this.inFlight.set(d.deliveryId, d);
          this.dispatch(d);
        }
        if (batch.length > 0 && batch.length === limit) this.again = true;
      } while (this.again && !this.stopped);
    } catch {
      // The store hiccuped (PostgreSQL restart): try again shortly rather than spin.
      this.armRetry(this.clock.now() + 1000);
    } finally {
      this.pumping = false;
    }
  }

  private dispatch(d: Delivery): void {
    const key = this.cfg.ordering === 'key' ? d.event.key : undefined;
    if (key === undefined || key === null) return void this.run(d);
    const queue = this.keyQueues.get(key);
    if (!queue) {
      this.keyQueues.set(key, []);
      return void this.run(d);
    }
    queue.push(d);
    this.waiting++;
  }

  /** The delivery of `key` settled: the next one of that key (in claim = log order) runs. */
  private nextOfKey(key: string | null | undefined): void {
    if (this.cfg.ordering !== 'key' || key === undefined || key === null) return;
    const queue = this.keyQueues.get(key);
    const next = queue?.shift();
    if (!next) return void this.keyQueues.delete(key);
    this.waiting--;
    if (this.stopped) {
      // Not handled: its lease runs out and it comes back, still behind nothing.
      this.inFlight.delete(next.deliveryId);
      return this.nextOfKey(key);
    }
    void this.run(next);
  }

  private async run(d: Delivery): Promise<void> {
    this.running++;
    let outcome: RunOutcome | null = null;
    try {
      outcome = await this.hooks.handle(d);
    } catch {
      outcome = null;
      this.running--;
      return this.settled(d, null, 'lost'); // the lease will expire and the delivery comes back
    }
    this.running--;
    this.adjustWindow(outcome);
    const reruns = this.conflictRuns.get(d.deliveryId) ?? 0;
    if (outcome?.conflict && reruns < MAX_CONFLICT_RERUNS && !this.stopped) {
      // Not the handler's fault (a replica or a batch-mate committed the key first): park it and
      // run it again when the (now halved) window allows, under the same lease, no attempt spent.
      this.conflictRuns.set(d.deliveryId, reruns + 1);
      this.conflicted.push(d);
      return this.wake();
    }
    let fate: 'done' | 'retry' | 'dead' | 'lost' = 'done';
    try {
      if (outcome === null) {
        // No instance could take it after all: give it back at once, without an attempt penalty.
        await this.nack(d, { error: 'no ready instance', retryAt: this.clock.now() + 200 });
        this.armRetry(this.clock.now() + 200);
        fate = 'retry';
      } else if (!outcome.ok) {
        const now = this.clock.now();
        if (outcome.conflict) {
          await this.nack(d, { error: 'state conflict', retryAt: now });
          fate = 'retry';
        } else if (d.attempts >= this.cfg.maxAttempts) {
          const ok = await this.nack(d, { error: errText(outcome), dead: true });
          fate = ok ? 'dead' : 'lost';
        } else {
          const at = now + (outcome.instanceGone ? 100 : retryDelay(this.cfg, d.attempts));
          const ok = await this.nack(d, { error: errText(outcome), retryAt: at });
          fate = ok ? 'retry' : 'lost';
          this.armRetry(at);
        }
      }
    } catch {
      fate = 'lost'; // the lease will expire and the delivery comes back
    }
    this.settled(d, outcome, fate);
  }

  private settled(d: Delivery, outcome: RunOutcome | null, fate: 'done' | 'retry' | 'dead' | 'lost'): void {
    this.conflictRuns.delete(d.deliveryId);
    this.inFlight.delete(d.deliveryId);
    this.hooks.onSettled(d, outcome, fate);
    this.nextOfKey(d.event.key);
    this.wake();
  }

  private async nack(d: Delivery, o: { error: string; retryAt?: number; dead?: boolean }): Promise<boolean> {
    return (await this.bus.nack([{ deliveryId: d.deliveryId, leaseToken: d.leaseToken, ...o }])) === 1;
  }

  private adjustWindow(o: RunOutcome | null): void {
    if (!o) return;
    const slots = this.hooks.capacity() + this.inFlight.size;
    if (o.conflict) this.window = Math.max(1, Math.floor(Math.min(this.window, slots) / 2));
    else if (o.ok && this.window !== Infinity) this.window = this.window + 1 >= slots ? Infinity : this.window + 1;
  }

  private armRetry(at: number): void {
    if (this.stopped || at >= this.retryAt) return;
    this.cancelRetryTimer?.();
    this.retryAt = at;
    this.cancelRetryTimer = this.clock.setTimer(() => {
      this.retryAt = Infinity;
      this.cancelRetryTimer = null;
      this.wake();
    }, at - this.clock.now());
  }

  private async extendLeases(): Promise<void> {
    if (this.inFlight.size === 0) return;
    await this.bus.extend([...this.inFlight.values()], this.leaseMs).catch(() => 0);
  }
}

function errText(o: RunOutcome): string {
  return o.error ? `${o.error.name}: ${o.error.message}` : 'failed';
}
