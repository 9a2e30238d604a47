// Every statement the PostgreSQL store runs, by name, for one schema. The store sends them as named
// prepared statements, so each connection parses and plans a statement once.
//
// Batches travel as arrays (unnest) and related writes are chained in one statement with
// data-modifying CTEs: a commit is a handful of round trips whatever its number of keys or events.
// The column aliases match ../rows.ts.

export type QueryName = keyof ReturnType<typeof queries>;

export function queries(s: string) {
  const deliveryColumns = `d.id AS d_id, d.consumer AS d_consumer, d.attempts AS d_attempts, d.lease_token AS d_lease_token,
    d.lease_expires_at AS d_lease_expires_at, d.last_error AS d_last_error, d.dead_at AS d_dead_at,
    e.seq, e.id, e.name, e.payload, e.source, e.created_at, e.trace_id, e.order_key`;
  const eventColumns = 'seq, id, name, payload, source, created_at, trace_id, order_key';
  const runColumns = 'id, agent, instance, trigger, status, scheduled_at, started_at, finished_at, error, reason, event_id';
  const leaseHeld = `id = $1 AND lease_token = $2 AND status = 'inflight' AND lease_expires_at > $3`;

  return {
    // ---- state
    getState: `SELECT key, value, version, expires_at FROM ${s}.state_current
      WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
    listState: `SELECT key, value, version, expires_at FROM ${s}.state_current
      WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2) AND key >= $3 ORDER BY key`,
    listStateBounded: `SELECT key, value, version, expires_at FROM ${s}.state_current
      WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2) AND key >= $3 AND key < $4 ORDER BY key`,
    namespaceRow: `SELECT version, size_bytes, key_count FROM ${s}.state_namespaces WHERE namespace = $1`,
    listVersions: `SELECT version, created_at, size_bytes, key_count, changed_keys, run_id, reason FROM ${s}.state_versions
      WHERE namespace = $1 AND version < $2 ORDER BY version DESC LIMIT $3`,
    keysAt: `SELECT DISTINCT ON (key) key, value, expires_at FROM ${s}.state_history
      WHERE namespace = $1 AND version <= $2 ORDER BY key, version DESC`,
    currentKeys: `SELECT key, value, expires_at, size FROM ${s}.state_current WHERE namespace = $1`,
    // Namespace rows are the per-namespace commit lock. Create missing ones first, then lock them
    // in one sorted order in a fresh statement (so it sees rows another transaction just created):
    // two commits touching the same namespaces queue instead of deadlocking.
    ensureNamespaces: `INSERT INTO ${s}.state_namespaces (namespace, version, size_bytes, key_count)
      SELECT unnest($1::text[]), 0, 0, 0 ON CONFLICT (namespace) DO NOTHING`,
    lockNamespaces: `SELECT namespace, version, size_bytes, key_count FROM ${s}.state_namespaces
      WHERE namespace = ANY($1::text[]) ORDER BY namespace FOR UPDATE`,
    keyVersions: `SELECT c.namespace, c.key, c.version, c.expires_at, c.size FROM ${s}.state_current c
      JOIN unnest($1::text[], $2::text[]) AS k(namespace, key) ON c.namespace = k.namespace AND c.key = k.key`,
    expiredNamespaces: `SELECT DISTINCT namespace FROM ${s}.state_current WHERE expires_at <= $1`,
    expiredKeys: `SELECT namespace, key, size FROM ${s}.state_current WHERE namespace = ANY($1::text[]) AND expires_at <= $2`,
    // One statement applies every namespace's plan: current rows, history rows, version rows and
    // namespace counters. $4 value NULL = delete.
    applyState: `WITH ch AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::integer[])
          AS ch(namespace, key, version, value, expires_at, size)
      ), up AS (
        INSERT INTO ${s}.state_current (namespace, key, value, version, expires_at, size)
        SELECT namespace, key, value, version, expires_at, size FROM ch WHERE value IS NOT NULL
        ON CONFLICT (namespace, key) DO UPDATE
          SET value = excluded.value, version = excluded.version, expires_at = excluded.expires_at, size = excluded.size
      ), del AS (
        DELETE FROM ${s}.state_current c USING ch WHERE ch.value IS NULL AND c.namespace = ch.namespace AND c.key = ch.key
      ), hist AS (
        INSERT INTO ${s}.state_history (namespace, key, version, value, expires_at)
        SELECT namespace, key, version, value, expires_at FROM ch
      ), vs AS (
        SELECT * FROM unnest($7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[])
          AS vs(namespace, version, size_bytes, key_count, changed_keys)
      ), ver AS (
        INSERT INTO ${s}.state_versions (namespace, version, created_at, size_bytes, key_count, changed_keys, run_id, reason)
        SELECT namespace, version, $12, size_bytes, key_count, changed_keys, $13, $14 FROM vs
      )
      UPDATE ${s}.state_namespaces n SET version = vs.version, size_bytes = vs.size_bytes, key_count = vs.key_count
      FROM vs WHERE n.namespace = vs.namespace`,

    // ---- events
    // Insert (duplicate ids skipped) and fan out to every subscribed consumer group, in one statement.
    publish: `WITH ev AS (
        INSERT INTO ${s}.events (id, name, payload, source, created_at, trace_id, order_key, run_id)
        SELECT id, name, payload, source, created_at, trace_id, order_key, run_id
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $8::text[], $9::text[])
          WITH ORDINALITY AS u(id, name, payload, source, created_at, trace_id, order_key, run_id, ord)
        ORDER BY ord
        ON CONFLICT (id) DO NOTHING
        RETURNING seq, id, name
      ), fan AS (
        INSERT INTO ${s}.deliveries (consumer, event_seq, status, attempts, available_at)
        SELECT DISTINCT sub.consumer, ev.seq, 'pending', 0, $7::bigint
        FROM ev JOIN ${s}.subscriptions sub ON sub.event_name = ev.name OR sub.event_name = '*'
      )
      SELECT id FROM ev`,
    getEvent: `SELECT ${eventColumns} FROM ${s}.events WHERE id = $1`,
    listEvents: `SELECT ${eventColumns} FROM ${s}.events WHERE seq > $1 ORDER BY seq LIMIT $2`,
    listEventsByName: `SELECT ${eventColumns} FROM ${s}.events WHERE name = $3 AND seq > $1 ORDER BY seq LIMIT $2`,
    deleteSubscriptions: `DELETE FROM ${s}.subscriptions WHERE consumer = $1`,
    insertSubscriptions: `INSERT INTO ${s}.subscriptions (consumer, event_name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
    getSubscriptions: `SELECT consumer, event_name FROM ${s}.subscriptions ORDER BY consumer, event_name`,
    // Ready rows in seq order plus waiting rows (expired lease, due retry) from their own index,
    // merged oldest first. SKIP LOCKED: concurrent claimants (replicas, other daemons) take
    // disjoint rows without waiting on each other.
    claim: `WITH ready AS (
        SELECT id, event_seq FROM ${s}.deliveries WHERE consumer = $1 AND status = 'pending'
        ORDER BY event_seq LIMIT $3 FOR UPDATE SKIP LOCKED
      ), waiting AS (
        SELECT id, event_seq FROM ${s}.deliveries WHERE consumer = $1 AND status IN ('inflight', 'retry') AND available_at <= $2
        ORDER BY event_seq LIMIT $3 FOR UPDATE SKIP LOCKED
      ), picked AS (
        SELECT id FROM (SELECT * FROM ready UNION ALL SELECT * FROM waiting) u ORDER BY event_seq LIMIT $3
      ), claimed AS (
        UPDATE ${s}.deliveries d
        SET status = 'inflight', attempts = d.attempts + 1, lease_token = coalesce($5::text || ':', '') || gen_random_uuid()::text, lease_expires_at = $4, available_at = $4
        FROM picked WHERE d.id = picked.id
        RETURNING d.*
      )
      SELECT ${deliveryColumns} FROM claimed d JOIN ${s}.events e ON e.seq = d.event_seq ORDER BY d.event_seq`,
    ack: `DELETE FROM ${s}.deliveries WHERE ${leaseHeld}`,
    // Cluster fencing (RunCommit.fence): the runs whose lease (owner, epoch) is still current on the
    // database clock; the lease rows stay KEY SHARE-locked until COMMIT, so a takeover (its pick
    // locks FOR UPDATE) waits for it, while the owner's renewal (a NO KEY UPDATE of expires_at)
    // never does: a renewal queued behind a thousand agents' commits missed its deadline.
    fence: `SELECT f.i FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS f(agent, instance, owner, epoch, i)
      JOIN ${s}.agent_leases l ON l.agent = f.agent AND l.instance = f.instance AND l.owner = f.owner AND l.epoch = f.epoch
      WHERE l.expires_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint FOR KEY SHARE OF l`,
    // A group commit checks every ack up front and locks the rows it will delete (so the delete at
    // the end cannot miss); runs whose lease is gone drop out of the batch before doing any work.
    lockAcks: `SELECT d.id FROM ${s}.deliveries d JOIN unnest($1::bigint[], $2::text[]) AS a(id, token) ON d.id = a.id AND d.lease_token = a.token
      WHERE d.status = 'inflight' AND d.lease_expires_at > $3 FOR UPDATE OF d`,
    ackMany: `DELETE FROM ${s}.deliveries d USING unnest($1::bigint[], $2::text[]) AS a(id, token)
      WHERE d.id = a.id AND d.lease_token = a.token AND d.status = 'inflight' AND d.lease_expires_at > $3`,
    deliveryStats: `SELECT count(*) AS n, min(e.created_at) AS oldest FROM ${s}.deliveries d JOIN ${s}.events e ON e.seq = d.event_seq
      WHERE d.consumer = $1 AND d.status <> 'dead'`,
    extend: `UPDATE ${s}.deliveries SET lease_expires_at = $4, available_at = $4 WHERE ${leaseHeld}`,
    failDead: `UPDATE ${s}.deliveries SET status = 'dead', lease_token = NULL, lease_expires_at = NULL, last_error = $4, dead_at = $3
      WHERE ${leaseHeld}`,
    failRetry: `UPDATE ${s}.deliveries SET status = CASE WHEN $5 > $3 THEN 'retry' ELSE 'pending' END, available_at = $5, lease_token = NULL, lease_expires_at = NULL, last_error = $4
      WHERE ${leaseHeld}`,
    release: `UPDATE ${s}.deliveries SET status = 'pending', available_at = $1, lease_token = NULL, lease_expires_at = NULL
      WHERE status = 'inflight' AND ($2::text IS NULL OR consumer = $2) AND ($3::text IS NULL OR left(lease_token, length($3) + 1) = $3 || ':')`,
    pendingCount: `SELECT count(*) AS n FROM ${s}.deliveries WHERE consumer = $1 AND status <> 'dead'`,
    pendingCounts: `SELECT consumer, count(*) AS n FROM ${s}.deliveries WHERE status <> 'dead' GROUP BY consumer`,
    subscribers: `SELECT DISTINCT consumer FROM ${s}.subscriptions`,
    deadLetters: `SELECT ${deliveryColumns} FROM ${s}.deliveries d JOIN ${s}.events e ON e.seq = d.event_seq
      WHERE d.status = 'dead' AND ($1::text IS NULL OR d.consumer = $1) ORDER BY d.id LIMIT $2`,
    redrive: `UPDATE ${s}.deliveries SET status = 'pending', attempts = 0, available_at = $1, dead_at = NULL
      WHERE status = 'dead' AND ($2::text IS NULL OR consumer = $2) AND ($3::bigint[] IS NULL OR id = ANY($3::bigint[]))`,

    // ---- runs: insert once (a repeated id is ignored). The run's contribution to the stats is an
    // INSERT-only delta row, not an upsert of the agent's single agent_stats row: that row would be
    // locked from the upsert until COMMIT and serialise every concurrent run commit of the agent
    // (jobs, events) on it. foldStats folds the deltas in (before reads and every few hundred runs).
    recordRun: `WITH r AS (
        INSERT INTO ${s}.runs (${runColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (id) DO NOTHING RETURNING agent, status, started_at
      )
      INSERT INTO ${s}.agent_stats_delta (agent, failed, run_at, status)
      SELECT agent, CASE WHEN status = 'failed' THEN 1 ELSE 0 END, started_at, status FROM r
      WHERE status IN ('succeeded', 'failed')`,
    // The run records of a group commit, one statement (same semantics as recordRun).
    recordRuns: `WITH r AS (
        INSERT INTO ${s}.runs (${runColumns})
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[])
        ON CONFLICT (id) DO NOTHING RETURNING agent, status, started_at
      )
      INSERT INTO ${s}.agent_stats_delta (agent, failed, run_at, status)
      SELECT agent, CASE WHEN status = 'failed' THEN 1 ELSE 0 END, started_at, status FROM r
      WHERE status IN ('succeeded', 'failed')`,
    // Concurrent folds: the second waits on the rows the first deletes, then finds them gone.
    foldStats: `WITH d AS (DELETE FROM ${s}.agent_stats_delta RETURNING agent, failed, run_at, status),
      g AS (SELECT agent, count(*) AS n, sum(failed) AS f, max(run_at) AS t FROM d GROUP BY agent),
      l AS (SELECT DISTINCT ON (agent) agent, status FROM d ORDER BY agent, run_at DESC)
      INSERT INTO ${s}.agent_stats AS a (agent, runs_total, runs_failed, last_run_at, last_status)
      SELECT g.agent, g.n, g.f, g.t, l.status FROM g JOIN l ON l.agent = g.agent ORDER BY g.agent
      ON CONFLICT (agent) DO UPDATE SET runs_total = a.runs_total + excluded.runs_total, runs_failed = a.runs_failed + excluded.runs_failed,
        last_status = CASE WHEN excluded.last_run_at >= a.last_run_at THEN excluded.last_status ELSE a.last_status END,
        last_run_at = GREATEST(a.last_run_at, excluded.last_run_at)`,
    listRuns: `SELECT ${runColumns} FROM ${s}.runs WHERE agent = $1 AND ($2::text IS NULL OR status = $2)
      ORDER BY started_at DESC, seq DESC LIMIT $3`,
    agentStats: `SELECT agent, runs_total, runs_failed, last_run_at, last_status FROM ${s}.agent_stats
      WHERE $1::text IS NULL OR agent = $1 ORDER BY agent`,

    // ---- schedules: the conditional upsert is the no-double-fire guarantee. Concurrent claimers
    // of one agent queue on the row (or on the unique index for the first fire) and the loser's
    // WHERE re-evaluates against the winner's row, so exactly one sees a row count of 1.
    getSchedule: `SELECT last_fire_at, next_fire_at FROM ${s}.schedules WHERE agent = $1`,
    claimFire: `INSERT INTO ${s}.schedules AS sc (agent, last_fire_at) VALUES ($1, $2)
      ON CONFLICT (agent) DO UPDATE SET last_fire_at = excluded.last_fire_at
      WHERE sc.last_fire_at IS NULL OR sc.last_fire_at < excluded.last_fire_at`,
    setNextFire: `INSERT INTO ${s}.schedules (agent, next_fire_at) VALUES ($1, $2)
      ON CONFLICT (agent) DO UPDATE SET next_fire_at = excluded.next_fire_at`,
    // Many rows as arrays (unnest): one statement, one plan, whatever the number of agents.
    getSchedules: `SELECT agent, last_fire_at, next_fire_at FROM ${s}.schedules WHERE agent = ANY($1::text[])`,
    setNextFires: `INSERT INTO ${s}.schedules AS sc (agent, next_fire_at) SELECT * FROM unnest($1::text[], $2::bigint[])
      ON CONFLICT (agent) DO UPDATE SET next_fire_at = excluded.next_fire_at`,

    // ---- agent control, meta
    getDesired: `SELECT desired FROM ${s}.desired_state WHERE agent = $1`,
    setDesired: `INSERT INTO ${s}.desired_state (agent, desired, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (agent) DO UPDATE SET desired = excluded.desired, updated_at = excluded.updated_at`,
    recordTransition: `INSERT INTO ${s}.transitions (agent, instance, from_state, to_state, reason, at) VALUES ($1, $2, $3, $4, $5, $6)`,
    listTransitions: `SELECT agent, instance, from_state, to_state, reason, at FROM ${s}.transitions WHERE agent = $1 ORDER BY seq DESC LIMIT $2`,
    getMeta: `SELECT value FROM ${s}.meta WHERE key = $1`,
    setMeta: `INSERT INTO ${s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    getMetas: `SELECT key, value FROM ${s}.meta WHERE key = ANY($1::text[])`,
    setMetas: `INSERT INTO ${s}.meta (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  };
}
