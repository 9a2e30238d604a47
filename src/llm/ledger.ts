// The LLM ledger in the store (StoreModule 'llm', SQLite and PostgreSQL): budget and token buckets,
// reservations, alerts sent, per-request usage, virtual keys and the response cache.
//
// Budgets are reservation-based (ARCHITECTURE.md, lessons): before dispatch the worst-case cost of
// a call is reserved in every bucket that applies, in ONE transaction that checks
// used + reserved + amount ≤ limit for each; after the call the reservation is replaced by the
// actual cost. 100 concurrent calls cannot all pass a check that only one of them should pass.
// Amounts in USD are kept as integer nano-dollars; tokens as integers.
import type { StoreModule } from '../store/extension.js';
import { SqlRunner, num, q, q1, type Tx } from './sql.js';

export const NANO = 1e9;
export const toNano = (usd: number): number => Math.round(usd * NANO);
export const fromNano = (n: number): number => n / NANO;

export const llmStoreModule: StoreModule = {
  name: 'llm',
  sqlite: [
    {
      id: 1,
      name: 'llm ledger, usage, keys, cache',
      statements: [
        `CREATE TABLE llm_buckets (scope TEXT NOT NULL, win TEXT NOT NULL, unit TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0,
          reserved INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL, PRIMARY KEY (scope, win, unit))`,
        `CREATE TABLE llm_reservations (id TEXT PRIMARY KEY, parts TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`,
        `CREATE TABLE llm_alerts (scope TEXT NOT NULL, win TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (scope, win))`,
        `CREATE TABLE llm_usage (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, agent TEXT, key_id TEXT, session TEXT, user_id TEXT, scope TEXT,
          model TEXT NOT NULL, provider TEXT, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
          cost_nusd INTEGER NOT NULL, latency_ms INTEGER NOT NULL, ttft_ms INTEGER, status TEXT NOT NULL, cache_hit INTEGER NOT NULL,
          estimated INTEGER NOT NULL, stream INTEGER NOT NULL)`,
        `CREATE INDEX llm_usage_ts ON llm_usage (ts)`,
        `CREATE TABLE llm_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at INTEGER NOT NULL,
          revoked_at INTEGER, daily_nusd INTEGER, monthly_nusd INTEGER, tpm INTEGER, models TEXT)`,
        `CREATE TABLE llm_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`,
        `CREATE TABLE llm_semantic (id TEXT PRIMARY KEY, model TEXT NOT NULL, ctx TEXT NOT NULL, vector TEXT NOT NULL, question TEXT NOT NULL,
          body TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`,
        `CREATE INDEX llm_semantic_ctx ON llm_semantic (model, ctx)`,
      ],
    },
    {
      id: 2,
      name: 'the agent run of a usage row',
      // A run's timeline (the dashboard's run detail) finds its LLM calls by this; NULL = not from a run.
      statements: [`ALTER TABLE llm_usage ADD COLUMN run_id TEXT`, `CREATE INDEX llm_usage_run ON llm_usage (run_id) WHERE run_id IS NOT NULL`],
    },
  ],
  postgres: (s) => [
    {
      id: 1,
      name: 'llm ledger, usage, keys, cache',
      statements: [
        `CREATE TABLE ${s}.llm_buckets (scope TEXT NOT NULL, win TEXT NOT NULL, unit TEXT NOT NULL, used BIGINT NOT NULL DEFAULT 0,
          reserved BIGINT NOT NULL DEFAULT 0, expires_at BIGINT NOT NULL, PRIMARY KEY (scope, win, unit))`,
        `CREATE TABLE ${s}.llm_reservations (id TEXT PRIMARY KEY, parts TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
        `CREATE TABLE ${s}.llm_alerts (scope TEXT NOT NULL, win TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (scope, win))`,
        `CREATE TABLE ${s}.llm_usage (id TEXT PRIMARY KEY, ts BIGINT NOT NULL, agent TEXT, key_id TEXT, session TEXT, user_id TEXT, scope TEXT,
          model TEXT NOT NULL, provider TEXT, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL,
          cost_nusd BIGINT NOT NULL, latency_ms BIGINT NOT NULL, ttft_ms BIGINT, status TEXT NOT NULL, cache_hit INTEGER NOT NULL,
          estimated INTEGER NOT NULL, stream INTEGER NOT NULL)`,
        `CREATE INDEX llm_usage_ts ON ${s}.llm_usage (ts)`,
        `CREATE TABLE ${s}.llm_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at BIGINT NOT NULL,
          revoked_at BIGINT, daily_nusd BIGINT, monthly_nusd BIGINT, tpm BIGINT, models TEXT)`,
        `CREATE TABLE ${s}.llm_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
        `CREATE TABLE ${s}.llm_semantic (id TEXT PRIMARY KEY, model TEXT NOT NULL, ctx TEXT NOT NULL, vector TEXT NOT NULL, question TEXT NOT NULL,
          body TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
        `CREATE INDEX llm_semantic_ctx ON ${s}.llm_semantic (model, ctx)`,
      ],
    },
    {
      id: 2,
      name: 'the agent run of a usage row',
      statements: [`ALTER TABLE ${s}.llm_usage ADD COLUMN run_id TEXT`, `CREATE INDEX llm_usage_run ON ${s}.llm_usage (run_id) WHERE run_id IS NOT NULL`],
    },
  ],
};

export type Unit = 'usd' | 'tok';

/** One bucket a call draws from, with the limit that applies now. */
export interface BucketCheck {
  /** 'global' | 'agent:NAME' | 'key:ID' | 'router:AGENT/NAME' | 'session:ID' | 'user:ID' */
  scope: string;
  /** 'd:2026-11-21' | 'm:2026-11' | 'h:…' | 'tpm:<second>' | 'all' */
  win: string;
  unit: Unit;
  /** nano-USD or tokens */
  amount: number;
  limit: number;
  resetsAt: number;
  /** "daily budget of agent 'analyzer'": for the error message. */
  label: string;
  /** 'budget' (USD), 'rate' (tokens per minute), 'tokens' (hour / session / user). */
  kind: 'budget' | 'rate' | 'tokens';
  /**
   * A sliding window: `win` is one slot, and the limit applies to the sum of the slots from
   * `slidingFrom` to `win` (text-ordered: zero-padded slot numbers). See slidingWindow() in budget.ts.
   */
  slidingFrom?: string;
  /** For USD buckets: alert once per window when used ≥ this share of the limit. */
  alertAtPct?: number;
}

export interface Refusal {
  check: BucketCheck;
  used: number;
  reserved: number;
}

export interface UsageRecord {
  id: string;
  ts: number;
  agent: string | null;
  /** The agent run that made the call, when an agent's RPC named it (the dashboard's run timeline). */
  runId?: string | null;
  keyId: string | null;
  session: string | null;
  user: string | null;
  scope: string | null;
  model: string;
  provider: string | null;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costUsd: number;
  latencyMs: number;
  ttftMs: number | null;
  status: string;
  cacheHit: boolean;
  estimated: boolean;
  stream: boolean;
}

export interface Crossed {
  scope: string;
  win: string;
  used: number;
  limit: number;
  pct: number;
  resetsAt: number;
}

export interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
  budgetDailyUsd: number | null;
  budgetMonthlyUsd: number | null;
  tpm: number | null;
  models: string[] | null;
}

/** The usage row of one request (inside a transaction body). */
export function* insertUsage(u: UsageRecord): Tx<void> {
  yield* q(
    `INSERT INTO {p}llm_usage (id, ts, agent, key_id, session, user_id, scope, model, provider, input_tokens, output_tokens, cached_tokens,
      cost_nusd, latency_ms, ttft_ms, status, cache_hit, estimated, stream, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    u.id, u.ts, u.agent, u.keyId, u.session, u.user, u.scope, u.model, u.provider,
    u.inputTokens, u.outputTokens, u.cachedTokens, toNano(u.costUsd), Math.round(u.latencyMs),
    u.ttftMs === null ? null : Math.round(u.ttftMs), u.status, u.cacheHit ? 1 : 0, u.estimated ? 1 : 0, u.stream ? 1 : 0, u.runId ?? null,
  );
}

/** Thrown inside the reservation transaction to roll it back. */
class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super('budget refused');
  }
}

