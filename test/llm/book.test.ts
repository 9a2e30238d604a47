// Budgets in memory over leases (src/llm/book.ts), on SQLite and PostgreSQL: concurrent
// reservations are exact and cost few durable writes; a settle is in the store when it resolves; a
// daemon that dies keeps its calls in flight covered by its lease until the lease expires, and the
// room comes back to a live daemon then; a graceful close gives the lease back; tokens-per-minute
// windows counted in memory start from what the store holds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { Ledger, llmStoreModule, toNano, type UsageRecord } from '../../src/llm/ledger.js';
import { SqlRunner } from '../../src/llm/sql.js';
import { BudgetBook } from '../../src/llm/book.js';
import { budgetChecks, calendar } from '../../src/llm/budget.js';
import { parseLlmConfig } from '../../src/llm/config.js';
import { PG_URL } from '../helpers/services.js';
import { backends, dropSchemas, storeFor, type Backend } from './helpers.js';

const TTL = 120_000;
const cfg = parseLlmConfig({ budgets: { timezone: 'UTC', per_agent: { bot: { daily_limit_usd: 1, alert_at_pct: 50 } } }, limits: { tokens_per_minute: 1000 } });

const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await dropSchemas();
});

function usage(id: string, costUsd: number, ts: number): UsageRecord {
  return { id, ts, agent: 'bot', keyId: null, session: null, user: null, scope: null, model: 'gpt-4o', provider: 'openai', inputTokens: 1, outputTokens: 1, cachedTokens: 0, costUsd, latencyMs: 1, ttftMs: null, status: 'ok', cacheHit: false, estimated: false, stream: false };
}

describe.each(backends)('budget book on %s', (backend: Backend) => {
  let ledger: Ledger;
  let clock = 0;
  const book = () => new BudgetBook(ledger, () => clock);
  const usd = (amount: number, at = clock) => budgetChecks(cfg, { agent: 'bot' }, amount, 1, at).filter((c) => c.unit === 'usd');
  const win = () => calendar(clock, 'UTC').day.win;
  const leaseRows = async (b: BudgetBook) => (await ledger.sql.all(`SELECT id FROM {p}llm_reservations WHERE id LIKE ?`, `${b.owner}%`)).length;

  beforeEach(async () => {
    const s = storeFor(backend);
    const store = await openStore(s ? { kind: 'postgres', url: PG_URL, schema: s.schema } : { kind: 'sqlite', path: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oc-book-')), 'db.sqlite') });
    stores.push(store);
    await store.migrateModule(llmStoreModule);
    ledger = new Ledger(new SqlRunner(store.handle()));
    clock = Date.UTC(2026, 5, 1, 12);
  });

  it('lets exactly as many concurrent calls through as fit, leased in the store, and a settle is stored when it resolves', async () => {
    const b = book();
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => b.reserve(`c${i}`, usd(0.1), TTL)));
    const granted = results.flatMap((r, i) => (r === null ? [i] : []));
    expect(granted).toHaveLength(10);
    expect(results.find((r) => r !== null)).toMatchObject({ used: 0, reserved: toNano(1) });
    // One lease row for the bucket, and it covers every call in flight.
    expect(await leaseRows(b)).toBe(1);
    expect((await ledger.bucket('agent:bot', win(), 'usd')).reserved).toBeGreaterThanOrEqual(toNano(1));

    const crossed = await Promise.all(granted.map((i) => b.settle(`c${i}`, { usd: toNano(0.05), tok: 1 }, usage(`u${i}`, 0.05, clock))));
    expect(crossed.flat()).toMatchObject([{ scope: 'agent:bot', pct: 50 }]); // 0.5 of 1: once
    expect(await ledger.bucket('agent:bot', win(), 'usd')).toMatchObject({ used: toNano(0.5) });
    expect(await ledger.usageRows()).toHaveLength(10);
    expect(b.peek('agent:bot', win(), 'usd')).toEqual({ used: toNano(0.5), reserved: 0 });
    // What the settles gave back is free again: exactly 5 more calls of 0.1.
    const more = await Promise.all(Array.from({ length: 20 }, (_, i) => b.reserve(`m${i}`, usd(0.1), TTL)));
    expect(more.filter((r) => r === null)).toHaveLength(5);
  });

  it("keeps a dead daemon's calls in flight covered until its lease expires; a graceful close gives the lease back", async () => {
    const dead = book();
    for (let i = 0; i < 3; i++) expect(await dead.reserve(`d${i}`, usd(0.2), TTL)).toBeNull();
    // The daemon dies with 0.6 in flight (never settled, never closed). The next one may not spend it.
    const next = book();
    let granted = 0;
    for (let i = 0; i < 5; i++) if ((await next.reserve(`n${i}`, usd(0.2), TTL)) === null) granted++;
    expect(0.6 + granted * 0.2).toBeLessThanOrEqual(1 + 1e-9);
    expect(granted).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < granted; i++) await next.settle(`n${i}`, { usd: toNano(0.2), tok: 1 }, null);

    // Past the dead lease's expiry the live daemon's sweep frees it (and keeps its own).
    clock += TTL + 1;
    expect(await next.sweep(clock)).toBe(1);
    expect(await leaseRows(next)).toBe(1);
    let after = 0;
    for (let i = 0; i < 10; i++) if ((await next.reserve(`a${i}`, usd(0.2), TTL)) === null) after++;
    expect((granted + after) * 0.2).toBeCloseTo(1, 9);

    // A graceful close keeps only what covers calls still in flight.
    await next.close();
    expect((await ledger.bucket('agent:bot', win(), 'usd')).reserved).toBe(toNano(after * 0.2));
  });

  it('counts tokens per minute in memory, starting from what the store holds', async () => {
    const tok = (n: number, at: number) => budgetChecks(cfg, { agent: 'tpm-bot' }, 0, n, at).filter((c) => c.kind === 'rate');
    const t = Date.UTC(2026, 8, 1, 12, 0, 59, 500);
    const first = book();
    expect(await first.reserve('w1', tok(900, t), TTL)).toBeNull();
    await first.settle('w1', { usd: 0, tok: 900 }, null);
    await first.close();
    const second = book();
    expect((await second.reserve('w2', tok(900, t + 1000), TTL))?.used).toBe(900);
    expect(await second.reserve('w3', tok(100, t + 1000), TTL)).toBeNull();
    await second.settle('w3', { usd: 0, tok: 100 }, null);
    expect(await second.reserve('w4', tok(900, t + 60_000), TTL)).toBeNull();
    expect((await second.reserve('w5', tok(1, t + 60_000), TTL))?.used).toBe(100);
  });
});
