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
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Clock } from '../../scheduler/types.js';
import { LeaseLostError, StateConflictError } from '../../util/errors.js';
import { pendingMigrations } from '../migrations.js';
import {
  DEFAULT_LIMIT,
  countsAsRun,
  toDeadLetter,
  toDelivery,
  toEvent,
  toRun,
  toStateEntry,
  toTransition,
  toVersionInfo,
  type DeliveryRow,
  type EventRow,
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

const DELIVERY_COLUMNS = `d.id AS d_id, d.consumer AS d_consumer, d.attempts AS d_attempts, d.lease_token AS d_lease_token,
  d.lease_expires_at AS d_lease_expires_at, d.last_error AS d_last_error, d.dead_at AS d_dead_at,
  e.seq, e.id, e.name, e.payload, e.source, e.created_at, e.trace_id, e.order_key`;
const EVENT_COLUMNS = 'seq, id, name, payload, source, created_at, trace_id, order_key';
const RUN_COLUMNS = 'id, agent, instance, trigger, status, scheduled_at, started_at, finished_at, error, reason, event_id';
const VERSION_COLUMNS = 'version, created_at, size_bytes, key_count, changed_keys, run_id, reason';
// A delivery's lease is held while its token matches and it has not expired.
const LEASE_HELD = `id = @id AND lease_token = @token AND status = 'inflight' AND lease_expires_at > @now`;

export class SqliteStore implements StoreLike {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly checkpointer: WalCheckpointer | null = null;

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
    if (file !== ':memory:') {
      // Checkpoints run on a worker thread (checkpointer.ts), not inside this thread's commits.
      this.db.pragma(`wal_autocheckpoint = ${SAFETY_PAGES}`);
      this.checkpointer = new WalCheckpointer(file);
    }
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction; a throw rolls everything back. */
  private write<T>(fn: () => T): T {
    return this.txn.immediate(fn) as T;
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
          const all = commits.map((c): CommitSettled => ({ ok: true, result: this.commitOne(c) }));
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

  private commitOne(c: RunCommit): CommitResult {
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
    const published = c.emits.length > 0 ? this.publishInTx(c.emits, now) : 0;
    if (c.run) this.recordRunInTx(c.run);
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

  // ---- events ------------------------------------------------------------------------------

  async setSubscriptions(consumer: string, eventNames: string[]): Promise<void> {
    this.write(() => {
      this.st('DELETE FROM subscriptions WHERE consumer = ?').run(consumer);
      const add = this.st('INSERT INTO subscriptions (consumer, event_name) VALUES (?, ?) ON CONFLICT DO NOTHING');
      for (const name of eventNames) add.run(consumer, name);
    });
  }

  async getSubscriptions(): Promise<Record<string, string[]>> {
    const rows = this.st('SELECT consumer, event_name FROM subscriptions ORDER BY consumer, event_name').all() as { consumer: string; event_name: string }[];
    const out: Record<string, string[]> = {};
    for (const r of rows) (out[r.consumer] ??= []).push(r.event_name);
    return out;
  }

  async publish(events: NewEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    return this.write(() => this.publishInTx(events, this.clock.now()));
  }

  /** Appends events (duplicate ids skipped) and fans each out to every subscribed consumer group. */
  private publishInTx(events: NewEvent[], now: number): number {
    const insert = this.st(`INSERT INTO events (id, name, payload, source, created_at, trace_id, order_key, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO NOTHING RETURNING seq`);
    const fanOut = this.st(`INSERT INTO deliveries (consumer, event_seq, status, attempts, available_at)
      SELECT DISTINCT consumer, ?, 'pending', 0, ? FROM subscriptions WHERE event_name IN (?, '*')`);
    let inserted = 0;
    for (const e of events) {
      const r = insert.get(e.id, e.name, JSON.stringify(e.payload ?? null), e.source, e.createdAt, e.traceparent ?? e.traceId ?? null, e.key ?? null, e.runId ?? null) as { seq: number } | undefined;
      if (!r) continue;
      inserted++;
      fanOut.run(r.seq, now, e.name);
    }
    return inserted;
  }

  async getEvent(id: string): Promise<StoredEvent | undefined> {
    const r = this.st(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`).get(id) as EventRow | undefined;
    return r && toEvent(r);
  }

  async listEvents(opts: { afterSeq?: number; limit?: number; name?: string } = {}): Promise<StoredEvent[]> {
    const args = { after: opts.afterSeq ?? 0, limit: opts.limit ?? DEFAULT_LIMIT, name: opts.name };
    const rows = (
      opts.name === undefined
        ? this.st(`SELECT ${EVENT_COLUMNS} FROM events WHERE seq > @after ORDER BY seq LIMIT @limit`).all(args)
        : this.st(`SELECT ${EVENT_COLUMNS} FROM events WHERE name = @name AND seq > @after ORDER BY seq LIMIT @limit`).all(args)
    ) as EventRow[];
    return rows.map(toEvent);
  }

  async claimDeliveries(consumer: string, opts: ClaimOptions): Promise<Delivery[]> {
    return this.write(() => {
      const now = this.clock.now();
      const leaseExpiresAt = now + opts.leaseMs;
      // Ready rows in seq order plus waiting rows (expired lease, due retry), each from the head of
      // its own index, merged oldest first.
      const rows = this.st(`SELECT ${DELIVERY_COLUMNS} FROM (
          SELECT * FROM (SELECT id, event_seq FROM deliveries WHERE consumer = @consumer AND status = 'pending' ORDER BY event_seq LIMIT @limit)
          UNION ALL
          SELECT * FROM (SELECT id, event_seq FROM deliveries WHERE consumer = @consumer AND status IN ('inflight', 'retry') AND available_at <= @now
            ORDER BY event_seq LIMIT @limit)
          ORDER BY event_seq LIMIT @limit
        ) picked JOIN deliveries d ON d.id = picked.id JOIN events e ON e.seq = d.event_seq ORDER BY d.event_seq`).all({
        consumer,
        now,
        limit: opts.limit,
      }) as DeliveryRow[];
      const lease = this.st(`UPDATE deliveries SET status = 'inflight', attempts = attempts + 1, lease_token = ?, lease_expires_at = ?, available_at = ?
        WHERE id = ?`);
      for (const r of rows) {
        r.d_lease_token = opts.owner ? `${opts.owner}:${randomUUID()}` : randomUUID();
        r.d_lease_expires_at = leaseExpiresAt;
        r.d_attempts += 1;
        lease.run(r.d_lease_token, leaseExpiresAt, leaseExpiresAt, r.d_id);
      }
      return rows.map(toDelivery);
    });
  }

  async extendDelivery(deliveryId: number, leaseToken: string, leaseMs: number): Promise<boolean> {
    const now = this.clock.now();
    const res = this.st(`UPDATE deliveries SET lease_expires_at = @until, available_at = @until WHERE ${LEASE_HELD}`).run({
      id: deliveryId,
      token: leaseToken,
      now,
      until: now + leaseMs,
    });
    return res.changes === 1;
  }

  async failDelivery(deliveryId: number, leaseToken: string, outcome: { error: string; retryAt?: number; dead?: boolean }): Promise<boolean> {
    const now = this.clock.now();
    const held = { id: deliveryId, token: leaseToken, now, error: outcome.error };
    const res = outcome.dead
      ? this.st(`UPDATE deliveries SET status = 'dead', lease_token = NULL, lease_expires_at = NULL, last_error = @error, dead_at = @now
          WHERE ${LEASE_HELD}`).run(held)
      : this.st(`UPDATE deliveries SET status = CASE WHEN @retryAt > @now THEN 'retry' ELSE 'pending' END, available_at = @retryAt, lease_token = NULL, lease_expires_at = NULL, last_error = @error
          WHERE ${LEASE_HELD}`).run({ ...held, retryAt: outcome.retryAt ?? now });
    return res.changes === 1;
  }

  async ackDeliveries(tokens: Array<{ deliveryId: number; leaseToken: string }>): Promise<number> {
    if (tokens.length === 0) return 0;
    const now = this.clock.now();
    const del = this.st(`DELETE FROM deliveries WHERE ${LEASE_HELD}`);
    return this.write(() => tokens.reduce((n, t) => n + del.run({ id: t.deliveryId, token: t.leaseToken, now }).changes, 0));
  }

  async deliveryStats(consumer: string): Promise<{ depth: number; oldestCreatedAt: number | null }> {
    const r = this.st(`SELECT count(*) AS n, min(e.created_at) AS oldest FROM deliveries d JOIN events e ON e.seq = d.event_seq
      WHERE d.consumer = ? AND d.status <> 'dead'`).get(consumer) as { n: number; oldest: number | null };
    return { depth: r.n, oldestCreatedAt: r.oldest };
  }

  async releaseDeliveries(consumer?: string, owner?: string): Promise<number> {
    const res = this.st(
      `UPDATE deliveries SET status = 'pending', available_at = @now, lease_token = NULL, lease_expires_at = NULL
       WHERE status = 'inflight' AND (@consumer IS NULL OR consumer = @consumer) AND (@owner IS NULL OR substr(lease_token, 1, length(@owner) + 1) = @owner || ':')`,
    ).run({ now: this.clock.now(), consumer: consumer ?? null, owner: owner ?? null });
    return res.changes;
  }

  async pendingCount(consumer: string): Promise<number> {
    return (this.st(`SELECT count(*) AS n FROM deliveries WHERE consumer = ? AND status <> 'dead'`).get(consumer) as { n: number }).n;
  }

  async pendingCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    // Subscribed consumers with nothing pending report 0, so a gauge does not vanish when drained.
    for (const r of this.st('SELECT DISTINCT consumer FROM subscriptions').all() as { consumer: string }[]) out[r.consumer] = 0;
    const rows = this.st(`SELECT consumer, count(*) AS n FROM deliveries WHERE status <> 'dead' GROUP BY consumer`).all() as { consumer: string; n: number }[];
    for (const r of rows) out[r.consumer] = r.n;
    return out;
  }

  async listDeadLetters(opts: { consumer?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const from = `SELECT ${DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.status = 'dead'`;
    const args = { consumer: opts.consumer, limit: opts.limit ?? DEFAULT_LIMIT };
    const rows = (
      opts.consumer === undefined
        ? this.st(`${from} ORDER BY d.id LIMIT @limit`).all(args)
        : this.st(`${from} AND d.consumer = @consumer ORDER BY d.id LIMIT @limit`).all(args)
    ) as DeliveryRow[];
    return rows.map(toDeadLetter);
  }

  async redriveDeadLetters(opts: { consumer?: string; ids?: number[] }): Promise<number> {
    // One statement whatever the filters: absent filters are NULL and match everything.
    const res = this.st(`UPDATE deliveries SET status = 'pending', attempts = 0, available_at = @now, dead_at = NULL
      WHERE status = 'dead' AND (@consumer IS NULL OR consumer = @consumer)
        AND (@ids IS NULL OR id IN (SELECT value FROM json_each(@ids)))`).run({
      now: this.clock.now(),
      consumer: opts.consumer ?? null,
      ids: opts.ids ? JSON.stringify(opts.ids) : null,
    });
    return res.changes;
  }

  // ---- runs --------------------------------------------------------------------------------

  async recordRun(run: RunRecord): Promise<void> {
    this.write(() => this.recordRunInTx(run));
  }

  /** Inserts the run once (a repeated id is ignored) and folds it into the agent's stats. */
  private recordRunInTx(run: RunRecord): void {
    const res = this.st(`INSERT INTO runs (${RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`).run(
      run.id,
      run.agent,
      run.instance,
      run.trigger,
      run.status,
      run.scheduledAt,
      run.startedAt,
      run.finishedAt,
      run.error,
      run.reason,
      run.eventId,
    );
    if (res.changes !== 1 || !countsAsRun(run.status)) return;
    this.st(`INSERT INTO agent_stats (agent, runs_total, runs_failed, last_run_at, last_status) VALUES (?, 1, ?, ?, ?)
      ON CONFLICT (agent) DO UPDATE SET runs_total = runs_total + 1, runs_failed = runs_failed + excluded.runs_failed,
        last_status = CASE WHEN excluded.last_run_at >= last_run_at THEN excluded.last_status ELSE last_status END,
        last_run_at = max(last_run_at, excluded.last_run_at)`).run(run.agent, run.status === 'failed' ? 1 : 0, run.startedAt, run.status);
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