export class Ledger {
  constructor(readonly sql: SqlRunner) {}

  /**
   * Reserves `amount` in every bucket or in none. Returns the first bucket that would go over its
   * limit (nothing is reserved then), or null when the reservation `id` was recorded.
   */
  async reserve(id: string, checks: BucketCheck[], now: number, ttlMs: number): Promise<Refusal | null> {
    // A stable lock order (PostgreSQL row locks) so two reservations never deadlock.
    const sorted = [...checks].sort((a, b) => (a.scope + a.win + a.unit < b.scope + b.win + b.unit ? -1 : 1));
    // One upsert per bucket adds the amount and returns the totals (it also takes the row lock on
    // PostgreSQL); a bucket that would go over its limit throws, which rolls the whole reservation back.
    try {
      return await this.sql.tx(function* (): Tx<null> {
        for (const c of sorted) {
          const row = yield* q1(
            `INSERT INTO {p}llm_buckets (scope, win, unit, used, reserved, expires_at) VALUES (?, ?, ?, 0, ?, ?)
             ON CONFLICT (scope, win, unit) DO UPDATE SET reserved = {p}llm_buckets.reserved + excluded.reserved RETURNING used, reserved`,
            c.scope, c.win, c.unit, c.amount, c.resetsAt,
          );
          let used = num(row?.used);
          let reserved = num(row?.reserved) - c.amount;
          if (c.slidingFrom !== undefined) {
            const sum = yield* q1(
              `SELECT COALESCE(SUM(used), 0) AS used, COALESCE(SUM(reserved), 0) AS reserved FROM {p}llm_buckets WHERE scope = ? AND unit = ? AND win >= ? AND win <= ?`,
              c.scope, c.unit, c.slidingFrom, c.win,
            );
            used = num(sum?.used);
            reserved = num(sum?.reserved) - c.amount;
          }
          if (used + reserved + c.amount > c.limit) throw new Refused({ check: c, used, reserved });
        }
        yield* q(`INSERT INTO {p}llm_reservations (id, parts, created_at, expires_at) VALUES (?, ?, ?, ?)`, id, JSON.stringify(sorted), now, now + ttlMs);
        return null;
      });
    } catch (err) {
      if (err instanceof Refused) return err.refusal;
      throw err;
    }
  }

