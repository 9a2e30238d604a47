// The durable half of the budget book (book.ts): one transaction per batch that extends leases,
// moves settled amounts from leases to `used`, records alerts once per window and inserts the usage
// rows. Each caller's promise resolves after the commit that holds its writes.
import { num, q, q1, type SqlRunner, type Tx } from './sql.js';
import { insertUsage, type BucketCheck, type Crossed, type Unit, type UsageRecord } from './ledger.js';

/** A lease extension takes room for up to this many more calls like the one that asked. */
const LEASE_AHEAD = 64;

export interface Slot {
  key: string;
  scope: string;
  win: string;
  unit: Unit;
  resetsAt: number;
  used: number;
  other: number;
  inflight: number;
  /** This daemon's lease as reservations may use it (≤ leaseDurable: settles lower it at once). */
  lease: number;
  /** The lease as committed in the store. */
  leaseDurable: number;
  leased: boolean;
  loaded: Promise<void> | null;
  /** Settles or lease changes not yet committed. */
  pending: number;
  alerted: boolean;
}

export interface Delta {
  slot: Slot;
  used: number;
  /** Taken off the lease (the actual amount moved to `used`). */
  release: number;
}

export interface SettleEntry {
  usage: UsageRecord | null;
  alerts: Array<{ slot: Slot; used: number; limit: number; pct: number }>;
  resolve: (c: Crossed[]) => void;
  reject: (e: unknown) => void;
}

export interface Extension {
  slot: Slot;
  check: BucketCheck;
  resolve: (stale: boolean) => void;
  reject: (e: unknown) => void;
}
export interface BatchContext {
  sql: SqlRunner;
  owner: string;
  ttlMs: number;
  now(): number;
}

export async function writeBatch(b: BatchContext, settles: SettleEntry[], extensions: Extension[], deltas: Delta[]): Promise<void> {
  const now = b.now();
  const expires = now + b.ttlMs;
  const owner = b.owner;
  // One extension per slot per batch, sized for the calls waiting on it.
  const bySlot = new Map<Slot, Extension[]>();
  for (const e of extensions) {
    const w = bySlot.get(e.slot);
    if (w) w.push(e);
    else bySlot.set(e.slot, [e]);
  }
  const ext = [...bySlot].sort((a, b) => (a[0].key < b[0].key ? -1 : 1));
  const leaseRow = function* (s: Slot, amount: number): Tx<void> {
    const id = `${owner}${s.key}`;
    if (amount <= 0) yield* q(`DELETE FROM {p}llm_reservations WHERE id = ?`, id);
    else {
      yield* q(
        `INSERT INTO {p}llm_reservations (id, parts, created_at, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET parts = excluded.parts, expires_at = excluded.expires_at`,
        id, JSON.stringify([{ scope: s.scope, win: s.win, unit: s.unit, amount }]), now, expires,
      );
    }
  };
  let results: { crossed: Crossed[][]; leases: Map<Slot, number>; added: Map<Slot, number>; stale: Set<Extension> };
  try {
    results = await b.sql.tx(function* () {
      const leases = new Map<Slot, number>();
      const added = new Map<Slot, number>();
      const stale = new Set<Extension>();
      for (const [s, waiters] of ext) {
        const row = yield* q1(`SELECT used, reserved FROM {p}llm_buckets WHERE scope = ? AND win = ? AND unit = ? {lock}`, s.scope, s.win, s.unit);
        const used = num(row?.used);
        const others = Math.max(0, num(row?.reserved) - s.leaseDurable);
        // Waiters in order while they fit the durable figures; the others check again.
        let want = 0;
        for (const w of waiters) {
          if (used + others + s.inflight + want + w.check.amount <= w.check.limit) want += w.check.amount;
          else stale.add(w);
        }
        if (stale.size > 0) {
          // Another writer spent or reserved meanwhile (or the waiters together do not fit): take its figures.
          s.used = Math.max(s.used, used);
          s.other = others;
        }
        const limit = waiters[0]!.check.limit;
        const need = Math.max(0, s.inflight + want - s.lease);
        if (need <= 0) continue;
        const room = limit - used - others - s.leaseDurable;
        const ahead = Math.min(LEASE_AHEAD * waiters[0]!.check.amount, Math.max(0, (room - need) / 4));
        const amount = Math.max(need, Math.min(need + ahead, room));
        yield* q(
          `INSERT INTO {p}llm_buckets (scope, win, unit, used, reserved, expires_at) VALUES (?, ?, ?, 0, ?, ?)
           ON CONFLICT (scope, win, unit) DO UPDATE SET reserved = {p}llm_buckets.reserved + excluded.reserved`,
          s.scope, s.win, s.unit, amount, s.resetsAt,
        );
        added.set(s, amount);
        leases.set(s, s.leaseDurable + amount);
        yield* leaseRow(s, s.leaseDurable + amount);
      }
      for (const d of deltas) {
        const s = d.slot;
        yield* q(
          `INSERT INTO {p}llm_buckets (scope, win, unit, used, reserved, expires_at) VALUES (?, ?, ?, ?, 0, ?)
           ON CONFLICT (scope, win, unit) DO UPDATE SET used = {p}llm_buckets.used + excluded.used,
             reserved = CASE WHEN {p}llm_buckets.reserved > ? THEN {p}llm_buckets.reserved - ? ELSE 0 END`,
          s.scope, s.win, s.unit, d.used, s.resetsAt, d.release, d.release,
        );
        if (s.leased && d.release > 0) {
          const left = Math.max(0, (leases.get(s) ?? s.leaseDurable) - d.release);
          leases.set(s, left);
          yield* leaseRow(s, left);
        }
      }
      const crossed: Crossed[][] = [];
      for (const e of settles) {
        const out: Crossed[] = [];
        for (const a of e.alerts) {
          const ins = yield* q(`INSERT INTO {p}llm_alerts (scope, win, at) VALUES (?, ?, ?) ON CONFLICT (scope, win) DO NOTHING RETURNING scope`, a.slot.scope, a.slot.win, now);
          if (ins.length > 0) out.push({ scope: a.slot.scope, win: a.slot.win, used: a.used, limit: a.limit, pct: a.pct, resetsAt: a.slot.resetsAt });
        }
        crossed.push(out);
        if (e.usage) yield* insertUsage(e.usage);
      }
      return { crossed, leases, added, stale };
    });
  } catch (err) {
    for (const e of settles) e.reject(err);
    for (const e of extensions) e.reject(err);
    throw err;
  }
  // Settles already took their part off `lease` when they were asked; extensions add theirs now.
  for (const [s, amount] of results.leases) s.leaseDurable = amount;
  for (const [s, amount] of results.added) s.lease += amount;
  settles.forEach((e, i) => e.resolve(results.crossed[i]!));
  for (const e of extensions) e.resolve(results.stale.has(e));
}
