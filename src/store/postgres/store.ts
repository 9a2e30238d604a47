// The shared store: PostgreSQL through a `pg` Pool, every table in one configurable schema, so
// several daemons (or several projects) can share a database.
//
// Concurrency across daemons: a commit locks the namespace rows it reads or writes (FOR UPDATE,
// sorted) before checking read versions, so commits to one namespace are serialised and a
// conflicting run is detected, never lost; deliveries are claimed with FOR UPDATE SKIP LOCKED;
// schedule fires are a conditional upsert. Tables are schema-qualified in every statement rather
// than relying on search_path, which transaction-mode poolers (PgBouncer) do not carry.
import pg from 'pg';
import type { Clock } from '../../scheduler/types.js';
import { FencedError, LeaseLostError, StateConflictError } from '../../util/errors.js';
import { pendingMigrations } from '../migrations.js';
import {
  DEFAULT_LIMIT,
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
import { queries, type QueryName } from './queries.js';
import { PostgresEvents, type Queryable } from './events.js';
import { GroupCommit, stepsOf, type StepAnswers } from '../group-commit.js';
import { migrations, migrationsTable } from './schema.js';
import { moduleMigrationsPostgres, type PostgresHandle, type StoreModule } from '../extension.js';

const INT8_OID = 20;
// Times (epoch ms), versions, seqs and counts are bigint; all stay far below 2^53, so read them as
// numbers. Per pool, not pg.types.setTypeParser, which would change every other pg user in the process.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

type NsRowDb = { namespace: string; version: number; size_bytes: number; key_count: number };

export class PostgresStore implements StoreLike {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private readonly sql: ReturnType<typeof queries>;
  private closed = false;
  private readonly events: PostgresEvents;

  constructor(
    private readonly url: string,
    private readonly schemaName: string,
    private readonly clock: Clock,
  ) {
    this.schema = quoteIdent(schemaName);
    this.sql = queries(this.schema);
    this.pool = new pg.Pool({ connectionString: url, types, max: 10 });
    this.events = new PostgresEvents({ pool: this.pool, clock, q: (db, name, values) => this.q(db, name, values), tx: (fn) => this.tx(fn) });
    // An idle client losing its connection emits here; without a listener that would crash the
    // daemon. The pool drops the client and the next query reports a real error.
    this.pool.on('error', () => {});
  }

  /** Runs a named prepared statement: parsed and planned once per connection. */
  private q<R extends pg.QueryResultRow = any>(db: Queryable, name: QueryName, values: unknown[]): Promise<pg.QueryResult<R>> {
    return db.query<R>({ name, text: this.sql[name], values });
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: destroy it instead of pooling it.
      c.release(broken);
    }
  }

  async migrate(): Promise<void> {
    await this.tx(async (c) => {
      // Serialises daemons opening the same schema at once; released at commit.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`openclaw:migrate:${this.schemaName}`]);
      // Check first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when it exists.
      const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schemaName]);
      if (exists.rowCount === 0) await c.query(`CREATE SCHEMA ${this.schema}`);
      await c.query(migrationsTable(this.schema));
      const applied = (await c.query<{ id: number }>(`SELECT id FROM ${this.schema}.schema_migrations`)).rows.map((r) => r.id);
      for (const m of pendingMigrations(migrations(this.schema), applied)) {
        for (const sql of m.statements) await c.query(sql);
        await c.query(`INSERT INTO ${this.schema}.schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)`, [m.id, m.name, this.clock.now()]);
      }
    });
  }

  async migrateModule(module: StoreModule): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`openclaw:migrate:${this.schemaName}`]);
      await c.query(moduleMigrationsPostgres(this.schema));
      const applied = (await c.query<{ id: number }>(`SELECT id FROM ${this.schema}.module_migrations WHERE module = $1`, [module.name])).rows.map((r) => r.id);
      for (const m of pendingMigrations(module.postgres(this.schema), applied)) {
        for (const sql of m.statements) await c.query(sql);
        await c.query(`INSERT INTO ${this.schema}.module_migrations (module, id, name, applied_at) VALUES ($1, $2, $3, $4)`, [module.name, m.id, m.name, this.clock.now()]);
      }
    });
  }

  handle(): PostgresHandle {
    return { dialect: 'postgres', pool: this.pool, url: this.url, schemaName: this.schemaName, schema: this.schema, tx: (fn) => this.tx(fn) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // ---- run transaction ---------------------------------------------------------------------

  // Group commit (../group-commit.ts): the runs of a batch share one transaction. Per run, only
  // what can fail on its own runs in a SAVEPOINT (read checks, state writes, size caps, subsystem
  // effects); acks are checked and locked for the whole batch in one statement first, and the
  // outbox, the acks and the run records of the runs that made it are written with one multi-row
  // statement each. A sink's run (ack + run record, no state) costs no savepoint at all.
  // Several batches may be in flight (one pool connection each): each locks every namespace it
  // touches up front, in one sorted statement, so two batches queue on a namespace instead of
  // taking its lock in opposite orders (deadlock).
  private readonly group = new GroupCommit((commits, answers) => this.commitBatch(commits, answers), 4);

  commitRun(c: RunCommit): Promise<CommitResult> {
    return this.group.commitRun(c);
  }

  commitRuns(commits: RunCommit[]): Promise<CommitSettled[]> {
    return this.group.commitRuns(commits);
  }

  private commitBatch(commits: RunCommit[], answers: StepAnswers): Promise<CommitSettled[]> {
    return this.tx(async (cl) => {
      const now = this.clock.now();
      const failed = new Map<number, unknown>();
      const fenced = commits.flatMap((c, i) => (c.fence ? [{ ...c.fence, i }] : []));
      if (fenced.length > 0) {
        const res = await this.q<{ i: string }>(cl, 'fence', [fenced.map((f) => f.agent), fenced.map((f) => f.instance), fenced.map((f) => f.owner), fenced.map((f) => f.epoch)]);
        const held = new Set(res.rows.map((r) => Number(r.i) - 1));
        fenced.forEach((f, k) => {
          if (!held.has(k)) failed.set(f.i, new FencedError(f.instance, f.owner, f.epoch));
        });
      }
      const acks = commits.flatMap((c, i) => (c.ack && !failed.has(i) ? [c.ack] : []));
      if (acks.length > 0) {
        const res = await this.q<{ id: number }>(cl, 'lockAcks', [acks.map((a) => a.deliveryId), acks.map((a) => a.leaseToken), now]);
        const held = new Set(res.rows.map((r) => r.id));
        commits.forEach((c, i) => {
          if (c.ack && !failed.has(i) && !held.has(c.ack.deliveryId)) failed.set(i, new LeaseLostError(`acknowledging delivery ${c.ack.deliveryId}`));
        });
      }
      const versions: Array<Record<string, number>> = commits.map(() => ({}));
      const stateful = (c: RunCommit, i: number) => !failed.has(i) && (c.writes.length > 0 || c.reads.length > 0 || !!c.effects?.length);
      const namespaces = new Set<string>();
      commits.forEach((c, i) => {
        if (!stateful(c, i)) return;
        for (const w of c.writes) namespaces.add(w.namespace);
        for (const r of c.reads) namespaces.add(r.namespace);
      });
      // The batch's namespace rows, locked once; updated as its runs commit (a savepoint rolled
      // back leaves them as they were).
      const nsRows = await this.lockNamespaces(cl, [...namespaces]);
      for (let i = 0; i < commits.length; i++) {
        const c = commits[i]!;
        if (!stateful(c, i)) continue;
        // Alone in its transaction a run needs no savepoint: its failure fails the transaction.
        if (commits.length === 1) {
          versions[i] = await this.stateIn(cl, c, nsRows, now);
          continue;
        }
        // Not released: an unreleased savepoint ends with the transaction, and the next one of the
        // same name shadows it (one round trip less per run).
        await cl.query('SAVEPOINT run');
        try {
          versions[i] = await this.stateIn(cl, c, nsRows, now);
        } catch (err) {
          await cl.query('ROLLBACK TO SAVEPOINT run');
          failed.set(i, err);
        }
      }
      const ok = commits.map((_, i) => i).filter((i) => !failed.has(i));
      const okAcks = ok.flatMap((i) => (commits[i]!.ack ? [commits[i]!.ack!] : []));
      if (okAcks.length > 0) await this.q(cl, 'ackMany', [okAcks.map((a) => a.deliveryId), okAcks.map((a) => a.leaseToken), now]);
      const emits = ok.flatMap((i) => commits[i]!.emits);
      const inserted = emits.length > 0 ? await this.events.publishIn(cl, emits, now) : new Set<string>();
      const runs = ok.flatMap((i) => (commits[i]!.run ? [commits[i]!.run!] : []));
      if (runs.length > 0) await this.recordRunsIn(cl, runs);
      const settled = commits.map((c, i): CommitSettled => {
        if (failed.has(i)) return { ok: false, error: failed.get(i) };
        let published = 0;
        for (const e of c.emits) if (inserted.delete(e.id)) published++;
        return { ok: true, result: { versions: versions[i]!, published } };
      });
      for (const [step, n] of stepsOf(commits, settled)) {
        if (n === 0) continue;
        await cl.query('SAVEPOINT step');
        try {
          answers.set(step, await step.postgres(cl, this.schema, now, n));
        } catch {
          await cl.query('ROLLBACK TO SAVEPOINT step'); // the step alone; `done` gets no answer
        }
      }
      return settled;
    });
  }

  /** The part of a run's commit that may fail on its own: read checks, state writes, effects. */
  private async stateIn(cl: pg.PoolClient, c: RunCommit, nsRows: Map<string, NamespaceRow>, now: number): Promise<Record<string, number>> {
    const grouped = groupWrites(c.writes);
    const written: { namespace: string; key: string }[] = [];
    for (const [namespace, writes] of grouped) for (const key of writes.keys()) written.push({ namespace, key });
    // One read of the keys the run read (version check) and wrote (sizes).
    const existing = c.reads.length + written.length > 0 ? await this.keyRows(cl, [...c.reads, ...written]) : new Map();
    for (const r of c.reads) {
      if (visibleVersion(existing.get(keyId(r.namespace, r.key)), now) !== r.version) throw new StateConflictError(r.namespace, r.key);
    }
    const versions: Record<string, number> = {};
    const plans: NamespacePlan[] = [];
    if (grouped.size > 0) {
      for (const [namespace, writes] of grouped) {
        const sizes = new Map<string, number>();
        for (const key of writes.keys()) {
          const row = existing.get(keyId(namespace, key));
          if (row) sizes.set(key, row.size);
        }
        const plan = planNamespace(namespace, nsRows.get(namespace)!, writes, sizes, c.maxStateSize?.[namespace]);
        if (plan) plans.push(plan);
      }
      await this.applyPlans(cl, plans, c.reason ?? 'run', c.runId ?? c.run?.id ?? null, now);
      for (const p of plans) versions[p.namespace] = p.version;
    }
    for (const e of c.effects ?? []) await e.postgres(cl, this.schema, now);
    // Only now (nothing above threw) do the batch's namespace rows move on.
    for (const p of plans) nsRows.set(p.namespace, { version: p.version, sizeBytes: p.sizeBytes, keyCount: p.keyCount });
    return versions;
  }

  /** Creates missing namespace rows and locks all of them, in one sorted order. */
  private async lockNamespaces(cl: pg.PoolClient, namespaces: string[]): Promise<Map<string, NamespaceRow>> {
    const rows = new Map<string, NamespaceRow>();
    if (namespaces.length === 0) return rows;
    const sorted = [...namespaces].sort();
    await this.q(cl, 'ensureNamespaces', [sorted]);
    const res = await this.q<NsRowDb>(cl, 'lockNamespaces', [sorted]);
    for (const r of res.rows) rows.set(r.namespace, { version: r.version, sizeBytes: r.size_bytes, keyCount: r.key_count });
    return rows;
  }

  private async keyRows(
    db: Queryable,
    keys: readonly { namespace: string; key: string }[],
  ): Promise<Map<string, { version: number; expires_at: number | null; size: number }>> {
    const res = await this.q<{ namespace: string; key: string; version: number; expires_at: number | null; size: number }>(db, 'keyVersions', [
      keys.map((k) => k.namespace),
      keys.map((k) => k.key),
    ]);
    return new Map(res.rows.map((r) => [keyId(r.namespace, r.key), r]));
  }

  private async applyPlans(cl: pg.PoolClient, plans: NamespacePlan[], reason: string, runId: string | null, now: number): Promise<void> {
    if (plans.length === 0) return;
    const ch = { ns: [] as string[], key: [] as string[], version: [] as number[], value: [] as (string | null)[], exp: [] as (number | null)[], size: [] as number[] };
    const push = (p: NamespacePlan, key: string, value: string | null, exp: number | null, size: number) => {
      ch.ns.push(p.namespace);
      ch.key.push(key);
      ch.version.push(p.version);
      ch.value.push(value);
      ch.exp.push(exp);
      ch.size.push(size);
    };
    for (const p of plans) {
      for (const w of p.upserts) push(p, w.key, w.json, w.expiresAt, w.size);
      for (const key of p.deletes) push(p, key, null, null, 0);
    }
    await this.q(cl, 'applyState', [
      ch.ns,
      ch.key,
      ch.version,
      ch.value,
      ch.exp,
      ch.size,
      plans.map((p) => p.namespace),
      plans.map((p) => p.version),
      plans.map((p) => p.sizeBytes),
      plans.map((p) => p.keyCount),
      plans.map((p) => JSON.stringify(p.changedKeys)),
      now,
      runId,
      reason,
    ]);
  }

  // ---- state -------------------------------------------------------------------------------

  async getState(namespace: string, key: string): Promise<StateEntry | undefined> {
    const res = await this.q<StateRow>(this.pool, 'getState', [namespace, key, this.clock.now()]);
    return res.rows[0] && toStateEntry(res.rows[0]);
  }

  async listState(namespace: string, prefix = ''): Promise<StateEntry[]> {
    const now = this.clock.now();
    const hi = prefixUpperBound(prefix);
    const res =
      hi === null
        ? await this.q<StateRow>(this.pool, 'listState', [namespace, now, prefix])
        : await this.q<StateRow>(this.pool, 'listStateBounded', [namespace, now, prefix, hi]);
    return res.rows.map(toStateEntry);
  }

  private async namespaceRow(db: Queryable, namespace: string): Promise<NamespaceRow> {
    const r = (await this.q<NsRowDb>(db, 'namespaceRow', [namespace])).rows[0];
    return r ? { version: r.version, sizeBytes: r.size_bytes, keyCount: r.key_count } : { version: 0, sizeBytes: 0, keyCount: 0 };
  }

  async namespaceVersion(namespace: string): Promise<number> {
    return (await this.namespaceRow(this.pool, namespace)).version;
  }

  async listVersions(namespace: string, opts: { limit?: number; beforeVersion?: number } = {}): Promise<StateVersionInfo[]> {
    const res = await this.q<VersionRow>(this.pool, 'listVersions', [namespace, opts.beforeVersion ?? Number.MAX_SAFE_INTEGER, opts.limit ?? DEFAULT_LIMIT]);
    return res.rows.map(toVersionInfo);
  }

  async stateAt(namespace: string, version: number): Promise<Record<string, unknown>> {
    checkVersionArg(namespace, version, (await this.namespaceRow(this.pool, namespace)).version);
    const out: Record<string, unknown> = {};
    for (const k of await this.keysAt(this.pool, namespace, version)) out[k.key] = JSON.parse(k.json);
    return out;
  }

  private async keysAt(db: Queryable, namespace: string, version: number): Promise<StoredKey[]> {
    const res = await this.q<{ key: string; value: string | null; expires_at: number | null }>(db, 'keysAt', [namespace, version]);
    return res.rows.filter((r) => r.value !== null).map((r) => ({ key: r.key, json: r.value!, expiresAt: r.expires_at }));
  }

  async rollback(namespace: string, version: number, reason?: string): Promise<number> {
    return this.tx(async (cl) => {
      const row = (await this.lockNamespaces(cl, [namespace])).get(namespace)!;
      checkVersionArg(namespace, version, row.version);
      const res = await this.q<{ key: string; value: string; expires_at: number | null; size: number }>(cl, 'currentKeys', [namespace]);
      const current = res.rows.map((r) => ({ key: r.key, json: r.value, expiresAt: r.expires_at }));
      const writes = diffToTarget(current, await this.keysAt(cl, namespace, version));
      const plan = planNamespace(namespace, row, writes, new Map(res.rows.map((r) => [r.key, r.size])), undefined);
      if (!plan) return row.version;
      await this.applyPlans(cl, [plan], reason ?? `rollback to v${version}`, null, this.clock.now());
      return plan.version;
    });
  }

  async stateSize(namespace: string): Promise<number> {
    return (await this.namespaceRow(this.pool, namespace)).sizeBytes;
  }

  async purgeExpired(): Promise<number> {
    const now = this.clock.now();
    const candidates = (await this.q<{ namespace: string }>(this.pool, 'expiredNamespaces', [now])).rows.map((r) => r.namespace);
    if (candidates.length === 0) return 0;
    return this.tx(async (cl) => {
      const nsRows = await this.lockNamespaces(cl, candidates);
      // Re-read under the locks: a commit may have rewritten or deleted a key since the scan above.
      const expired = (await this.q<{ namespace: string; key: string; size: number }>(cl, 'expiredKeys', [candidates, now])).rows;
      const byNamespace = new Map<string, { writes: Map<string, KeyWrite>; sizes: Map<string, number> }>();
      for (const e of expired) {
        let ns = byNamespace.get(e.namespace);
        if (!ns) byNamespace.set(e.namespace, (ns = { writes: new Map(), sizes: new Map() }));
        ns.writes.set(e.key, { key: e.key, json: null, size: 0, expiresAt: null });
        ns.sizes.set(e.key, e.size);
      }
      const plans: NamespacePlan[] = [];
      for (const [namespace, { writes, sizes }] of byNamespace) {
        const plan = planNamespace(namespace, nsRows.get(namespace)!, writes, sizes, undefined);
        if (plan) plans.push(plan);
      }
      await this.applyPlans(cl, plans, 'ttl', null, now);
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
    await this.recordRunIn(this.pool, run);
  }

  private runsSinceFold = 0;

  /** Folds the per-run stats deltas into agent_stats (one statement, its own transaction). */
  private async foldStats(): Promise<void> {
    this.runsSinceFold = 0;
    await this.q(this.pool, 'foldStats', []);
  }

  private async recordRunIn(db: Queryable, run: RunRecord): Promise<void> {
    // Keep the delta table short without a timer: every 500 runs, fold in the background.
    if (++this.runsSinceFold >= 500) void this.foldStats().catch(() => undefined);
    await this.q(db, 'recordRun', [
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
    ]);
  }

  private async recordRunsIn(db: Queryable, runs: RunRecord[]): Promise<void> {
    if (runs.length === 1) return this.recordRunIn(db, runs[0]!);
    this.runsSinceFold += runs.length - 1;
    if (++this.runsSinceFold >= 500) void this.foldStats().catch(() => undefined);
    const col = <K extends keyof RunRecord>(k: K) => runs.map((r) => r[k]);
    await this.q(db, 'recordRuns', [
      col('id'), col('agent'), col('instance'), col('trigger'), col('status'), col('scheduledAt'),
      col('startedAt'), col('finishedAt'), col('error'), col('reason'), col('eventId'),
    ]);
  }

  async listRuns(agent: string, opts: { limit?: number; status?: RunStatus } = {}): Promise<RunRecord[]> {
    const res = await this.q<RunRow>(this.pool, 'listRuns', [agent, opts.status ?? null, opts.limit ?? DEFAULT_LIMIT]);
    return res.rows.map(toRun);
  }

  async agentStats(agent?: string): Promise<AgentStats[]> {
    await this.foldStats();
    const res = await this.q<{ agent: string; runs_total: number; runs_failed: number; last_run_at: number | null; last_status: RunStatus | null }>(
      this.pool,
      'agentStats',
      [agent ?? null],
    );
    return res.rows.map((r) => ({ agent: r.agent, runsTotal: r.runs_total, runsFailed: r.runs_failed, lastRunAt: r.last_run_at, lastStatus: r.last_status }));
  }

  // ---- schedules ---------------------------------------------------------------------------

  async getSchedule(agent: string): Promise<{ lastFireAt: number | null; nextFireAt: number | null }> {
    const r = (await this.q<{ last_fire_at: number | null; next_fire_at: number | null }>(this.pool, 'getSchedule', [agent])).rows[0];
    return { lastFireAt: r?.last_fire_at ?? null, nextFireAt: r?.next_fire_at ?? null };
  }

  async claimFire(agent: string, fireAt: number): Promise<boolean> {
    return (await this.q(this.pool, 'claimFire', [agent, fireAt])).rowCount === 1;
  }

  async setNextFire(agent: string, nextFireAt: number | null): Promise<void> {
    await this.q(this.pool, 'setNextFire', [agent, nextFireAt]);
  }

  async getSchedules(agents: string[]): Promise<Map<string, { lastFireAt: number | null; nextFireAt: number | null }>> {
    const rows = (await this.q<{ agent: string; last_fire_at: number | null; next_fire_at: number | null }>(this.pool, 'getSchedules', [agents])).rows;
    return new Map(rows.map((r) => [r.agent, { lastFireAt: r.last_fire_at, nextFireAt: r.next_fire_at }]));
  }

  async setNextFires(entries: Array<{ agent: string; nextFireAt: number | null }>): Promise<void> {
    if (entries.length === 0) return;
    // One row per agent (the last given): an INSERT … ON CONFLICT may not change a row twice.
    const last = new Map(entries.map((e) => [e.agent, e.nextFireAt]));
    await this.q(this.pool, 'setNextFires', [[...last.keys()], [...last.values()]]);
  }

  // ---- agent control -----------------------------------------------------------------------

  async getDesired(agent: string): Promise<DesiredState | undefined> {
    return (await this.q<{ desired: DesiredState }>(this.pool, 'getDesired', [agent])).rows[0]?.desired;
  }

  async setDesired(agent: string, desired: DesiredState): Promise<void> {
    await this.q(this.pool, 'setDesired', [agent, desired, this.clock.now()]);
  }

  async recordTransition(t: Transition): Promise<void> {
    await this.q(this.pool, 'recordTransition', [t.agent, t.instance, t.from, t.to, t.reason, t.at]);
  }

  async listTransitions(agent: string, limit = DEFAULT_LIMIT): Promise<Transition[]> {
    return (await this.q<TransitionRow>(this.pool, 'listTransitions', [agent, limit])).rows.map(toTransition);
  }

  // ---- meta --------------------------------------------------------------------------------

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.q<{ value: string }>(this.pool, 'getMeta', [key])).rows[0]?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.q(this.pool, 'setMeta', [key, value]);
  }

  async getMetas(keys: string[]): Promise<Map<string, string>> {
    const rows = (await this.q<{ key: string; value: string }>(this.pool, 'getMetas', [keys])).rows;
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  async setMetas(entries: Array<[key: string, value: string]>): Promise<void> {
    if (entries.length === 0) return;
    const last = new Map(entries);
    await this.q(this.pool, 'setMetas', [[...last.keys()], [...last.values()]]);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function keyId(namespace: string, key: string): string {
  return `${namespace}\u0000${key}`;
}
