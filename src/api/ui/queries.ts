// The dashboard's read models, one SQL statement each, for both dialects (`?` placeholders, `{p}` for
// the schema prefix; src/llm/sql.ts). Each view loads with ONE request: these aggregate on the
// server instead of letting the page fetch per row (LiteLLM's spend tab fired 51 requests per load).
import { SqlRunner, num, type Row } from '../../llm/sql.js';
import type { StoreHandle } from '../../store/extension.js';
import { SHARED_NAMESPACE } from '../../store/types.js';
import { DAY_MS } from './store.js';

export interface SpendGroup {
  group: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** nano-dollars (1e-9 USD): integers, so sums are exact. */
  costNusd: number;
  cacheHits: number;
  errors: number;
}

export interface SpendReport {
  fromDay: string; // YYYY-MM-DD (UTC), inclusive
  toDay: string;
  total: SpendGroup;
  byDay: SpendGroup[];
  byAgent: SpendGroup[];
  byModel: SpendGroup[];
  byKey: SpendGroup[];
  keys: Array<{ id: string; name: string; revoked: boolean; dailyLimitNusd: number | null; monthlyLimitNusd: number | null; todayNusd: number; monthNusd: number }>;
}

export interface SearchQuery {
  kind: 'runs' | 'events';
  q?: string;
  /** An event id: that event (events), or the runs it triggered (runs). */
  id?: string;
  agent?: string;
  status?: string;
  fromMs?: number;
  toMs?: number;
  /** Keyset cursor: the `seq` of the last row of the previous page (rows come newest first). */
  before?: number;
  limit: number;
  /** A team's scope: only runs of these agents, only events they emitted or subscribe to. */
  scope?: { agents: string[]; subscriptions: string[] };
}

export interface SearchPage {
  kind: 'runs' | 'events';
  rows: Row[];
  /** Pass as `before` for the next page; null on the last page. */
  next: number | null;
}

/** One thing a run did, in time order (the agent page's run detail). */
export type TimelineItem =
  | { kind: 'started'; at: number; trigger: string; scheduledAt: number | null }
  | { kind: 'llm'; at: number; id: string; model: string; provider: string | null; status: string; inputTokens: number; outputTokens: number; costNusd: number; latencyMs: number; cacheHit: boolean }
  | { kind: 'emit'; at: number; id: string; name: string; seq: number }
  | { kind: 'state'; at: number; namespace: string; version: number; keys: string[]; reason: string }
  | { kind: 'finished'; at: number; status: string; error: string | null };

export interface RunTimeline {
  runId: string;
  agent: string;
  /** The run's row; null while it is still running (a run is recorded when it ends). */
  run: { status: string; trigger: string; startedAt: number; finishedAt: number; error: string | null } | null;
  items: TimelineItem[];
  /** Sums over the LLM calls. */
  llm: { calls: number; inputTokens: number; outputTokens: number; costNusd: number };
}

const dayString = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);

function group(r: Row, key: string): SpendGroup {
  return {
    group: String(r[key] ?? ''),
    requests: num(r.requests),
    inputTokens: num(r.input_tokens),
    outputTokens: num(r.output_tokens),
    cachedTokens: num(r.cached_tokens),
    costNusd: num(r.cost_nusd),
    cacheHits: num(r.cache_hits),
    errors: num(r.errors),
  };
}

const SUMS = `SUM(requests) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cached_tokens) AS cached_tokens,
  SUM(cost_nusd) AS cost_nusd, SUM(cache_hits) AS cache_hits, SUM(errors) AS errors`;

/** Words as an FTS5 query: each one quoted (no operator injection), all required. */
export function fts5Query(text: string): string {
  const words = text.split(/\s+/).filter(Boolean).slice(0, 20);
  return words.map((w) => `"${w.replaceAll('"', '""')}"`).join(' ');
}

export class UiQueries {
  private readonly sql: SqlRunner;
  constructor(h: StoreHandle) {
    this.sql = new SqlRunner(h);
  }

