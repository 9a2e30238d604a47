// Budgets on SQLite and PostgreSQL: 100 concurrent calls through a real daemon against a budget that
// allows about 10 never overspend by more than one call's maximum cost (reservations in one
// transaction), a daemon restart half-way keeps the ledger; daily windows reset at midnight of the
// configured time zone; alerts fire once per window; crashed reservations expire.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { Ledger, toNano } from '../../src/llm/ledger.js';
import { llmStoreModule } from '../../src/llm/ledger.js';
import { SqlRunner } from '../../src/llm/sql.js';
import { budgetChecks, calendar } from '../../src/llm/budget.js';
import { parseLlmConfig } from '../../src/llm/config.js';
import { PG_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/project.js';
import { backends, createKey, llmProject, provider, startDaemon, stopDaemons, storeFor, useFakeOpenAI, type Backend } from './helpers.js';

const fake = useFakeOpenAI();

// gpt-4o: $2.50 in, $10 out per million tokens. max_tokens 1000 → a call costs at most
// in·2.5e-6 + 0.01 USD; the fake reports 1000 output tokens, so each call really costs about that.
const BUDGET = 0.1;
const MAX_TOKENS = 1000;

async function burst(url: string, key: string, n: number): Promise<{ ok: number; refused: number; other: string[] }> {
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `call ${i}` }], max_tokens: MAX_TOKENS }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string } } })),
    ),
  );
  return {
    ok: results.filter((r) => r.status === 200).length,
    refused: results.filter((r) => r.status === 429 && r.body.error?.code === 'budget_exceeded').length,
    other: results.filter((r) => r.status !== 200 && !(r.status === 429 && r.body.error?.code === 'budget_exceeded')).map((r) => `${r.status} ${JSON.stringify(r.body)}`),
  };
}

async function spent(url: string): Promise<number> {
  const res = (await (await fetch(`${url}/api/llm/usage?by=model&since=1d`)).json()) as { total: { costUsd: number } };
  return res.total.costUsd;
}

