// Durable workflow runs: one row per run and one per step execution (a `for_each` step has a row
// for the step and one per element). The engine writes a step's transition here and only then acts
// on it (dispatch, finish the run), so after a crash the rows say exactly what had happened.
// One repository for SQLite and PostgreSQL: the SQL is the same apart from placeholders and the
// schema prefix, which `q()` applies.
import type { StoreModule, StoreHandle } from '../store/extension.js';
import type { Store } from '../store/types.js';
import { DB_NOW } from '../cluster/schema.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
export type StepStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export const TERMINAL_STEP: ReadonlySet<StepStatus> = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

export interface RunRow {
  id: string;
  workflow: string;
  status: RunStatus;
  trigger: Record<string, unknown>;
  input: unknown;
  /** The definition the run started with (a later config change does not change a running run). */
  definition: unknown;
  error: string | null;
  parentRun: string | null;
  parentStep: string | null;
  dedupeKey: string | null;
  createdAt: number;
  finishedAt: number | null;
  updatedAt: number;
  /** The node (daemon) executing the run in a cluster; null on SQLite (one daemon). */
  owner?: string | null;
}

export interface StepRow {
  runId: string;
  /** The step id, or `id[3]` for element 3 of a for_each step. */
  key: string;
  step: string;
  phase: 'main' | 'on_failure';
  itemIndex: number | null;
  status: StepStatus;
  attempt: number;
  input: unknown;
  output: unknown;
  error: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** pending: not before this time (retry backoff); waiting: the approval deadline. */
  nextAt: number | null;
  /** A shell step's process (group leader) and its start time, to kill an orphan after a crash. */
  pid: number | null;
  pidStart: string | null;
  decidedBy: string | null;
  comment: string | null;
  updatedAt: number;
}

const RUN_COLS = 'id, workflow, status, trigger, input, definition, error, parent_run, parent_step, dedupe_key, created_at, finished_at, updated_at, owner';
const STEP_COLS = 'run_id, key, step, phase, item_index, status, attempt, input, output, error, started_at, finished_at, next_at, pid, pid_start, decided_by, comment, updated_at';

function ddl(prefix: string, big: string): string[] {
  return [
    `CREATE TABLE ${prefix}workflow_runs (
      id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, trigger TEXT NOT NULL, input TEXT,
      definition TEXT NOT NULL, error TEXT, parent_run TEXT, parent_step TEXT, dedupe_key TEXT,
      created_at ${big} NOT NULL, finished_at ${big}, updated_at ${big} NOT NULL)`,
    `CREATE UNIQUE INDEX ${prefix === '' ? '' : prefix}workflow_runs_dedupe ON ${prefix}workflow_runs (workflow, dedupe_key)`,
    `CREATE INDEX ${prefix === '' ? '' : prefix}workflow_runs_status ON ${prefix}workflow_runs (status, created_at)`,
    `CREATE INDEX ${prefix === '' ? '' : prefix}workflow_runs_wf ON ${prefix}workflow_runs (workflow, created_at)`,
    `CREATE TABLE ${prefix}workflow_steps (
      run_id TEXT NOT NULL, key TEXT NOT NULL, step TEXT NOT NULL, phase TEXT NOT NULL, item_index INTEGER,
      status TEXT NOT NULL, attempt INTEGER NOT NULL, input TEXT, output TEXT, error TEXT,
      started_at ${big}, finished_at ${big}, next_at ${big}, pid INTEGER, pid_start TEXT, decided_by TEXT, comment TEXT,
      updated_at ${big} NOT NULL, PRIMARY KEY (run_id, key))`,
    `CREATE TABLE ${prefix}workflow_webhook_seen (signature TEXT PRIMARY KEY, expires_at ${big} NOT NULL)`,
  ];
}

// 2: the run's owner node (cluster) and `wake`, bumped when another node's API decided one of its
// approvals (the owner polls for it: WorkflowEngine.poll).
const ownerDdl = (prefix: string, big: string): string[] => [
  `ALTER TABLE ${prefix}workflow_runs ADD COLUMN owner TEXT`,
  `ALTER TABLE ${prefix}workflow_runs ADD COLUMN wake ${big} NOT NULL DEFAULT 0`,
];

