// The embedded store: one SQLite file through better-sqlite3.
//
// Durability: WAL with synchronous=NORMAL. A commit is in the WAL (written, not fsynced) before
// commitRun resolves, so it survives a process crash or kill -9; only an OS crash or power loss can
// lose the last transactions (SQLite's documented trade-off for WAL+NORMAL; FULL would fsync every
// commit and cost several ms each, beyond the 1 ms commit target).
//
// better-sqlite3 is synchronous, so each method runs its SQL to completion on the daemon's thread;
// that is what makes a sub-millisecond commit possible (no round trips, no thread hops). Write
// transactions are BEGIN IMMEDIATE so a second process (the CLI) waits on busy_timeout instead of
// failing a lock upgrade. Statements are prepared once and cached by their SQL text. WAL
// checkpoints (the copy into the main file and its fsyncs) run on a worker thread with its own
// connection, not inside a commit on this thread (checkpointer.ts: they were the tail of ingest acks).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../../scheduler/types.js';
import { LeaseLostError, StateConflictError } from '../../util/errors.js';
import { pendingMigrations } from '../migrations.js';
import {
  DEFAULT_LIMIT,
  countsAsRun,
  toRun,
  toStateEntry,
  toTransition,
  toVersionInfo,
  type RunRow,
  type StateRow,
  type TransitionRow,
  type VersionRow,
} from '../rows.js';
import {
  checkVersionArg,
  diffToTarget,
  groupWrites,
  planNamespace,
  prefixUpperBound,
  visibleVersion,
  type KeyWrite,
  type NamespacePlan,
  type NamespaceRow,
  type StoredKey,
} from '../state-plan.js';
import type {
  AgentStats,
  ClaimOptions,
  CommitResult,
  CommitSettled,
  DeadLetter,
  Delivery,
  DesiredState,
  NewEvent,
  RunCommit,
  RunRecord,
  RunStatus,
  StateEntry,
  StateVersionInfo,
  StoreLike,
  StoredEvent,
  Transition,
} from '../types.js';
import { MIGRATIONS_TABLE, migrations } from './schema.js';
import { GroupCommit, stepsOf, type StepAnswers } from '../group-commit.js';
import { MODULE_MIGRATIONS_SQLITE, type SqliteHandle, type StoreModule } from '../extension.js';
import { SAFETY_PAGES, WalCheckpointer } from './checkpointer.js';
import { LEASE_HELD, SqliteEvents } from './events.js';

const RUN_COLUMNS = 'id, agent, instance, trigger, status, scheduled_at, started_at, finished_at, error, reason, event_id';
const VERSION_COLUMNS = 'version, created_at, size_bytes, key_count, changed_keys, run_id, reason';
const RUN_CHUNKS = [64, 16, 4, 1];
const RUN_VALUES = (n: number) => Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');

export class SqliteStore implements StoreLike {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly checkpointer: WalCheckpointer | null = null;
  private readonly events: SqliteEvents;

  constructor(
    file: string,
    private readonly clock: Clock,
  ) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.txn = this.db.transaction((fn: () => unknown) => fn());
    this.events = new SqliteEvents({ st: (sql) => this.st(sql), write: (fn) => this.write(fn), clock });
    if (file !== ':memory:') {
      // Checkpoints run on a worker thread (checkpointer.ts), not inside this thread's commits.
      this.db.pragma(`wal_autocheckpoint = ${SAFETY_PAGES}`);
      this.checkpointer = new WalCheckpointer(file, (m) => this.warn(m));
    }
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction; a throw rolls everything back. */
  private write<T>(fn: () => T): T {
    const out = this.txn.immediate(fn) as T;
    // The WAL grows only here (and in the few autocommit statements the next write catches up on).
    this.checkpointer?.afterCommit();
    return out;
  }

  private readonly warnings: Array<(message: string) => void> = [];

  onWarning(listener: (message: string) => void): void {
    this.warnings.push(listener);
  }