  /** Spend over the last `days` UTC days (today included), from the rollup. */
  async spend(days: number, now: number): Promise<SpendReport> {
    const today = Math.floor(now / DAY_MS);
    const from = today - days + 1;
    const by = async (col: string): Promise<SpendGroup[]> =>
      (await this.sql.all(`SELECT ${col} AS g, ${SUMS} FROM {p}ui_spend_daily WHERE day >= ? GROUP BY ${col} ORDER BY SUM(cost_nusd) DESC, ${col}`, from)).map((r) => group(r, 'g'));
    const [byDay, byAgent, byModel, byKey] = [await by('day'), await by('agent'), await by('model'), await by('key_id')];
    const totalRow = (await this.sql.all(`SELECT ${SUMS} FROM {p}ui_spend_daily WHERE day >= ?`, from))[0] ?? {};
    const monthStart = Math.floor(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1) / DAY_MS);
    const keyRows = await this.sql.all(
      `SELECT k.id, k.name, k.revoked_at, k.daily_nusd, k.monthly_nusd,
         (SELECT COALESCE(SUM(cost_nusd), 0) FROM {p}ui_spend_daily s WHERE s.key_id = k.id AND s.day = ?) AS today,
         (SELECT COALESCE(SUM(cost_nusd), 0) FROM {p}ui_spend_daily s WHERE s.key_id = k.id AND s.day >= ?) AS month
       FROM {p}llm_keys k ORDER BY k.created_at`,
      today, monthStart,
    );
    return {
      fromDay: dayString(from),
      toDay: dayString(today),
      total: group({ ...totalRow, g: 'total' }, 'g'),
      byDay: byDay.map((g) => ({ ...g, group: dayString(Number(g.group)) })).sort((a, b) => (a.group < b.group ? -1 : 1)),
      byAgent,
      byModel,
      byKey,
      keys: keyRows.map((k) => ({
        id: String(k.id),
        name: String(k.name),
        revoked: k.revoked_at !== null && k.revoked_at !== undefined,
        dailyLimitNusd: k.daily_nusd === null || k.daily_nusd === undefined ? null : num(k.daily_nusd),
        monthlyLimitNusd: k.monthly_nusd === null || k.monthly_nusd === undefined ? null : num(k.monthly_nusd),
        todayNusd: num(k.today),
        monthNusd: num(k.month),
      })),
    };
  }

  /** Cost today per agent (fleet view's column). */
  async costToday(now: number): Promise<Map<string, number>> {
    const rows = await this.sql.all(`SELECT agent, SUM(cost_nusd) AS c FROM {p}ui_spend_daily WHERE day = ? GROUP BY agent`, Math.floor(now / DAY_MS));
    return new Map(rows.map((r) => [String(r.agent), num(r.c)]));
  }

  /** Runs or events, newest first, filtered, keyset-paginated on `seq`; `q` is full text over event payloads. */
  async search(s: SearchQuery): Promise<SearchPage> {
    const pg = this.sql.dialect === 'postgres';
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, ...p: unknown[]) => {
      where.push(clause);
      params.push(...p);
    };
    const text = s.q?.trim();
    const list = (xs: string[]) => (xs.length ? xs.map(() => '?').join(', ') : 'NULL');
    let sql: string;
    if (s.kind === 'events') {
      if (text) {
        if (pg) add(`to_tsvector('simple', e.name || ' ' || e.payload) @@ plainto_tsquery('simple', ?)`, text);
        else add(`e.seq IN (SELECT rowid FROM {p}ui_events_fts WHERE ui_events_fts MATCH ?)`, fts5Query(text));
      }
      if (s.id) add(`e.id = ?`, s.id);
      if (s.agent) add(`e.source = ?`, s.agent);
      if (s.scope) add(`(e.source IN (${list(s.scope.agents)}) OR e.name IN (${list(s.scope.subscriptions)}))`, ...s.scope.agents, ...s.scope.subscriptions);
      if (s.fromMs !== undefined) add(`e.created_at >= ?`, s.fromMs);
      if (s.toMs !== undefined) add(`e.created_at < ?`, s.toMs);
      if (s.before !== undefined) add(`e.seq < ?`, s.before);
      sql = `SELECT e.seq, e.id, e.name, e.source, e.created_at, e.payload FROM {p}events e ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.seq DESC LIMIT ?`;
    } else {
      // Driven from the matching events (the full-text index) through runs(event_id), not by scanning runs.
      if (text) {
        if (pg) add(`r.event_id IN (SELECT m.id FROM {p}events m WHERE to_tsvector('simple', m.name || ' ' || m.payload) @@ plainto_tsquery('simple', ?))`, text);
        else add(`r.event_id IN (SELECT m.id FROM {p}events m WHERE m.seq IN (SELECT rowid FROM {p}ui_events_fts WHERE ui_events_fts MATCH ?))`, fts5Query(text));
      }
      if (s.id) add(`r.event_id = ?`, s.id);
      if (s.agent) add(`r.agent = ?`, s.agent);
      if (s.scope) add(`r.agent IN (${list(s.scope.agents)})`, ...s.scope.agents);
      if (s.status) add(`r.status = ?`, s.status);
      if (s.fromMs !== undefined) add(`r.started_at >= ?`, s.fromMs);
      if (s.toMs !== undefined) add(`r.started_at < ?`, s.toMs);
      if (s.before !== undefined) add(`r.seq < ?`, s.before);
      sql = `SELECT r.seq, r.id, r.agent, r.trigger, r.status, r.started_at, r.finished_at, r.error, r.event_id, e.name AS event_name, e.payload
        FROM {p}runs r LEFT JOIN {p}events e ON e.id = r.event_id ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.seq DESC LIMIT ?`;
    }
    const rows = await this.sql.all(sql, ...params, s.limit + 1);
    const more = rows.length > s.limit;
    const page = rows.slice(0, s.limit).map((r) => ({ ...r, seq: num(r.seq), ...(r.created_at !== undefined ? { created_at: num(r.created_at) } : {}), ...(r.started_at !== undefined ? { started_at: num(r.started_at), finished_at: num(r.finished_at) } : {}) }));
    return { kind: s.kind, rows: page, next: more ? num(page[page.length - 1]!.seq) : null };
  }

  /**
   * Everything one run did, in ONE statement joined by run id: its row (started, finished/error),
   * its LLM calls (llm_usage.run_id), the events its commits published (events.run_id) and the
   * state versions they wrote (state_versions.run_id), each by its own index. Every part is also
   * limited to `agent` (the route's authorized target), so a run id of another agent shows nothing.
   * The shared namespace is written by every team's agents, so its versions show only when the run
   * row says the run is `agent`'s: otherwise a team token could name its own agent in the path and
   * a foreign run id, and read the keys another team's run wrote to __shared.
   */
  async runTimeline(agent: string, runId: string, opts: { state: boolean; events: boolean }): Promise<RunTimeline> {
    const parts = [
      `SELECT 'run' AS kind, r.started_at AS at, r.id AS ref, r.status AS name, r.error AS detail, r.trigger AS extra,
         r.finished_at AS n1, r.scheduled_at AS n2, NULL AS n3, NULL AS n4, NULL AS n5 FROM {p}runs r WHERE r.id = ? AND r.agent = ?`,
      `SELECT 'llm', u.ts, u.id, u.model, u.status, u.provider, u.input_tokens, u.output_tokens, u.cost_nusd, u.latency_ms, u.cache_hit
         FROM {p}llm_usage u WHERE u.run_id = ? AND u.agent = ?`,
    ];
    const params: unknown[] = [runId, agent, runId, agent];
    if (opts.events) {
      parts.push(`SELECT 'emit', e.created_at, e.id, e.name, NULL, NULL, e.seq, NULL, NULL, NULL, NULL FROM {p}events e WHERE e.run_id = ? AND e.source = ?`);
      params.push(runId, agent);
    }
    if (opts.state) {
      parts.push(`SELECT 'state', v.created_at, v.namespace, v.namespace, v.changed_keys, v.reason, v.version, NULL, NULL, NULL, NULL
         FROM {p}state_versions v WHERE v.run_id = ? AND (v.namespace = ?
           OR (v.namespace = ? AND EXISTS (SELECT 1 FROM {p}runs r WHERE r.id = v.run_id AND r.agent = ?)))`);
      params.push(runId, agent, SHARED_NAMESPACE, agent);
    }
    const rows = await this.sql.all(`${parts.join('\nUNION ALL\n')}\nORDER BY at, kind LIMIT 5000`, ...params);
    const items: TimelineItem[] = [];
    let run: RunTimeline['run'] = null;
    const llm = { calls: 0, inputTokens: 0, outputTokens: 0, costNusd: 0 };
    for (const r of rows) {
      const at = num(r.at);
      const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
      switch (r.kind) {
        case 'run':
          run = { status: String(r.name), trigger: String(r.extra), startedAt: at, finishedAt: num(r.n1), error: str(r.detail) };
          items.push({ kind: 'started', at, trigger: run.trigger, scheduledAt: r.n2 === null || r.n2 === undefined ? null : num(r.n2) });
          break;
        case 'llm': {
          const item = { kind: 'llm' as const, at, id: String(r.ref), model: String(r.name), provider: str(r.extra), status: String(r.detail), inputTokens: num(r.n1), outputTokens: num(r.n2), costNusd: num(r.n3), latencyMs: num(r.n4), cacheHit: num(r.n5) === 1 };
          items.push(item);
          llm.calls++;
          llm.inputTokens += item.inputTokens;
          llm.outputTokens += item.outputTokens;
          llm.costNusd += item.costNusd;
          break;
        }
        case 'emit':
          items.push({ kind: 'emit', at, id: String(r.ref), name: String(r.name), seq: num(r.n1) });
          break;
        case 'state': {
          let keys: string[] = [];
          try {
            keys = JSON.parse(String(r.detail)) as string[];
          } catch {
            // an unreadable list shows as none
          }
          items.push({ kind: 'state', at, namespace: String(r.ref), version: num(r.n1), keys, reason: String(r.extra) });
          break;
        }
      }
    }
    if (run) items.push({ kind: 'finished', at: run.finishedAt, status: run.status, error: run.error });
    // Started first and finished last even when a step shares their millisecond.
    const rank = (i: TimelineItem) => (i.kind === 'started' ? 0 : i.kind === 'finished' ? 2 : 1);
    items.sort((a, b) => rank(a) - rank(b) || a.at - b.at);
    return { runId, agent, run, items, llm };
  }

  /** SUM(cost_nusd) straight from the usage ledger for the same days (reconciliation, tests, bench). */
  async ledgerTotal(days: number, now: number): Promise<number> {
    const from = (Math.floor(now / DAY_MS) - days + 1) * DAY_MS;
    return num((await this.sql.all(`SELECT COALESCE(SUM(cost_nusd), 0) AS c FROM {p}llm_usage WHERE ts >= ?`, from))[0]?.c);
  }
}
