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

  /**
   * Claims many fire times (one scheduler tick) in ONE transaction: the store's claim (the
   * conditional upsert of Store.claimFire, on the store's `schedules` table, as the cluster's fenced
   * claim does) and, for the times claimed, the ledger row. Both in one transaction, so no claimed
   * time is ever without its row — the order of writes that `open` + claimFire need does not
   * matter here. Multi-row statements, a fixed number per tick whatever the number of fires
   * (10,000 agents at 1 Hz spent ~88 % of the daemon's thread in the former three statements per
   * fire).
   *
   * An agent may have several times (coalesced fires); the outcome is exactly that of claimFire
   * called for each in ascending order: a time is claimed iff it is after the agent's last claimed
   * time before this batch. The agent's latest time is what the upsert records.
   * Returns, per fire, whether it was claimed and its row written.
   */
  async claimBatch(fires: Array<{ agent: string; fireAt: number; runId: string }>): Promise<boolean[]> {
    if (fires.length === 0) return [];
    const now = this.now();
    const latest = new Map<string, number>();
    for (const f of fires) latest.set(f.agent, Math.max(latest.get(f.agent) ?? -Infinity, f.fireAt));
    // Rows are locked in agent order, so two claims over the same agents never wait on each other in a cycle.
    const agents = [...latest.keys()].sort();
    let done: Set<string>;
    if (this.h.dialect === 'sqlite') {
      const db = this.h.db;
      const prevOf = db.prepare(`SELECT agent, last_fire_at FROM schedules WHERE agent IN (SELECT value FROM json_each(?))`);
      // `WHERE true`: an upsert's SELECT needs a WHERE so ON CONFLICT is not read as a join clause.
      const claim = db.prepare(`INSERT INTO schedules (agent, last_fire_at) SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j WHERE true
        ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
        WHERE schedules.last_fire_at IS NULL OR schedules.last_fire_at < excluded.last_fire_at RETURNING agent`);
      const open = db.prepare(`INSERT INTO schedule_fires (agent, fire_at, run_id, claimed_at) SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, ? FROM json_each(?) j WHERE true
        ON CONFLICT DO NOTHING RETURNING agent, fire_at`);
      done = this.h.write(() => {
        const prev = new Map((prevOf.all(JSON.stringify(agents)) as Array<{ agent: string; last_fire_at: number | null }>).map((r) => [r.agent, r.last_fire_at]));
        const claimed = new Set((claim.all(JSON.stringify(agents.map((a) => [a, latest.get(a)]))) as Array<{ agent: string }>).map((r) => r.agent));
        const rows = fires.filter((f) => claimed.has(f.agent) && f.fireAt > (prev.get(f.agent) ?? -Infinity)).map((f) => [f.agent, f.fireAt, f.runId]);
        return new Set((open.all(now, JSON.stringify(rows)) as Array<{ agent: string; fire_at: number }>).map((r) => `${r.agent}\0${r.fire_at}`));
      });
    } else {
      // One statement: the ledger rows are inserted for the times the claim took. Data-modifying
      // CTEs share one snapshot: `prev` is the last claimed time before this statement (only claims
      // change it, and the schedules row of every armed agent exists from the boot on).
      const s = this.h.schema;
      const res = await this.h.pool.query<{ agent: string; fire_at: number | string }>(
        `WITH input AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) AS i(agent, fire_at, run_id)),
         latest AS (SELECT * FROM unnest($4::text[], $5::bigint[]) AS l(agent, fire_at)),
         prev AS (SELECT sc.agent, sc.last_fire_at FROM ${s}.schedules sc JOIN latest l ON l.agent = sc.agent),
         claim AS (
           INSERT INTO ${s}.schedules AS sc (agent, last_fire_at) SELECT agent, fire_at FROM latest
           ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
           WHERE sc.last_fire_at IS NULL OR sc.last_fire_at < excluded.last_fire_at
           RETURNING sc.agent
         )
         INSERT INTO ${s}.schedule_fires (agent, fire_at, run_id, claimed_at)
         SELECT i.agent, i.fire_at, i.run_id, $6 FROM input i JOIN claim c ON c.agent = i.agent LEFT JOIN prev p ON p.agent = i.agent
         WHERE p.last_fire_at IS NULL OR i.fire_at > p.last_fire_at
         ON CONFLICT DO NOTHING RETURNING agent, fire_at`,
        [fires.map((f) => f.agent), fires.map((f) => f.fireAt), fires.map((f) => f.runId), agents, agents.map((a) => latest.get(a)), now],
      );
      done = new Set(res.rows.map((r) => `${r.agent}\0${Number(r.fire_at)}`));
    }
    return fires.map((f) => done.has(`${f.agent}\0${f.fireAt}`));
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
    const rows = await this.rows<PendingRow>(`SELECT agent, fire_at, run_id, claimed_at, owner, epoch FROM ${this.t('schedule_fires')} WHERE agent = ? ORDER BY fire_at`, [agent]);
    return rows.map(toPending);
  }

  /** `pending` for many agents in one query (daemon boot); agents without open fires are absent. */
  async pendingOf(agents: string[]): Promise<Map<string, PendingFire[]>> {
    const cols = `agent, fire_at, run_id, claimed_at, owner, epoch FROM ${this.t('schedule_fires')}`;
    const rows =
      this.h.dialect === 'sqlite'
        ? await this.rows<PendingRow>(`SELECT ${cols} WHERE agent IN (SELECT value FROM json_each(?)) ORDER BY agent, fire_at`, [JSON.stringify(agents)])
        : await this.rows<PendingRow>(`SELECT ${cols} WHERE agent = ANY(?::text[]) ORDER BY agent, fire_at`, [agents]);
    const out = new Map<string, PendingFire[]>();
    for (const r of rows) {
      const list = out.get(r.agent) ?? [];
      list.push(toPending(r));
      out.set(r.agent, list);
    }
    return out;
  }

  /** Whether a run record with this id exists (the run finished but its row was not yet deleted). */
  async ran(runId: string): Promise<boolean> {
    return (await this.rows(`SELECT 1 AS x FROM ${this.t('runs')} WHERE id = ?`, [runId])).length > 0;
  }
}

type PendingRow = { agent: string; fire_at: number | string; run_id: string; claimed_at: number | string; owner: string | null; epoch: number | string | null };

function toPending(r: PendingRow): PendingFire {
  return { agent: r.agent, fireAt: Number(r.fire_at), runId: r.run_id, claimedAt: Number(r.claimed_at), owner: r.owner, epoch: r.epoch === null ? null : Number(r.epoch) };
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