  /** To the listeners (the daemon's log), or as a process warning (stderr) when nobody listens. */
  private warn(message: string): void {
    if (this.warnings.length === 0) process.emitWarning(message, 'OpenClawStoreWarning');
    for (const l of this.warnings) l(message);
  }

  private st(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  async migrate(): Promise<void> {
    this.db.exec(MIGRATIONS_TABLE);
    // Inside the write lock, so two processes opening a fresh file apply each migration once.
    this.write(() => {
      const applied = (this.db.prepare('SELECT id FROM schema_migrations').all() as { id: number }[]).map((r) => r.id);
      for (const m of pendingMigrations(migrations, applied)) {
        for (const sql of m.statements) this.db.exec(sql);
        this.db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, this.clock.now());
      }
    });
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }

  async migrateModule(module: StoreModule): Promise<void> {
    this.db.exec(MODULE_MIGRATIONS_SQLITE);
    this.write(() => {
      const applied = (this.db.prepare('SELECT id FROM module_migrations WHERE module = ?').all(module.name) as { id: number }[]).map((r) => r.id);
      for (const m of pendingMigrations(module.sqlite, applied)) {
        for (const sql of m.statements) this.db.exec(sql);
        this.db.prepare('INSERT INTO module_migrations (module, id, name, applied_at) VALUES (?, ?, ?, ?)').run(module.name, m.id, m.name, this.clock.now());
      }
    });
  }

  handle(): SqliteHandle {
    return { dialect: 'sqlite', db: this.db, write: (fn) => this.write(fn) };
  }

  // ---- run transaction ---------------------------------------------------------------------

  /**
   * Group commit (../group-commit.ts): the run commits requested in one turn of the event loop
   * (several handlers that finished together) share ONE BEGIN IMMEDIATE … COMMIT: optimistically
   * without savepoints, and only when one of them fails, again with one SAVEPOINT each. Each is
   * still atomic with its own effects and fails alone (its savepoint is rolled back, the others
   * commit); they apply in the order they were requested, as if committed one after another. Statements here are in-process calls, so per-run statements inside the one
   * transaction cost microseconds; the shared COMMIT (one WAL write) is what the grouping saves.
   */
  private readonly group = new GroupCommit((commits, answers) => this.commitBatch(commits, answers));

  commitRun(c: RunCommit): Promise<CommitResult> {
    return this.group.commitRun(c);
  }

  commitRuns(commits: RunCommit[]): Promise<CommitSettled[]> {
    return this.group.commitRuns(commits);
  }

  private commitBatch(commits: RunCommit[], answers: StepAnswers): CommitSettled[] {
    // Optimistic first: the batch's runs one after another with no savepoint each (a savepoint is
    // two statements and a nested transaction per run). If any run fails, the whole attempt rolls
    // back and the batch runs again with a savepoint per run, so that run fails alone and its
    // batch-mates commit. Alone in its transaction a run needs no savepoint either way.
    if (commits.length > 1) {
      let settled: CommitSettled[] | null = null;
      try {
        settled = this.write(() => {
          // The run records of the batch go in with one multi-row INSERT after the runs (a failing
          // INSERT fails the attempt, and the per-savepoint retry below writes each run's own).
          const runs: RunRecord[] = [];
          const all = commits.map((c): CommitSettled => ({ ok: true, result: this.commitOne(c, runs) }));
          this.recordRunsInTx(runs);
          this.runSteps(commits, all, answers);
          return all;
        });
      } catch {
        answers.clear();
      }
      if (settled) return settled;
    }
    return this.write(() => {
      const settled =
        commits.length === 1
          ? [{ ok: true as const, result: this.commitOne(commits[0]!) }]
          : commits.map((c): CommitSettled => {
              try {
                // Nested: better-sqlite3 runs it in a SAVEPOINT, rolled back alone if it throws.
                return { ok: true, result: this.txn(() => this.commitOne(c)) as CommitResult };
              } catch (error) {
                return { ok: false, error };
              }
            });
      this.runSteps(commits, settled, answers);
      return settled;
    });
  }