describe.each(backends)('budget on %s', (backend: Backend) => {
  it('100 concurrent calls against a budget for about 10: spend ≤ budget + one call; a restart half-way keeps the ledger', async () => {
    const { configFile } = llmProject({
      backend,
      llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o'])}  defaults:\n    primary: gpt-4o\n  budgets:\n    timezone: Europe/Paris\n    global:\n      daily_limit_usd: ${BUDGET}\n`,
    });
    fake.setDefault({ latencyMs: 20, usage: { input: 12, output: MAX_TOKENS } });
    const maxCallCost = (40 * 2.5 + MAX_TOKENS * 10) / 1e6; // generous input bound

    let d = await startDaemon(configFile);
    const { key } = await createKey(d, { name: 'burst' });
    const first = await burst(d.url, key, 50);
    expect(first.other).toEqual([]);
    const spentBefore = await spent(d.url);
    expect(first.ok).toBeGreaterThan(0);
    await d.shutdown('restart half-way');
    await stopDaemons();

    d = await startDaemon(configFile);
    // The ledger survived: the spend before the restart is still there and still counts.
    expect(await spent(d.url)).toBeCloseTo(spentBefore, 9);
    const second = await burst(d.url, key, 50);
    expect(second.other).toEqual([]);
    const total = await spent(d.url);

    expect(first.ok + second.ok + first.refused + second.refused).toBe(100);
    expect(total).toBeLessThanOrEqual(BUDGET + maxCallCost);
    // About 10 calls fit (each costs ~$0.01): not one more reached the upstream than was paid for.
    expect(first.ok + second.ok).toBeGreaterThanOrEqual(8);
    expect(first.ok + second.ok).toBeLessThanOrEqual(10);
    expect(fake.chatRequests).toHaveLength(first.ok + second.ok);
    // One alert for the window (alert_at_pct defaults to 80), published as an event.
    const alerts = await d.listEvents({ name: 'llm.budget_alert' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.payload).toMatchObject({ scope: 'global', window: 'daily', limit_usd: BUDGET, alert_at_pct: 80 });
    // The gauge shows what is left once the last call settled (refreshed asynchronously).
    await waitFor('the global budget gauge', async () => {
      const m = /openclaw_llm_budget_remaining_usd\{scope="global",window="daily"\} ([\d.e-]+)/.exec(await d.metrics.metrics());
      return m && Math.abs(Number(m[1]) - Math.max(0, BUDGET - total)) < 1e-6;
    });
  });
});

describe.each(backends)('ledger on %s', (backend: Backend) => {
  let store: Store;
  let ledger: Ledger;
  beforeAll(async () => {
    const s = storeFor(backend);
    const cfg = s ? { kind: 'postgres' as const, url: PG_URL, schema: s.schema } : { kind: 'sqlite' as const, path: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oc-ledger-')), 'db.sqlite') };
    store = await openStore(cfg);
    await store.migrateModule(llmStoreModule);
    ledger = new Ledger(new SqlRunner(store.handle()));
  });
  afterAll(async () => {
    await store.close();
  });

  const cfg = parseLlmConfig({ budgets: { timezone: 'America/New_York', per_agent: { bot: { daily_limit_usd: 1, alert_at_pct: 50 } } } });

  it('resets the daily window at midnight of the configured time zone', async () => {
    // 2026-03-07 23:30 in New York is 04:30 UTC on the 8th; midnight there is 05:00 UTC.
    const before = Date.UTC(2026, 2, 8, 4, 30);
    const after = Date.UTC(2026, 2, 8, 5, 0, 1);
    const cal = calendar(before, 'America/New_York');
    expect(cal.day.win).toBe('d:2026-03-07');
    expect(cal.day.resetsAt).toBe(Date.UTC(2026, 2, 8, 5, 0));
    expect(calendar(after, 'America/New_York').day.win).toBe('d:2026-03-08');
    // The next day is 23 hours long (DST starts on the 8th): it ends at 04:00 UTC on the 9th.
    expect(calendar(after, 'America/New_York').day.resetsAt).toBe(Date.UTC(2026, 2, 9, 4, 0));

    const r1 = await ledger.reserve('a1', budgetChecks(cfg, { agent: 'bot' }, 0.9, 10, before), before, 60_000);
    expect(r1).toBeNull();
    await ledger.settle('a1', { usd: toNano(0.9), tok: 10 }, null, before);
    const refused = await ledger.reserve('a2', budgetChecks(cfg, { agent: 'bot' }, 0.2, 10, before), before, 60_000);
    expect(refused?.check.label).toBe("daily budget of agent 'bot'");
    expect(refused?.used).toBe(toNano(0.9));
    // A minute past local midnight: a new window, the same call fits.
    expect(await ledger.reserve('a3', budgetChecks(cfg, { agent: 'bot' }, 0.2, 10, after), after, 60_000)).toBeNull();
  });

  it('sends the threshold alert once per window', async () => {
    const t = Date.UTC(2026, 5, 1, 15);
    const crossings: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const id = `al${i}`;
      expect(await ledger.reserve(id, budgetChecks(cfg, { agent: 'bot' }, 0.2, 1, t), t, 60_000)).toBeNull();
      crossings.push(...(await ledger.settle(id, { usd: toNano(0.2), tok: 1 }, null, t)));
    }
    // 0.2, 0.4, 0.6 (≥ 50 %: alert), 0.8 (already alerted)
    expect(crossings).toHaveLength(1);
    expect(crossings[0]).toMatchObject({ scope: 'agent:bot', win: 'd:2026-06-01', pct: 50 });
  });

  it('limits tokens per minute over the last 60 seconds, not per clock minute (issue 14 item 17)', async () => {
    const tpm = parseLlmConfig({ limits: { tokens_per_minute: 1000 } });
    const spend = async (id: string, tokens: number, at: number) => {
      const refused = await ledger.reserve(id, budgetChecks(tpm, { agent: 'tpm-bot' }, 0, tokens, at), at, 60_000);
      if (!refused) await ledger.settle(id, { usd: 0, tok: tokens }, null, at);
      return refused;
    };
    const t = Date.UTC(2026, 8, 1, 12, 0, 59, 500); // 12:00:59.5
    expect(await spend('w1', 900, t)).toBeNull();
    // One second later is a new clock minute, but the same 60 s: a fixed-minute bucket would allow it.
    const refused = await spend('w2', 900, t + 1000);
    expect(refused?.check.label).toBe("tokens per minute of agent 'tpm-bot'");
    expect(refused?.used).toBe(900);
    expect(await spend('w3', 100, t + 1000)).toBeNull(); // what is left of the window still fits
    // 60 s after the first call it has aged out (the second one, 100 tokens, has not).
    expect(await spend('w4', 900, t + 60_000)).toBeNull();
    expect((await spend('w5', 1, t + 60_000))?.used).toBe(1000);
  });

  it('releases the reservation of a call that never settled (crashed daemon) once it expires', async () => {
    const t = Date.UTC(2026, 7, 1, 15);
    await ledger.expireReservations(t); // the earlier tests' unsettled reservations
    expect(await ledger.reserve('crashed', budgetChecks(cfg, { agent: 'bot' }, 0.9, 1, t), t, 60_000)).toBeNull();
    expect(await ledger.reserve('blocked', budgetChecks(cfg, { agent: 'bot' }, 0.2, 1, t), t, 60_000)).not.toBeNull();
    expect(await ledger.expireReservations(t + 30_000)).toBe(0);
    expect(await ledger.expireReservations(t + 60_001)).toBe(1);
    expect(await ledger.reserve('now-fits', budgetChecks(cfg, { agent: 'bot' }, 0.2, 1, t + 60_001), t + 60_001, 60_000)).toBeNull();
  });
});