  /**
   * Replaces reservation `id` by the actual amounts (per unit) and records the usage, in one
   * transaction. Returns the budgets that crossed their alert threshold for the first time in
   * their window.
   */
  async settle(id: string, actual: { usd: number; tok: number }, usage: UsageRecord | null, now: number): Promise<Crossed[]> {
    return this.sql.tx(function* (): Tx<Crossed[]> {
      const r = yield* q1(`DELETE FROM {p}llm_reservations WHERE id = ? RETURNING parts`, id);
      const crossed: Crossed[] = [];
      if (r) {
        const parts = JSON.parse(String(r.parts)) as BucketCheck[];
        for (const c of parts) {
          const amount = c.unit === 'usd' ? actual.usd : actual.tok;
          const row = yield* q1(
            `UPDATE {p}llm_buckets SET reserved = CASE WHEN reserved > ? THEN reserved - ? ELSE 0 END, used = used + ? WHERE scope = ? AND win = ? AND unit = ? RETURNING used`,
            c.amount, c.amount, amount, c.scope, c.win, c.unit,
          );
          if (c.unit === 'usd' && c.alertAtPct !== undefined && row && c.limit > 0) {
            const used = num(row.used);
            if (used * 100 >= c.alertAtPct * c.limit) {
              const ins = yield* q(`INSERT INTO {p}llm_alerts (scope, win, at) VALUES (?, ?, ?) ON CONFLICT (scope, win) DO NOTHING RETURNING scope`, c.scope, c.win, now);
              if (ins.length > 0) crossed.push({ scope: c.scope, win: c.win, used, limit: c.limit, pct: c.alertAtPct, resetsAt: c.resetsAt });
            }
          }
        }
      }
      if (usage) yield* insertUsage(usage);
      return crossed;
    });
  }

