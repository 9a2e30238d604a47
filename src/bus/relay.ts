// The outbox relay: publishes the events committed to the store's log (the outbox every run commit
// writes) to an external bus, in commit order (outbox-store.ts says how on PostgreSQL), one batch at
// a time: read after the cursor → publish → move the cursor (the three overlap across batches, see
// `pass`). A crash between publish and cursor publishes that batch again; the bus drops what it
// already has (Redis: a high-water mark of log positions per store origin; NATS: Nats-Msg-Id) and
// the consumers' inbox drops what still gets through.
//
// One relay per stream is active: the cursor row is also a lease (owner, epoch, expires_at), and
// every cursor move is conditional on (owner, epoch). A relay that was paused past its lease finds
// its next move refused and stops; the one that took over continues from the last cursor committed.
import type { Clock } from '../scheduler/types.js';
import type { Cursor, OutboxStore } from './outbox-store.js';
import type { ExternalBus } from './types.js';

export interface RelayOptions {
  /** The lease's name: one active relay per stream (e.g. `redis:{openclaw:shop}`). */
  stream: string;
  /** This node (daemon) id. */
  owner: string;
  clock: Clock;
  /** Lease length (default 10 s), renewed with every batch and every third of it while idle. */
  leaseMs?: number;
  /** Events per read and publish (default 2000). */
  batch?: number;
  /** Safety-net pass when no wake-up came (default 100 ms): rows held back by an open transaction. */
  pollMs?: number;
  /**
   * While another node holds the lease, how often this one looks again (default 1 s; sooner when
   * the holder's lease ends sooner). A holder that stops gives its lease up (expiry 0), so a drain
   * hands over within this; a holder killed is taken over once its lease expires.
   */
  standbyMs?: number;
  onError?: (err: Error) => void;
}

export interface RelayStats {
  published: number;
  batches: number;
  /**
   * Events read from the store that the bus already had, in batches it took none of: a relay that
   * crashed before moving its cursor publishes its last batch again — or the store was restored
   * from a backup under the same origin and these were never delivered (logged).
   */
  skipped: number;
  /** Times this relay found its lease taken (another relay took over). */
  lostLease: number;
  active: boolean;
}

export class OutboxRelay {
  private lease: { epoch: number; cursor: Cursor; expiresAt: number } | null = null;
  private origin: string | undefined;
  private running = false;
  private again = false;
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private idle: Promise<void> = Promise.resolve();
  /** A standby looks at the lease again from this time on (the injected clock). */
  private standbyUntil = 0;
  readonly stats: RelayStats = { published: 0, batches: 0, skipped: 0, lostLease: 0, active: false };
  private readonly leaseMs: number;
  private readonly batch: number;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly target: Pick<ExternalBus, 'publishStored'>,
    private readonly opts: RelayOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.batch = opts.batch ?? 2000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), this.opts.pollMs ?? 100);
    this.timer.unref();
    this.wake();
  }

  /** Stops relaying and gives the lease up, so another node takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.idle;
    if (this.lease) await this.outbox.renew(this.opts.stream, this.opts.owner, this.lease.epoch, 0).catch(() => false);
    this.lease = null;
    this.stats.active = false;
  }

  /** Committed events are waiting (a run commit published, or an API append). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.idle = this.pump();
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.opts.onError?.(err as Error);
    } finally {
      this.running = false;
    }
  }

  /**
   * One pass: holds the lease, relays until the log is drained. Returns the events published.
   * Three steps overlap: batch k+1 is read while batch k is published, and the cursor move after
   * batch k is in flight while batch k+1 is published (at most one move outstanding, moves in
   * order). A move refused (the lease was lost) stops the pass after the publish in flight: what
   * that published again is deduplicated downstream, as after a crash.
   */
  async pass(): Promise<number> {
    const now = this.opts.clock.now();
    if (!this.lease) {
      // A standby (another node relays) neither tries the lease every poll nor every commit: each
      // try is a write that locks the lease row the active relay moves its cursor in, so every
      // extra node slowed the relay and cost each node a statement per poll (10/s at 100 ms).
      if (now < this.standbyUntil) return 0;
      const holder = await this.outbox.holder(this.opts.stream);
      if (holder && holder.owner !== this.opts.owner && holder.expiresAt >= now) {
        this.standbyUntil = Math.min(holder.expiresAt, now + (this.opts.standbyMs ?? 1000));
        this.stats.active = false;
        return 0;
      }
      const got = await this.outbox.acquire(this.opts.stream, this.opts.owner, now, this.leaseMs);
      this.stats.active = got !== null;
      if (!got) {
        this.standbyUntil = now + Math.min(this.opts.standbyMs ?? 1000, this.leaseMs);
        return 0;
      }
      this.lease = { ...got, expiresAt: now + this.leaseMs };
    }
    this.origin ??= await this.outbox.origin();
    let n = 0;
    let moving: Promise<boolean> | null = null;
    const settle = async (): Promise<boolean> => {
      const m = moving;
      moving = null;
      return m === null || (await m);
    };
    try {
      let rows = await this.outbox.readAfter(this.lease.cursor, this.batch);
      while (rows.length > 0) {
        const cursor = rows[rows.length - 1]!.cursor;
        // A full batch: read the next one while this one is published (the cursor it starts from is
        // known; it is committed only after the publish).
        const next = rows.length === this.batch ? this.outbox.readAfter(cursor, this.batch) : null;
        next?.catch(() => undefined);
        const added = await this.target.publishStored(
          rows.map((r) => r.event),
          { origin: this.origin, positions: rows.map((r) => r.cursor) },
        );
        if (added === 0) {
          this.stats.skipped += rows.length;
          this.opts.onError?.(
            new Error(
              `the bus already had all ${rows.length} events up to store position ${cursor.tx}:${cursor.seq} (origin ${this.origin}): expected once after a relay crashed before moving its cursor; if this store was restored from a backup, these events were not delivered`,
            ),
          );
        }
        if (!(await settle())) return n;
        const count = rows.length;
        moving = this.move(cursor).then((ok) => {
          if (ok) {
            n += count;
            this.stats.published += count;
            this.stats.batches++;
          }
          return ok;
        });
        moving.catch(() => undefined);
        rows = next ? await next : [];
      }
      if (!(await settle())) return n;
    } finally {
      // A failure (publish, read) leaves no move running behind the pass.
      await (moving as Promise<boolean> | null)?.catch(() => false);
    }
    if (n === 0 && this.lease && this.lease.expiresAt - this.opts.clock.now() < (this.leaseMs * 2) / 3) await this.move();
    return n;
  }

  private async move(cursor?: Cursor): Promise<boolean> {
    const lease = this.lease!;
    const expiresAt = this.opts.clock.now() + this.leaseMs;
    if (!(await this.outbox.renew(this.opts.stream, this.opts.owner, lease.epoch, expiresAt, cursor))) {
      // Another relay holds the stream now: what we published twice is deduplicated downstream.
      this.lease = null;
      this.stats.active = false;
      this.stats.lostLease++;
      return false;
    }
    lease.expiresAt = expiresAt;
    if (cursor) lease.cursor = cursor;
    return true;
  }
}
