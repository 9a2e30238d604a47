// The dashboard's own tables and indexes (StoreModule 'ui'), kept by the database itself:
//
// - `ui_spend_daily`: LLM spend per UTC day, agent, model and virtual key, maintained by an
//   AFTER INSERT trigger on the usage ledger (`llm_usage`) and back-filled from it when created.
//   Why a trigger and not a job that folds new rows: the rollup is exact at every commit (the spend
//   page reconciles with the ledger to the nano-dollar), nothing in the LLM path changes, and rows
//   later deleted from `llm_usage` stay counted (OpenClaw #20599 undercounted by 85% because reset
//   sessions took their usage with them). The page reads a few hundred rollup rows instead of
//   scanning millions of usage rows (LiteLLM #2235: 30 s at 300k rows).
// - `ui_sessions`: signed-in browser sessions (session-store.ts): the session id's hash and the API
//   token's id, never either secret.
// - full-text search over event payloads: an FTS5 external-content index on SQLite (kept by
//   triggers), a GIN `to_tsvector('simple', …)` expression index on PostgreSQL. Cost: one index
//   insert per published event, paid inside the publish transaction.
import type { StoreModule } from '../../store/extension.js';

export const DAY_MS = 86_400_000;

const SPEND_COLUMNS = `day, agent, model, key_id, requests, input_tokens, output_tokens, cached_tokens, cost_nusd, cache_hits, errors`;
const BACKFILL = (p: string) => `INSERT INTO ${p}ui_spend_daily (${SPEND_COLUMNS})
  SELECT ts / ${DAY_MS}, COALESCE(agent, ''), model, COALESCE(key_id, ''), COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens),
         SUM(cost_nusd), SUM(cache_hit), SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END)
  FROM ${p}llm_usage GROUP BY ts / ${DAY_MS}, COALESCE(agent, ''), model, COALESCE(key_id, '')`;
const UPSERT = (p: string, t: string) => `INSERT INTO ${p}ui_spend_daily (${SPEND_COLUMNS})
  VALUES (NEW.ts / ${DAY_MS}, COALESCE(NEW.agent, ''), NEW.model, COALESCE(NEW.key_id, ''), 1, NEW.input_tokens, NEW.output_tokens, NEW.cached_tokens,
          NEW.cost_nusd, NEW.cache_hit, CASE WHEN NEW.status = 'ok' THEN 0 ELSE 1 END)
  ON CONFLICT (day, agent, model, key_id) DO UPDATE SET requests = ${t}.requests + 1,
    input_tokens = ${t}.input_tokens + excluded.input_tokens, output_tokens = ${t}.output_tokens + excluded.output_tokens,
    cached_tokens = ${t}.cached_tokens + excluded.cached_tokens, cost_nusd = ${t}.cost_nusd + excluded.cost_nusd,
    cache_hits = ${t}.cache_hits + excluded.cache_hits, errors = ${t}.errors + excluded.errors`;

export const uiStoreModule: StoreModule = {
  name: 'ui',
  sqlite: [
    {
      id: 1,
      name: 'spend rollup, event payload full-text index',
      statements: [
        `CREATE TABLE ui_spend_daily (day INTEGER NOT NULL, agent TEXT NOT NULL, model TEXT NOT NULL, key_id TEXT NOT NULL, requests INTEGER NOT NULL,
          input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, cost_nusd INTEGER NOT NULL,
          cache_hits INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (day, agent, model, key_id))`,
        BACKFILL(''),
        `CREATE TRIGGER ui_spend_rollup AFTER INSERT ON llm_usage BEGIN ${UPSERT('', 'ui_spend_daily')}; END`,
        `CREATE VIRTUAL TABLE ui_events_fts USING fts5(name, payload, content='events', content_rowid='seq')`,
        `INSERT INTO ui_events_fts (ui_events_fts) VALUES ('rebuild')`,
        `CREATE TRIGGER ui_events_fts_ai AFTER INSERT ON events BEGIN INSERT INTO ui_events_fts (rowid, name, payload) VALUES (NEW.seq, NEW.name, NEW.payload); END`,
        `CREATE TRIGGER ui_events_fts_ad AFTER DELETE ON events BEGIN
           INSERT INTO ui_events_fts (ui_events_fts, rowid, name, payload) VALUES ('delete', OLD.seq, OLD.name, OLD.payload); END`,
        `CREATE INDEX ui_runs_status ON runs (status, seq)`,
        `CREATE INDEX ui_runs_event ON runs (event_id)`,
      ],
    },
    {
      id: 2,
      name: 'state versions by run (run timeline)',
      statements: [`CREATE INDEX ui_state_versions_run ON state_versions (run_id) WHERE run_id IS NOT NULL`],
    },
    {
      id: 3,
      name: 'dashboard sessions (session-store.ts)',
      statements: [
        `CREATE TABLE ui_sessions (id_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, principal TEXT NOT NULL, created_at INTEGER NOT NULL,
          last_seen_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID`,
        `CREATE INDEX ui_sessions_token ON ui_sessions (token_id, created_at)`,
      ],
    },
  ],
  postgres: (s) => [
    {
      id: 1,
      name: 'spend rollup, event payload full-text index',
      statements: [
        `CREATE TABLE ${s}.ui_spend_daily (day BIGINT NOT NULL, agent TEXT NOT NULL, model TEXT NOT NULL, key_id TEXT NOT NULL, requests BIGINT NOT NULL,
          input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, cost_nusd BIGINT NOT NULL,
          cache_hits BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (day, agent, model, key_id))`,
        BACKFILL(`${s}.`),
        `CREATE FUNCTION ${s}.ui_spend_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${UPSERT(`${s}.`, `${s}.ui_spend_daily`)}; RETURN NULL; END $$`,
        `CREATE TRIGGER ui_spend_rollup AFTER INSERT ON ${s}.llm_usage FOR EACH ROW EXECUTE FUNCTION ${s}.ui_spend_rollup()`,
        `CREATE INDEX ui_events_fts ON ${s}.events USING GIN (to_tsvector('simple', name || ' ' || payload))`,
        `CREATE INDEX ui_runs_status ON ${s}.runs (status, seq)`,
        `CREATE INDEX ui_runs_event ON ${s}.runs (event_id)`,
      ],
    },
    {
      id: 2,
      name: 'state versions by run (run timeline)',
      statements: [`CREATE INDEX ui_state_versions_run ON ${s}.state_versions (run_id) WHERE run_id IS NOT NULL`],
    },
    {
      id: 3,
      name: 'dashboard sessions (session-store.ts)',
      statements: [
        `CREATE TABLE ${s}.ui_sessions (id_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, principal TEXT NOT NULL, created_at BIGINT NOT NULL,
          last_seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
        `CREATE INDEX ui_sessions_token ON ${s}.ui_sessions (token_id, created_at)`,
      ],
    },
  ],
};