export const workflowsStoreModule: StoreModule = {
  name: 'workflows',
  sqlite: [
    { id: 1, name: 'workflow runs, steps, webhook replay guard', statements: ddl('', 'INTEGER') },
    { id: 2, name: 'workflow run owner node', statements: ownerDdl('', 'INTEGER') },
  ],
  // Index names are per schema in PostgreSQL and must not be schema-qualified: strip the prefix there.
  postgres: (schema) => [
    { id: 1, name: 'workflow runs, steps, webhook replay guard', statements: ddl(`${schema}.`, 'BIGINT').map((s) => s.replace(/INDEX "[^"]+"\.(\w+)/, 'INDEX $1')) },
    { id: 2, name: 'workflow run owner node', statements: ownerDdl(`${schema}.`, 'BIGINT') },
  ],
};

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
const parse = (v: unknown): unknown => (v === null || v === undefined ? null : JSON.parse(String(v)));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function runFrom(r: Record<string, unknown>): RunRow {
  return {
    id: String(r.id),
    workflow: String(r.workflow),
    status: r.status as RunStatus,
    trigger: parse(r.trigger) as Record<string, unknown>,
    input: parse(r.input),
    definition: parse(r.definition),
    error: (r.error as string | null) ?? null,
    parentRun: (r.parent_run as string | null) ?? null,
    parentStep: (r.parent_step as string | null) ?? null,
    dedupeKey: (r.dedupe_key as string | null) ?? null,
    createdAt: Number(r.created_at),
    finishedAt: num(r.finished_at),
    updatedAt: Number(r.updated_at),
    owner: (r.owner as string | null) ?? null,
  };
}

function stepFrom(r: Record<string, unknown>): StepRow {
  return {
    runId: String(r.run_id),
    key: String(r.key),
    step: String(r.step),
    phase: r.phase as StepRow['phase'],
    itemIndex: num(r.item_index),
    status: r.status as StepStatus,
    attempt: Number(r.attempt),
    input: parse(r.input),
    output: parse(r.output),
    error: (r.error as string | null) ?? null,
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    nextAt: num(r.next_at),
    pid: num(r.pid),
    pidStart: (r.pid_start as string | null) ?? null,
    decidedBy: (r.decided_by as string | null) ?? null,
    comment: (r.comment as string | null) ?? null,
    updatedAt: Number(r.updated_at),
  };
}

export class WorkflowRepository {
  private readonly h: StoreHandle;

  /** Secret values out of run inputs, step inputs and outputs before they are stored (issue 14 #5). */
  redact: <T>(v: T) => T = (v) => v;

  constructor(store: Store) {
    this.h = store.handle();
  }

  static async open(store: Store): Promise<WorkflowRepository> {
    await store.migrateModule(workflowsStoreModule);
    return new WorkflowRepository(store);
  }

  /** `{runs}` → the table, `?` → `$n` on PostgreSQL. */
  private q(sql: string): string {
    const prefix = this.h.dialect === 'postgres' ? `${this.h.schema}.` : '';
    let out = sql.replace(/\{(\w+)\}/g, (_m, t: string) => `${prefix}workflow_${t}`);
    if (this.h.dialect === 'postgres') {
      let n = 0;
      out = out.replace(/\?/g, () => `$${++n}`);
    }
    return out;
  }

  private async all(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    if (this.h.dialect === 'sqlite') return this.h.db.prepare(this.q(sql)).all(...params) as Record<string, unknown>[];
    return (await this.h.pool.query(this.q(sql), params)).rows as Record<string, unknown>[];
  }

  private async run(sql: string, params: unknown[] = []): Promise<number> {
    if (this.h.dialect === 'sqlite') {
      const h = this.h;
      return h.write(() => h.db.prepare(this.q(sql)).run(...params).changes);
    }
    return (await this.h.pool.query(this.q(sql), params)).rowCount ?? 0;
  }

  /** Inserts a run; false when a run with the same (workflow, dedupe key) exists (each event, file, fire time starts one run). */
  async createRun(r: RunRow): Promise<boolean> {
    const n = await this.run(
      `INSERT INTO {runs} (${RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [r.id, r.workflow, r.status, json(r.trigger), json(this.redact(r.input)), json(r.definition), r.error, r.parentRun, r.parentStep, r.dedupeKey, r.createdAt, r.finishedAt, r.updatedAt, r.owner ?? null],
    );
    return n > 0;
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    const [r] = await this.all(`SELECT ${RUN_COLS} FROM {runs} WHERE id = ?`, [id]);
    return r ? runFrom(r) : undefined;
  }

  /** A run by a unique prefix of its id (the CLI shows short ids). */
  async findRun(idOrPrefix: string): Promise<RunRow[]> {
    const exact = await this.getRun(idOrPrefix);
    if (exact) return [exact];
    const rows = await this.all(`SELECT ${RUN_COLS} FROM {runs} WHERE id LIKE ? ORDER BY created_at DESC LIMIT 2`, [idOrPrefix.replace(/[%_]/g, '') + '%']);
    return rows.map(runFrom);
  }

  async listRuns(opts: { workflow?: string; status?: RunStatus; limit?: number } = {}): Promise<RunRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (opts.workflow) {
      where.push('workflow = ?');
      params.push(opts.workflow);
    }
    if (opts.status) {
      where.push('status = ?');
      params.push(opts.status);
    }
    params.push(opts.limit ?? 50);
    const rows = await this.all(`SELECT ${RUN_COLS} FROM {runs} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id DESC LIMIT ?`, params);
    return rows.map(runFrom);
  }

  async lastRuns(): Promise<Map<string, RunRow>> {
    const rows = await this.all(`SELECT ${RUN_COLS} FROM {runs} r WHERE created_at = (SELECT MAX(created_at) FROM {runs} x WHERE x.workflow = r.workflow)`);
    return new Map(rows.map(runFrom).map((r) => [r.workflow, r]));
  }

  async finishRun(id: string, status: RunStatus, error: string | null, now: number): Promise<void> {
    await this.run(`UPDATE {runs} SET status = ?, error = ?, finished_at = ?, updated_at = ? WHERE id = ?`, [status, error, status === 'running' ? null : now, now, id]);
  }

  async getSteps(runId: string): Promise<StepRow[]> {
    const rows = await this.all(`SELECT ${STEP_COLS} FROM {steps} WHERE run_id = ? ORDER BY started_at IS NULL, started_at, key`, [runId]);
    return rows.map(stepFrom);
  }

  /** Writes a step's whole row (the engine is the only writer of a run's steps). */
  async putStep(s: StepRow): Promise<void> {
    await this.run(
      `INSERT INTO {steps} (${STEP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, attempt = excluded.attempt, input = excluded.input,
         output = excluded.output, error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at,
         next_at = excluded.next_at, pid = excluded.pid, pid_start = excluded.pid_start, decided_by = excluded.decided_by,
         comment = excluded.comment, updated_at = excluded.updated_at`,
      [s.runId, s.key, s.step, s.phase, s.itemIndex, s.status, s.attempt, json(this.redact(s.input)), json(this.redact(s.output)), this.redact(s.error), s.startedAt, s.finishedAt, s.nextAt, s.pid, s.pidStart, s.decidedBy, s.comment, s.updatedAt],
    );
  }

  /**
   * Records an approval decision only if the gate is still waiting (any node may write it; the
   * condition keeps a decision and the owner's deadline from both landing). False: not waiting.
   */
  async decideStep(s: StepRow): Promise<boolean> {
    const n = await this.run(
      `UPDATE {steps} SET status = ?, output = ?, error = ?, finished_at = ?, next_at = NULL, decided_by = ?, comment = ?, updated_at = ? WHERE run_id = ? AND key = ? AND status = 'waiting'`,
      [s.status, json(this.redact(s.output)), this.redact(s.error), s.finishedAt, s.decidedBy, s.comment, s.updatedAt, s.runId, s.key],
    );
    return n > 0;
  }

  /**
   * PostgreSQL cluster: claims, in one conditional UPDATE, the running runs this node may execute —
   * `mine` its own (a boot), and those without an owner or whose owner node has no live heartbeat
   * in cluster_nodes. Two nodes never both claim a run: the second UPDATE sees the new owner.
   */
  async claimRuns(node: string, mine: boolean): Promise<string[]> {
    if (this.h.dialect !== 'postgres') return [];
    const nodes = `${this.h.schema}.cluster_nodes`;
    const rows = await this.all(
      `UPDATE {runs} r SET owner = ? WHERE r.status = 'running' AND (${mine ? 'r.owner = ? OR ' : ''}r.owner IS NULL OR (r.owner <> ? AND NOT EXISTS (
         SELECT 1 FROM ${nodes} n WHERE n.node_id = r.owner AND n.expires_at > ${DB_NOW}))) RETURNING r.id`,
      mine ? [node, node, node] : [node, node],
    );
    return rows.map((r) => String(r.id));
  }

  async setOwner(runId: string, node: string): Promise<void> {
    await this.run(`UPDATE {runs} SET owner = ? WHERE id = ?`, [node, runId]);
  }

  /** Another node's API decided an approval of the run: its owner continues it on its next poll. */
  async wake(runId: string): Promise<void> {
    await this.run(`UPDATE {runs} SET wake = wake + 1 WHERE id = ?`, [runId]);
  }

  /** The running runs of `node` woken since it last looked, each cleared with the value it read. */
  async takeWoken(node: string): Promise<string[]> {
    const rows = await this.all(`SELECT id, wake FROM {runs} WHERE owner = ? AND status = 'running' AND wake > 0`, [node]);
    const out: string[] = [];
    for (const r of rows) if ((await this.run(`UPDATE {runs} SET wake = 0 WHERE id = ? AND wake = ?`, [r.id, r.wake])) > 0) out.push(String(r.id));
    return out;
  }

  async deleteSteps(runId: string, keys: string[]): Promise<void> {
    for (const k of keys) await this.run(`DELETE FROM {steps} WHERE run_id = ? AND key = ?`, [runId, k]);
  }

  async waitingApprovals(): Promise<StepRow[]> {
    const rows = await this.all(
      `SELECT ${STEP_COLS.split(', ').map((c) => 's.' + c).join(', ')} FROM {steps} s JOIN {runs} r ON r.id = s.run_id WHERE s.status = 'waiting' AND r.status = 'running' ORDER BY s.started_at`,
    );
    return rows.map(stepFrom);
  }

  /**
   * Remembers a webhook signature until `expiresAt`; false if it was seen before (a replay).
   * Atomic in both dialects (primary key), so two deliveries of one request cannot both pass.
   */
  async rememberSignature(signature: string, expiresAt: number, now: number): Promise<boolean> {
    await this.run(`DELETE FROM {webhook_seen} WHERE expires_at < ?`, [now]);
    const n = await this.run(`INSERT INTO {webhook_seen} (signature, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, [signature, expiresAt]);
    return n > 0;
  }
}
