// Budgets in memory, the ledger written in batches (issue 10, the /v1 fast path).
//
// The daemon that owns the store keeps every bucket it draws from in memory: `used` (loaded from
// llm_buckets on first touch, then kept up to date here), `other` (what others hold reserved in the
// row: a dead daemon's lease, a reservation made through Ledger.reserve) and `inflight` (the worst
// case of this daemon's calls not yet settled). A reservation is a synchronous check of
// `used + other + inflight + amount ≤ limit` for every bucket, so concurrent calls cannot all pass a
// check only one of them should pass, exactly as the one-transaction reservation did.
//
// Crash safety comes from LEASES: before a call is dispatched, this daemon's durable reservation on
// each budget and token bucket (`reserved` in llm_buckets, recorded as a `lease:…` row in
// llm_reservations) must cover the worst case of all its calls in flight. Extending a lease is the
// only durable write before a dispatch, and it takes some headroom (up to LEASE_AHEAD calls, at most
// a quarter of what is left) so most calls need none. A settle moves the actual amount from the lease
// to `used` and writes the usage row; the settles of one event-loop turn share ONE transaction (group
// commit), and each caller's promise resolves after that commit, so a call answered to a client is
// in the ledger. After a crash the dead daemon's leases stay reserved until they expire (they are
// renewed while it lives): calls it had in flight are covered, nothing is overspent; a graceful stop
// releases them. Tokens-per-minute slots (sliding windows, rates not budgets) are not leased: they
// are counted here and their `used` written with the settles.
import { randomBytes } from 'node:crypto';
import { num, q, type SqlRunner, type Tx } from './sql.js';
import type { BucketCheck, Crossed, Ledger, Refusal, Unit, UsageRecord } from './ledger.js';
import { writeBatch, type Delta, type Extension, type SettleEntry, type Slot } from './book-batch.js';

const SEP = '\u001f';
/** Buckets kept in memory past which the idle ones are dropped at the sweep. */
const MAX_SLOTS = 10_000;

export class BudgetBook {
  /** Prefix of this daemon's lease rows in llm_reservations. */
  readonly owner = `lease:${randomBytes(6).toString('hex')}:`;
  private readonly slots = new Map<string, Slot>();
  /** Sliding-window slots by scope + unit. */
  private readonly series = new Map<string, { slots: Set<Slot>; loaded: Promise<void> | null }>();
  private readonly calls = new Map<string, Array<{ slot: Slot; check: BucketCheck }>>();
  private deltas = new Map<Slot, Delta>();
  private settles: SettleEntry[] = [];
  private extensions: Extension[] = [];
  private scheduled = false;
  private flushing: Promise<void> | null = null;
  ttlMs = 120_000;
  readonly sql: SqlRunner;

  constructor(readonly ledger: Ledger, readonly now: () => number = Date.now) {
    this.sql = ledger.sql;
  }

  // ---- reserve -----------------------------------------------------------------------------

