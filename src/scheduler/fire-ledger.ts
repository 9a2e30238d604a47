// The fire ledger: every schedule fire that was claimed (`Store.claimFire`) but whose run has not
// yet been recorded, one row each, so a daemon that dies between the claim and the run's commit —
// or while the run waits in the overlap queue — does not silently lose it. The row is written
// BEFORE the claim and deleted IN the run's commit (a TxEffect), or right after the run's failure,
// missed or skipped record; whatever is left at start-up was claimed and never ran, and is run or
// recorded as missed by the agent's missed-run policy (FirePlan in recover()).
//
// Order of writes: ledger row, then claimFire. A crash between the two leaves a row for a fire
// that was never claimed (fire_at > last_fire_at): recovery drops it and the scheduler fires that
// time as usual. The reverse order had a window in which a claimed fire had no row.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { StoreHandle, StoreModule, TxEffect } from '../store/extension.js';

const TABLES = (t: (n: string, index?: boolean) => string, big: string) => [
  `CREATE TABLE ${t('schedule_fires')} (
    agent TEXT NOT NULL,
    fire_at ${big} NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at ${big} NOT NULL,
    PRIMARY KEY (agent, fire_at)
  )`,
];

// Migration 2: the node that claimed the fire (cluster, src/cluster) and its lease epoch, so a
// node taking an agent over re-queues only the fires of owners that are gone.
const OWNER = (t: string, big: string) => [`ALTER TABLE ${t} ADD COLUMN owner TEXT`, `ALTER TABLE ${t} ADD COLUMN epoch ${big}`];

export const fireLedgerStoreModule: StoreModule = {
  name: 'scheduler',
  sqlite: [
    { id: 1, name: 'claimed schedule fires not yet run', statements: TABLES((n) => n, 'INTEGER') },
    { id: 2, name: 'owner of a claimed fire', statements: OWNER('schedule_fires', 'INTEGER') },
  ],
  postgres: (schema) => [
    { id: 1, name: 'claimed schedule fires not yet run', statements: TABLES((n, index) => (index ? n : `${schema}.${n}`), 'BIGINT') },
    { id: 2, name: 'owner of a claimed fire', statements: OWNER(`${schema}.schedule_fires`, 'BIGINT') },
  ],
};

export interface PendingFire {
  agent: string;
  fireAt: number;
  runId: string;
  claimedAt: number;
  /** The cluster node that claimed it and its lease epoch (null on a single daemon). */
  owner: string | null;
  epoch: number | null;
}

export class FireLedger {
  constructor(
    private readonly h: StoreHandle,
    private readonly now: () => number,
  ) {}

  private t(name: string): string {
    return this.h.dialect === 'sqlite' ? name : `${this.h.schema}.${name}`;
  }

  private async exec(sql: string, params: unknown[]): Promise<number> {
    if (this.h.dialect === 'sqlite') return this.h.db.prepare(sql).run(...params).changes;
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    return (await this.h.pool.query(text, params)).rowCount ?? 0;
  }

  private async rows<R>(sql: string, params: unknown[]): Promise<R[]> {
    if (this.h.dialect === 'sqlite') return this.h.db.prepare(sql).all(...params) as R[];
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    return (await this.h.pool.query(text, params)).rows as R[];
  }

  /** Written before claimFire; false if a row for this fire already exists (another daemon's). */
  async open(agent: string, fireAt: number, runId: string, owner?: { node: string; epoch: number }): Promise<boolean> {
    const n = await this.exec(`INSERT INTO ${this.t('schedule_fires')} (agent, fire_at, run_id, claimed_at, owner, epoch) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, [
      agent,
      fireAt,
      runId,
      this.now(),
      owner?.node ?? null,
      owner?.epoch ?? null,
    ]);
    return n === 1;
  }

  /** The fire's run was recorded (failed, missed, skipped) outside a run commit, or the claim was lost. */
  async close(agent: string, fireAt: number): Promise<void> {
    await this.exec(`DELETE FROM ${this.t('schedule_fires')} WHERE agent = ? AND fire_at = ?`, [agent, fireAt]);
  }

  /** The same delete inside the run's commit: the fire is done exactly when the run commits. */
  closeEffect(agent: string, fireAt: number): TxEffect {
    const sql = `DELETE FROM ${this.t('schedule_fires')} WHERE agent = ? AND fire_at = ?`;
    return {
      sqlite: (db: Database.Database) => void db.prepare(sql).run(agent, fireAt),
      postgres: async (c: pg.PoolClient) => void (await c.query(sql.replace('?', '$1').replace('?', '$2'), [agent, fireAt])),
    };
  }

  /** Fires of the agent left open, oldest first. */
  async pending(agent: string): Promise<PendingFire[]> {
    const rows = await this.rows<{ agent: string; fire_at: number | string; run_id: string; claimed_at: number | string; owner: string | null; epoch: number | string | null }>(
      `SELECT agent, fire_at, run_id, claimed_at, owner, epoch FROM ${this.t('schedule_fires')} WHERE agent = ? ORDER BY fire_at`,
      [agent],
    );
    return rows.map((r) => ({ agent: r.agent, fireAt: Number(r.fire_at), runId: r.run_id, claimedAt: Number(r.claimed_at), owner: r.owner, epoch: r.epoch === null ? null : Number(r.epoch) }));
  }

  /** Whether a run record with this id exists (the run finished but its row was not yet deleted). */
  async ran(runId: string): Promise<boolean> {
    return (await this.rows(`SELECT 1 AS x FROM ${this.t('runs')} WHERE id = ?`, [runId])).length > 0;
  }
}

export type RecoveredFire = PendingFire & { action: 'run' | 'missed' | 'drop' | 'done' };

/**
 * What start-up does with the fires left open (pure): a fire never claimed (after the stored
 * last fire time) is dropped — the scheduler fires it as usual; one whose run was recorded is
 * done; the others were claimed and never ran: run again, unless the policy is `skip`.
 */
export function planRecovery(open: Array<PendingFire & { ran: boolean }>, lastFireAt: number | null, policy: 'skip' | 'run_once' | 'run_all'): RecoveredFire[] {
  return open.map((f) => {
    if (lastFireAt === null || f.fireAt > lastFireAt) return { ...f, action: 'drop' };
    if (f.ran) return { ...f, action: 'done' };
    return { ...f, action: policy === 'skip' ? 'missed' : 'run' };
  });
}