  /** Records usage that had no reservation (a cache hit, a call refused before dispatch). */
  async record(usage: UsageRecord): Promise<void> {
    await this.settle(`none:${usage.id}`, { usd: 0, tok: 0 }, usage, usage.ts);
  }

  /** Releases reservations whose daemon died (or whose call never settled) past their expiry. */
  async expireReservations(now: number): Promise<number> {
    return this.sql.tx(function* (): Tx<number> {
      const rows = yield* q(`SELECT id, parts FROM {p}llm_reservations WHERE expires_at <= ?`, now);
      for (const r of rows) {
        for (const c of JSON.parse(String(r.parts)) as BucketCheck[]) {
          yield* q(`UPDATE {p}llm_buckets SET reserved = CASE WHEN reserved > ? THEN reserved - ? ELSE 0 END WHERE scope = ? AND win = ? AND unit = ?`, c.amount, c.amount, c.scope, c.win, c.unit);
        }
        yield* q(`DELETE FROM {p}llm_reservations WHERE id = ?`, r.id);
      }
      // Past windows (kept one day for `usage`-style inspection) and expired cache entries.
      yield* q(`DELETE FROM {p}llm_buckets WHERE expires_at < ? AND reserved = 0`, now - 86_400_000);
      yield* q(`DELETE FROM {p}llm_cache WHERE expires_at < ?`, now);
      yield* q(`DELETE FROM {p}llm_semantic WHERE expires_at < ?`, now);
      return rows.length;
    });
  }

  async bucket(scope: string, win: string, unit: Unit): Promise<{ used: number; reserved: number }> {
    const rows = await this.sql.all(`SELECT used, reserved FROM {p}llm_buckets WHERE scope = ? AND win = ? AND unit = ?`, scope, win, unit);
    return { used: num(rows[0]?.used), reserved: num(rows[0]?.reserved) };
  }

  async usage(opts: { since: number; by: 'agent' | 'model' | 'key' | 'provider' | 'user' | 'session' }): Promise<Array<{ group: string | null; requests: number; inputTokens: number; outputTokens: number; cachedTokens: number; costUsd: number; cacheHits: number; errors: number; avgLatencyMs: number }>> {
    const col = { agent: 'agent', model: 'model', key: 'key_id', provider: 'provider', user: 'user_id', session: 'session' }[opts.by];
    const rows = await this.sql.all(
      `SELECT ${col} AS g, COUNT(*) AS n, SUM(input_tokens) AS i, SUM(output_tokens) AS o, SUM(cached_tokens) AS c, SUM(cost_nusd) AS cost,
         SUM(cache_hit) AS hits, SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS errs, AVG(latency_ms) AS lat
       FROM {p}llm_usage WHERE ts >= ? GROUP BY ${col} ORDER BY SUM(cost_nusd) DESC, COUNT(*) DESC`,
      opts.since,
    );
    return rows.map((r) => ({
      group: r.g === null || r.g === undefined ? null : String(r.g),
      requests: num(r.n),
      inputTokens: num(r.i),
      outputTokens: num(r.o),
      cachedTokens: num(r.c),
      costUsd: fromNano(num(r.cost)),
      cacheHits: num(r.hits),
      errors: num(r.errs),
      avgLatencyMs: Math.round(num(r.lat)),
    }));
  }

  async usageRows(limit = 100): Promise<UsageRecord[]> {
    const rows = await this.sql.all(`SELECT * FROM {p}llm_usage ORDER BY ts DESC LIMIT ?`, limit);
    return rows.map((r) => ({
      id: String(r.id),
      ts: num(r.ts),
      agent: (r.agent as string | null) ?? null,
      keyId: (r.key_id as string | null) ?? null,
      session: (r.session as string | null) ?? null,
      user: (r.user_id as string | null) ?? null,
      scope: (r.scope as string | null) ?? null,
      model: String(r.model),
      provider: (r.provider as string | null) ?? null,
      inputTokens: num(r.input_tokens),
      outputTokens: num(r.output_tokens),
      cachedTokens: num(r.cached_tokens),
      costUsd: fromNano(num(r.cost_nusd)),
      latencyMs: num(r.latency_ms),
      ttftMs: r.ttft_ms === null || r.ttft_ms === undefined ? null : num(r.ttft_ms),
      status: String(r.status),
      cacheHit: num(r.cache_hit) === 1,
      estimated: num(r.estimated) === 1,
      stream: num(r.stream) === 1,
    }));
  }