  /** The batch steps of the runs that committed, once each, each in its own savepoint. */
  private runSteps(commits: RunCommit[], settled: CommitSettled[], answers: StepAnswers): void {
    const now = this.clock.now();
    for (const [step, n] of stepsOf(commits, settled)) {
      if (n === 0) continue;
      try {
        answers.set(step, this.txn(() => step.sqlite(this.db, now, n)));
      } catch {
        // rolled back alone (its savepoint); `done` gets no answer
      }
    }
  }

  /** One run's commit. `runs`: collects its run record for the caller to insert with the batch's. */
  private commitOne(c: RunCommit, runs?: RunRecord[]): CommitResult {
    const grouped = groupWrites(c.writes);
    const now = this.clock.now();
    for (const r of c.reads) {
      const row = this.st('SELECT version, expires_at FROM state_current WHERE namespace = ? AND key = ?').get(r.namespace, r.key) as
        | { version: number; expires_at: number | null }
        | undefined;
      if (visibleVersion(row, now) !== r.version) throw new StateConflictError(r.namespace, r.key);
    }
    if (c.ack) {
      const res = this.st(`DELETE FROM deliveries WHERE ${LEASE_HELD}`).run({ id: c.ack.deliveryId, token: c.ack.leaseToken, now });
      if (res.changes !== 1) throw new LeaseLostError(`acknowledging delivery ${c.ack.deliveryId}`);
    }
    const versions: Record<string, number> = {};
    const runId = c.runId ?? c.run?.id ?? null;
    for (const [namespace, writes] of grouped) {
      const plan = planNamespace(namespace, this.namespaceRow(namespace), writes, this.existingSizes(namespace, writes.keys()), c.maxStateSize?.[namespace]);
      if (!plan) continue;
      this.applyPlan(plan, c.reason ?? 'run', runId, now);
      versions[namespace] = plan.version;
    }
    const published = c.emits.length > 0 ? this.events.publishInTx(c.emits, now) : 0;
    if (c.run) {
      if (runs) runs.push(c.run);
      else this.recordRunsInTx([c.run]);
    }
    for (const e of c.effects ?? []) e.sqlite(this.db, now);
    return { versions, published };
  }

  private namespaceRow(namespace: string): NamespaceRow {
    const r = this.st('SELECT version, size_bytes, key_count FROM state_namespaces WHERE namespace = ?').get(namespace) as
      | { version: number; size_bytes: number; key_count: number }
      | undefined;
    return r ? { version: r.version, sizeBytes: r.size_bytes, keyCount: r.key_count } : { version: 0, sizeBytes: 0, keyCount: 0 };
  }

  private existingSizes(namespace: string, keys: Iterable<string>): Map<string, number> {
    const sizes = new Map<string, number>();
    const q = this.st('SELECT size FROM state_current WHERE namespace = ? AND key = ?');
    for (const key of keys) {
      const r = q.get(namespace, key) as { size: number } | undefined;
      if (r) sizes.set(key, r.size);
    }
    return sizes;
  }