  /** Reserves `amount` in every bucket or in none; the first bucket that would go over, or null. */
  async reserve(id: string, checks: BucketCheck[], ttlMs: number): Promise<Refusal | null> {
    this.ttlMs = Math.max(this.ttlMs, ttlMs);
    const slots = checks.map((c) => this.slot(c));
    const loading = slots.map((s, i) => (checks[i]!.slidingFrom !== undefined ? this.series.get(seriesKey(s))!.loaded : s.loaded)).filter((p): p is Promise<void> => p !== null);
    if (loading.length > 0) await Promise.all(loading);
    for (;;) {
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i]!;
        const { used, reserved } = this.view(c, slots[i]!);
        if (used + reserved + c.amount > c.limit) return { check: c, used, reserved };
      }
      const short: number[] = [];
      for (let i = 0; i < checks.length; i++) if (slots[i]!.leased && slots[i]!.inflight + checks[i]!.amount > slots[i]!.lease) short.push(i);
      if (short.length === 0) {
        for (let i = 0; i < checks.length; i++) slots[i]!.inflight += checks[i]!.amount;
        this.calls.set(id, slots.map((slot, i) => ({ slot, check: checks[i]! })));
        return null;
      }
      await Promise.all(short.map((i) => this.extend(slots[i]!, checks[i]!)));
    }
  }

  /** used and reserved (others' + this daemon's in flight) of the bucket a check names. */
  private view(c: BucketCheck, s: Slot): { used: number; reserved: number } {
    if (c.slidingFrom === undefined) return { used: s.used, reserved: s.other + s.inflight };
    let used = 0;
    let reserved = 0;
    const series = this.series.get(seriesKey(s))!;
    for (const x of series.slots) {
      if (x.win < c.slidingFrom) {
        if (x.inflight === 0 && x.pending === 0) this.forget(x);
        continue;
      }
      if (x.win > c.win) continue;
      used += x.used;
      reserved += x.other + x.inflight;
    }
    return { used, reserved };
  }

  private slot(c: BucketCheck): Slot {
    const key = `${c.scope}${SEP}${c.win}${SEP}${c.unit}`;
    let s = this.slots.get(key);
    if (s) return s;
    s = { key, scope: c.scope, win: c.win, unit: c.unit, resetsAt: c.resetsAt, used: 0, other: 0, inflight: 0, lease: 0, leaseDurable: 0, leased: c.slidingFrom === undefined, loaded: null, pending: 0, alerted: false };
    this.slots.set(key, s);
    if (c.slidingFrom !== undefined) {
      const sk = seriesKey(s);
      let series = this.series.get(sk);
      if (!series) {
        // First use of this window since start: the slots already in the store count.
        const fresh = { slots: new Set<Slot>(), loaded: null as Promise<void> | null };
        this.series.set(sk, fresh);
        fresh.loaded = this.sql.all(`SELECT win, used, reserved FROM {p}llm_buckets WHERE scope = ? AND unit = ? AND win >= ?`, c.scope, c.unit, c.slidingFrom).then((rows) => {
          for (const r of rows) {
            const x = String(r.win) === c.win ? s! : this.slot({ ...c, win: String(r.win) });
            x.used += num(r.used);
            x.other += num(r.reserved);
          }
          fresh.loaded = null;
        }, (err: unknown) => {
          this.series.delete(sk);
          throw err;
        });
        series = fresh;
      }
      series.slots.add(s);
      return s;
    }
    const slot = s;
    slot.loaded = this.sql.all(`SELECT used, reserved FROM {p}llm_buckets WHERE scope = ? AND win = ? AND unit = ?`, c.scope, c.win, c.unit).then(
      (rows) => {
        slot.used += num(rows[0]?.used);
        slot.other += num(rows[0]?.reserved);
        slot.loaded = null;
      },
      (err: unknown) => {
        this.slots.delete(key);
        throw err;
      },
    );
    return slot;
  }

  /** Waits for the lease of `s` to be extended (by this call or one already under way). */
  private extend(s: Slot, c: BucketCheck): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.extensions.push({ slot: s, check: c, resolve, reject });
      this.schedule();
    });
  }

  // ---- settle ------------------------------------------------------------------------------

  /**
   * Replaces reservation `id` by the actual amounts (per unit) and records the usage; resolves after
   * the commit that holds them, with the budgets that crossed their alert threshold.
   */
  settle(id: string, actual: { usd: number; tok: number }, usage: UsageRecord | null): Promise<Crossed[]> {
    const parts = this.calls.get(id);
    this.calls.delete(id);
    const alerts: SettleEntry['alerts'] = [];
    for (const { slot: s, check: c } of parts ?? []) {
      const amount = c.unit === 'usd' ? actual.usd : actual.tok;
      s.inflight = Math.max(0, s.inflight - c.amount);
      s.used += amount;
      const release = s.leased ? Math.min(amount, s.lease) : 0;
      s.lease -= release;
      let d = this.deltas.get(s);
      if (!d) {
        this.deltas.set(s, (d = { slot: s, used: 0, release: 0 }));
        s.pending++;
      }
      d.used += amount;
      d.release += release;
      if (c.unit === 'usd' && c.alertAtPct !== undefined && c.limit > 0 && !s.alerted && s.used * 100 >= c.alertAtPct * c.limit) {
        s.alerted = true;
        alerts.push({ slot: s, used: s.used, limit: c.limit, pct: c.alertAtPct });
      }
    }
    return new Promise<Crossed[]>((resolve, reject) => {
      this.settles.push({ usage, alerts, resolve, reject });
      this.schedule();
    });
  }

  /** Records usage that had no reservation (a cache hit, a call refused before dispatch). */
  record(usage: UsageRecord): Promise<void> {
    return this.settle(`none:${usage.id}`, { usd: 0, tok: 0 }, usage).then(() => undefined);
  }

  /** What the book holds for a bucket (undefined when it was not used since start). */
  peek(scope: string, win: string, unit: Unit): { used: number; reserved: number } | undefined {
    const s = this.slots.get(`${scope}${SEP}${win}${SEP}${unit}`);
    return s && s.loaded === null ? { used: s.used, reserved: s.other + s.inflight } : undefined;
  }

  // ---- the batch ---------------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // A failed batch rejects its callers' promises; nothing else to report here.
      this.flush().catch(() => undefined);
    });
  }

  /** Writes what was asked since the last batch in one transaction. One batch at a time. */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      if (this.settles.length === 0 && this.extensions.length === 0 && this.deltas.size === 0) return;
      const settles = this.settles;
      const extensions = this.extensions;
      const deltas = [...this.deltas.values()].sort((a, b) => (a.slot.key < b.slot.key ? -1 : 1));
      this.settles = [];
      this.extensions = [];
      this.deltas = new Map();
      try {
        await this.write(settles, extensions, deltas);
      } finally {
        for (const d of deltas) d.slot.pending--;
      }
    });
  }

  private write(settles: SettleEntry[], extensions: Extension[], deltas: Delta[]): Promise<void> {
    return writeBatch(this, settles, extensions, deltas);
  }

  // ---- upkeep ------------------------------------------------------------------------------

  /**
   * The periodic sweep: keeps this daemon's leases from expiring, releases the reservations and
   * leases of dead daemons that expired (Ledger.expireReservations), then takes the freed room into
   * account; gives back the leases of windows that are over. Returns how many expired.
   */
  async sweep(now: number): Promise<number> {
    await this.sql.all(`UPDATE {p}llm_reservations SET expires_at = ? WHERE id LIKE ?`, now + this.ttlMs, `${this.owner}%`);
    const expired = await this.ledger.expireReservations(now);
    // Windows that are over go; so do idle buckets beyond MAX_SLOTS (sessions and users come and go):
    // read again from the store if they come back.
    const idle = [...this.slots.values()].filter((s) => s.inflight === 0 && s.pending === 0);
    const done = idle.filter((s) => s.resetsAt <= now || (s.leased && this.slots.size > MAX_SLOTS));
    if (done.length > 0) await this.release(done);
    for (const s of done) this.forget(s);
    if (expired > 0) {
      await this.exclusive(async () => {
        for (const s of this.slots.values()) {
          if (!s.leased || s.loaded !== null) continue;
          const rows = await this.sql.all(`SELECT reserved FROM {p}llm_buckets WHERE scope = ? AND win = ? AND unit = ?`, s.scope, s.win, s.unit);
          s.other = Math.max(0, num(rows[0]?.reserved) - s.leaseDurable);
        }
      });
    }
    return expired;
  }

  /** Runs fn with no batch in flight (the durable lease figures hold still). */
  private async exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.flushing) await this.flushing;
    const p = fn();
    this.flushing = p.then(
      () => undefined,
      () => undefined,
    );
    try {
      await p;
    } finally {
      this.flushing = null;
    }
  }

  private forget(s: Slot): void {
    this.slots.delete(s.key);
    this.series.get(seriesKey(s))?.slots.delete(s);
  }

  /** A graceful stop: writes what is pending and gives back the leases not covering calls in flight. */
  async close(): Promise<void> {
    await this.flush();
    await this.release([...this.slots.values()]);
  }

  private async release(slots: Slot[]): Promise<void> {
    const give = slots.filter((s) => s.leased && s.leaseDurable > s.inflight).sort((a, b) => (a.key < b.key ? -1 : 1));
    if (give.length === 0) return;
    const owner = this.owner;
    const expires = this.now() + this.ttlMs;
    await this.sql.tx(function* (): Tx<void> {
      for (const s of give) {
        const back = s.leaseDurable - s.inflight;
        yield* q(`UPDATE {p}llm_buckets SET reserved = CASE WHEN reserved > ? THEN reserved - ? ELSE 0 END WHERE scope = ? AND win = ? AND unit = ?`, back, back, s.scope, s.win, s.unit);
        if (s.inflight > 0) {
          yield* q(`UPDATE {p}llm_reservations SET parts = ?, expires_at = ? WHERE id = ?`, JSON.stringify([{ scope: s.scope, win: s.win, unit: s.unit, amount: s.inflight }]), expires, `${owner}${s.key}`);
        } else yield* q(`DELETE FROM {p}llm_reservations WHERE id = ?`, `${owner}${s.key}`);
      }
    });
    for (const s of give) {
      s.leaseDurable = s.inflight;
      s.lease = Math.min(s.lease, s.inflight);
    }
  }
}

const seriesKey = (s: { scope: string; unit: Unit }) => `${s.scope}${SEP}${s.unit}`;