  // ---- virtual keys ------------------------------------------------------------------------

  async createKey(k: Omit<KeyRow, 'revokedAt'> & { hash: string }): Promise<void> {
    await this.sql.all(
      `INSERT INTO {p}llm_keys (id, name, hash, prefix, created_at, revoked_at, daily_nusd, monthly_nusd, tpm, models) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)`,
      k.id, k.name, k.hash, k.prefix, k.createdAt,
      k.budgetDailyUsd === null ? null : toNano(k.budgetDailyUsd),
      k.budgetMonthlyUsd === null ? null : toNano(k.budgetMonthlyUsd),
      k.tpm, k.models ? JSON.stringify(k.models) : null,
    );
  }

  async keyByHash(hash: string): Promise<KeyRow | undefined> {
    const rows = await this.sql.all(`SELECT * FROM {p}llm_keys WHERE hash = ?`, hash);
    return rows[0] ? keyRow(rows[0]) : undefined;
  }

  async listKeys(): Promise<KeyRow[]> {
    return (await this.sql.all(`SELECT * FROM {p}llm_keys ORDER BY created_at`)).map(keyRow);
  }

  async revokeKey(id: string, now: number): Promise<boolean> {
    const rows = await this.sql.all(`UPDATE {p}llm_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id`, now, id);
    return rows.length > 0;
  }

  // ---- exact cache -------------------------------------------------------------------------

  async cacheGet(key: string, now: number): Promise<string | undefined> {
    const rows = await this.sql.all(`SELECT body FROM {p}llm_cache WHERE key = ? AND expires_at > ?`, key, now);
    return rows[0] ? String(rows[0].body) : undefined;
  }

  async cachePut(key: string, model: string, body: string, now: number, ttlMs: number): Promise<void> {
    await this.sql.all(
      `INSERT INTO {p}llm_cache (key, model, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET body = excluded.body, created_at = excluded.created_at, expires_at = excluded.expires_at`,
      key, model, body, now, now + ttlMs,
    );
  }

  async semanticCandidates(model: string, ctx: string, now: number, limit = 500): Promise<Array<{ vector: number[]; body: string; question: string }>> {
    const rows = await this.sql.all(`SELECT vector, body, question FROM {p}llm_semantic WHERE model = ? AND ctx = ? AND expires_at > ? ORDER BY created_at DESC LIMIT ?`, model, ctx, now, limit);
    return rows.map((r) => ({ vector: JSON.parse(String(r.vector)) as number[], body: String(r.body), question: String(r.question) }));
  }

  async semanticPut(id: string, model: string, ctx: string, vector: number[], question: string, body: string, now: number, ttlMs: number): Promise<void> {
    await this.sql.all(
      `INSERT INTO {p}llm_semantic (id, model, ctx, vector, question, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      id, model, ctx, JSON.stringify(vector), question, body, now, now + ttlMs,
    );
  }
}

function keyRow(r: Record<string, unknown>): KeyRow {
  return {
    id: String(r.id),
    name: String(r.name),
    prefix: String(r.prefix),
    createdAt: num(r.created_at),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : num(r.revoked_at),
    budgetDailyUsd: r.daily_nusd === null || r.daily_nusd === undefined ? null : fromNano(num(r.daily_nusd)),
    budgetMonthlyUsd: r.monthly_nusd === null || r.monthly_nusd === undefined ? null : fromNano(num(r.monthly_nusd)),
    tpm: r.tpm === null || r.tpm === undefined ? null : num(r.tpm),
    models: r.models ? (JSON.parse(String(r.models)) as string[]) : null,
  };
}