  private applyPlan(plan: NamespacePlan, reason: string, runId: string | null, now: number): void {
    const { namespace, version } = plan;
    const upsert = this.st(`INSERT INTO state_current (namespace, key, value, version, expires_at, size) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, version = excluded.version, expires_at = excluded.expires_at, size = excluded.size`);
    const remove = this.st('DELETE FROM state_current WHERE namespace = ? AND key = ?');
    const history = this.st('INSERT INTO state_history (namespace, key, version, value, expires_at) VALUES (?, ?, ?, ?, ?)');
    for (const w of plan.upserts) {
      upsert.run(namespace, w.key, w.json, version, w.expiresAt, w.size);
      history.run(namespace, w.key, version, w.json, w.expiresAt);
    }
    for (const key of plan.deletes) {
      remove.run(namespace, key);
      history.run(namespace, key, version, null, null);
    }
    this.st(`INSERT INTO state_versions (namespace, version, created_at, size_bytes, key_count, changed_keys, run_id, reason)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(namespace, version, now, plan.sizeBytes, plan.keyCount, JSON.stringify(plan.changedKeys), runId, reason);
    this.st(`INSERT INTO state_namespaces (namespace, version, size_bytes, key_count) VALUES (?, ?, ?, ?)
      ON CONFLICT (namespace) DO UPDATE SET version = excluded.version, size_bytes = excluded.size_bytes, key_count = excluded.key_count`).run(
      namespace,
      version,
      plan.sizeBytes,
      plan.keyCount,
    );
  }

  // ---- state -------------------------------------------------------------------------------

  async getState(namespace: string, key: string): Promise<StateEntry | undefined> {
    const r = this.st(`SELECT key, value, version, expires_at FROM state_current
      WHERE namespace = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`).get(namespace, key, this.clock.now()) as StateRow | undefined;
    return r && toStateEntry(r);
  }

  async listState(namespace: string, prefix = ''): Promise<StateEntry[]> {
    const now = this.clock.now();
    const hi = prefixUpperBound(prefix);
    const live = 'namespace = @namespace AND (expires_at IS NULL OR expires_at > @now) AND key >= @lo';
    const rows = (
      hi === null
        ? this.st(`SELECT key, value, version, expires_at FROM state_current WHERE ${live} ORDER BY key`).all({ namespace, now, lo: prefix })
        : this.st(`SELECT key, value, version, expires_at FROM state_current WHERE ${live} AND key < @hi ORDER BY key`).all({ namespace, now, lo: prefix, hi })
    ) as StateRow[];
    return rows.map(toStateEntry);
  }

  async namespaceVersion(namespace: string): Promise<number> {
    return this.namespaceRow(namespace).version;
  }

  async listVersions(namespace: string, opts: { limit?: number; beforeVersion?: number } = {}): Promise<StateVersionInfo[]> {
    const rows = this.st(`SELECT ${VERSION_COLUMNS} FROM state_versions WHERE namespace = ? AND version < ? ORDER BY version DESC LIMIT ?`).all(
      namespace,
      opts.beforeVersion ?? Number.MAX_SAFE_INTEGER,
      opts.limit ?? DEFAULT_LIMIT,
    ) as VersionRow[];
    return rows.map(toVersionInfo);
  }

  async stateAt(namespace: string, version: number): Promise<Record<string, unknown>> {
    checkVersionArg(namespace, version, this.namespaceRow(namespace).version);
    const out: Record<string, unknown> = {};
    for (const k of this.keysAt(namespace, version)) out[k.key] = JSON.parse(k.json);
    return out;
  }

  /** Latest history entry per key at or before `version`, deleted keys left out. */
  private keysAt(namespace: string, version: number): StoredKey[] {
    // SQLite returns the bare columns of the row holding max(version) in each group.
    const rows = this.st(`SELECT key, value, expires_at, max(version) AS version FROM state_history
      WHERE namespace = ? AND version <= ? GROUP BY key ORDER BY key`).all(namespace, version) as {
      key: string;
      value: string | null;
      expires_at: number | null;
    }[];
    return rows.filter((r) => r.value !== null).map((r) => ({ key: r.key, json: r.value!, expiresAt: r.expires_at }));
  }

  async rollback(namespace: string, version: number, reason?: string): Promise<number> {
    return this.write(() => {
      const row = this.namespaceRow(namespace);
      checkVersionArg(namespace, version, row.version);
      const current = this.st('SELECT key, value AS json, expires_at AS expiresAt, size FROM state_current WHERE namespace = ?').all(namespace) as (StoredKey & {
        size: number;
      })[];
      const writes = diffToTarget(current, this.keysAt(namespace, version));
      const plan = planNamespace(namespace, row, writes, new Map(current.map((c) => [c.key, c.size])), undefined);
      if (!plan) return row.version;
      this.applyPlan(plan, reason ?? `rollback to v${version}`, null, this.clock.now());
      return plan.version;
    });
  }

  async stateSize(namespace: string): Promise<number> {
    return this.namespaceRow(namespace).sizeBytes;
  }

  async purgeExpired(): Promise<number> {
    return this.write(() => {
      const now = this.clock.now();
      const expired = this.st('SELECT namespace, key, size FROM state_current WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY namespace').all(now) as {
        namespace: string;
        key: string;
        size: number;
      }[];
      const byNamespace = new Map<string, { writes: Map<string, KeyWrite>; sizes: Map<string, number> }>();
      for (const e of expired) {
        let ns = byNamespace.get(e.namespace);
        if (!ns) byNamespace.set(e.namespace, (ns = { writes: new Map(), sizes: new Map() }));
        ns.writes.set(e.key, { key: e.key, json: null, size: 0, expiresAt: null });
        ns.sizes.set(e.key, e.size);
      }
      for (const [namespace, { writes, sizes }] of byNamespace) {
        const plan = planNamespace(namespace, this.namespaceRow(namespace), writes, sizes, undefined);
        if (plan) this.applyPlan(plan, 'ttl', null, now);
      }
      return expired.length;
    });
  }

  // ---- events (events.ts) ------------------------------------------------------------------

  setSubscriptions(consumer: string, eventNames: string[]): Promise<void> {
    return this.events.setSubscriptions(consumer, eventNames);
  }

  getSubscriptions(): Promise<Record<string, string[]>> {
    return this.events.getSubscriptions();
  }

  publish(events: NewEvent[]): Promise<number> {
    return this.events.publish(events);
  }

  getEvent(id: string): Promise<StoredEvent | undefined> {
    return this.events.getEvent(id);
  }

  listEvents(opts: { afterSeq?: number; limit?: number; name?: string } = {}): Promise<StoredEvent[]> {
    return this.events.listEvents(opts);
  }

  claimDeliveries(consumer: string, opts: ClaimOptions): Promise<Delivery[]> {
    return this.events.claimDeliveries(consumer, opts);
  }

  extendDelivery(deliveryId: number, leaseToken: string, leaseMs: number): Promise<boolean> {
    return this.events.extendDelivery(deliveryId, leaseToken, leaseMs);
  }

  failDelivery(deliveryId: number, leaseToken: string, outcome: { error: string; retryAt?: number; dead?: boolean }): Promise<boolean> {
    return this.events.failDelivery(deliveryId, leaseToken, outcome);
  }

  ackDeliveries(tokens: Array<{ deliveryId: number; leaseToken: string }>): Promise<number> {
    return this.events.ackDeliveries(tokens);
  }

  deliveryStats(consumer: string): Promise<{ depth: number; oldestCreatedAt: number | null }> {
    return this.events.deliveryStats(consumer);
  }

  releaseDeliveries(consumer?: string, owner?: string): Promise<number> {
    return this.events.releaseDeliveries(consumer, owner);
  }

  pendingCount(consumer: string): Promise<number> {
    return this.events.pendingCount(consumer);
  }

  pendingCounts(): Promise<Record<string, number>> {
    return this.events.pendingCounts();
  }

  listDeadLetters(opts: { consumer?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    return this.events.listDeadLetters(opts);
  }

  redriveDeadLetters(opts: { consumer?: string; ids?: number[] }): Promise<number> {
    return this.events.redriveDeadLetters(opts);
  }

  // ---- runs --------------------------------------------------------------------------------

  async recordRun(run: RunRecord): Promise<void> {
    this.write(() => this.recordRunsInTx([run]));
  }

  /**
   * Inserts the runs (a repeated id is ignored) with multi-row INSERTs, and folds the ones inserted
   * into their agents' stats with one upsert per agent. Per-run statements were a third of a sink
   * batch's commit (bench/store-events-micro.ts).
   */
  private recordRunsInTx(runs: RunRecord[]): void {
    if (runs.length === 0) return;
    const inserted = new Set<string>();
    for (let at = 0; at < runs.length; ) {
      // Fixed chunk sizes, so a handful of prepared statements serve every batch size.
      const n = RUN_CHUNKS.find((k) => k <= runs.length - at)!;
      const args: unknown[] = [];
      for (let i = at; i < at + n; i++) {
        const r = runs[i]!;
        args.push(r.id, r.agent, r.instance, r.trigger, r.status, r.scheduledAt, r.startedAt, r.finishedAt, r.error, r.reason, r.eventId);
      }
      const rows = this.st(`INSERT INTO runs (${RUN_COLUMNS}) VALUES ${RUN_VALUES(n)} ON CONFLICT (id) DO NOTHING RETURNING id`).all(...args) as { id: string }[];
      for (const r of rows) inserted.add(r.id);
      at += n;
    }
    // As if folded one run after another: last status = the last run at the latest start.
    const stats = new Map<string, { total: number; failed: number; lastAt: number; lastStatus: RunStatus }>();
    for (const r of runs) {
      // The first row of an id is the one stored: the same id twice in one batch is one run, counted
      // by that first row's status (as PostgreSQL's RETURNING-based delta does).
      if (!inserted.delete(r.id) || !countsAsRun(r.status)) continue;
      const s = stats.get(r.agent);
      if (!s) stats.set(r.agent, { total: 1, failed: r.status === 'failed' ? 1 : 0, lastAt: r.startedAt, lastStatus: r.status });
      else {
        s.total++;
        if (r.status === 'failed') s.failed++;
        if (r.startedAt >= s.lastAt) {
          s.lastAt = r.startedAt;
          s.lastStatus = r.status;
        }
      }
    }
    const upsert = this.st(`INSERT INTO agent_stats (agent, runs_total, runs_failed, last_run_at, last_status) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (agent) DO UPDATE SET runs_total = runs_total + excluded.runs_total, runs_failed = runs_failed + excluded.runs_failed,
        last_status = CASE WHEN excluded.last_run_at >= last_run_at THEN excluded.last_status ELSE last_status END,
        last_run_at = max(last_run_at, excluded.last_run_at)`);
    for (const [agent, s] of stats) upsert.run(agent, s.total, s.failed, s.lastAt, s.lastStatus);
  }

  async listRuns(agent: string, opts: { limit?: number; status?: RunStatus } = {}): Promise<RunRecord[]> {
    const args = { agent, status: opts.status, limit: opts.limit ?? DEFAULT_LIMIT };
    const rows = (
      opts.status === undefined
        ? this.st(`SELECT ${RUN_COLUMNS} FROM runs WHERE agent = @agent ORDER BY started_at DESC, seq DESC LIMIT @limit`).all(args)
        : this.st(`SELECT ${RUN_COLUMNS} FROM runs WHERE agent = @agent AND status = @status ORDER BY started_at DESC, seq DESC LIMIT @limit`).all(args)
    ) as RunRow[];
    return rows.map(toRun);
  }

  async agentStats(agent?: string): Promise<AgentStats[]> {
    const rows = this.st(`SELECT agent, runs_total, runs_failed, last_run_at, last_status FROM agent_stats
      WHERE @agent IS NULL OR agent = @agent ORDER BY agent`).all({ agent: agent ?? null }) as {
      agent: string;
      runs_total: number;
      runs_failed: number;
      last_run_at: number | null;
      last_status: RunStatus | null;
    }[];
    return rows.map((r) => ({ agent: r.agent, runsTotal: r.runs_total, runsFailed: r.runs_failed, lastRunAt: r.last_run_at, lastStatus: r.last_status }));
  }

  // ---- schedules ---------------------------------------------------------------------------

  async getSchedule(agent: string): Promise<{ lastFireAt: number | null; nextFireAt: number | null }> {
    const r = this.st('SELECT last_fire_at, next_fire_at FROM schedules WHERE agent = ?').get(agent) as
      | { last_fire_at: number | null; next_fire_at: number | null }
      | undefined;
    return { lastFireAt: r?.last_fire_at ?? null, nextFireAt: r?.next_fire_at ?? null };
  }

  async claimFire(agent: string, fireAt: number): Promise<boolean> {
    // The conditional upsert is the whole guarantee: it changes a row only for a later fire time.
    const res = this.st(`INSERT INTO schedules (agent, last_fire_at) VALUES (?, ?)
      ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
      WHERE schedules.last_fire_at IS NULL OR schedules.last_fire_at < excluded.last_fire_at`).run(agent, fireAt);
    return res.changes === 1;
  }

  async setNextFire(agent: string, nextFireAt: number | null): Promise<void> {
    this.st('INSERT INTO schedules (agent, next_fire_at) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET next_fire_at = excluded.next_fire_at').run(
      agent,
      nextFireAt,
    );
  }

  // The many-row forms take their rows as one JSON parameter (json_each): one statement whatever
  // the number of rows, with no bound-parameter limit to chunk around.
  async getSchedules(agents: string[]): Promise<Map<string, { lastFireAt: number | null; nextFireAt: number | null }>> {
    const rows = this.st('SELECT agent, last_fire_at, next_fire_at FROM schedules WHERE agent IN (SELECT value FROM json_each(?))').all(JSON.stringify(agents)) as Array<{
      agent: string;
      last_fire_at: number | null;
      next_fire_at: number | null;
    }>;
    return new Map(rows.map((r) => [r.agent, { lastFireAt: r.last_fire_at, nextFireAt: r.next_fire_at }]));
  }

  async setNextFires(entries: Array<{ agent: string; nextFireAt: number | null }>): Promise<void> {
    if (entries.length === 0) return;
    // `WHERE true`: an upsert's SELECT needs a WHERE so ON CONFLICT is not read as a join clause.
    this.st(`INSERT INTO schedules (agent, next_fire_at) SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j WHERE true
      ON CONFLICT (agent) DO UPDATE SET next_fire_at = excluded.next_fire_at`).run(JSON.stringify(entries.map((e) => [e.agent, e.nextFireAt])));
  }

  // ---- agent control -----------------------------------------------------------------------

  async getDesired(agent: string): Promise<DesiredState | undefined> {
    const r = this.st('SELECT desired FROM desired_state WHERE agent = ?').get(agent) as { desired: DesiredState } | undefined;
    return r?.desired;
  }

  async setDesired(agent: string, desired: DesiredState): Promise<void> {
    this.st(`INSERT INTO desired_state (agent, desired, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (agent) DO UPDATE SET desired = excluded.desired, updated_at = excluded.updated_at`).run(agent, desired, this.clock.now());
  }

  async recordTransition(t: Transition): Promise<void> {
    this.st('INSERT INTO transitions (agent, instance, from_state, to_state, reason, at) VALUES (?, ?, ?, ?, ?, ?)').run(t.agent, t.instance, t.from, t.to, t.reason, t.at);
  }

  async listTransitions(agent: string, limit = DEFAULT_LIMIT): Promise<Transition[]> {
    const rows = this.st('SELECT agent, instance, from_state, to_state, reason, at FROM transitions WHERE agent = ? ORDER BY seq DESC LIMIT ?').all(
      agent,
      limit,
    ) as TransitionRow[];
    return rows.map(toTransition);
  }

  // ---- meta --------------------------------------------------------------------------------

  async getMeta(key: string): Promise<string | undefined> {
    return (this.st('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.st('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async getMetas(keys: string[]): Promise<Map<string, string>> {
    const rows = this.st('SELECT key, value FROM meta WHERE key IN (SELECT value FROM json_each(?))').all(JSON.stringify(keys)) as Array<{ key: string; value: string }>;
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  async setMetas(entries: Array<[key: string, value: string]>): Promise<void> {
    if (entries.length === 0) return;
    this.st(`INSERT INTO meta (key, value) SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j WHERE true
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(JSON.stringify(entries));
  }
}
