// The cooldown's half-open probe, on a controlled clock: the router in process over real providers
// (HTTP to the fakes) and a real SQLite ledger.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { Ledger, llmStoreModule } from '../../src/llm/ledger.js';
import { SqlRunner } from '../../src/llm/sql.js';
import { LlmRouter } from '../../src/llm/router.js';
import { parseLlmConfig } from '../../src/llm/config.js';
import { createProvider } from '../../src/llm/providers/index.js';
import { defaultPrices } from '../../src/llm/prices.js';
import type { Provider } from '../../src/llm/types.js';
import { startFakeOpenAI, startFakeAnthropic, type FakeServer } from '../fakes/index.js';

let a: FakeServer;
let b: FakeServer;
let store: Store;
const providers: Provider[] = [];
beforeAll(async () => {
  a = await startFakeOpenAI({ apiKey: 'sk-test' });
  b = await startFakeAnthropic({ apiKey: 'sk-test' });
  store = await openStore({ kind: 'sqlite', path: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'oc-cool-')), 'db.sqlite') });
  await store.migrateModule(llmStoreModule);
});
afterAll(async () => {
  await Promise.all(providers.map((p) => p.close()));
  await Promise.all([a.close(), b.close(), store.close()]);
});

describe('cooldown', () => {
  it('skips a cooling model, probes it once after the cooldown, re-opens on a failed probe and closes on a good one', async () => {
    const config = parseLlmConfig({
      providers: { openai: { api_key: 'sk-test', base_url: a.baseUrl, models: ['gpt-4o'] }, anthropic: { api_key: 'sk-test', base_url: b.baseUrl, models: ['claude-3-haiku'] } },
      defaults: { primary: 'gpt-4o', fallback: ['claude-3-haiku'], max_retries: 0, cooldown_after: 2, cooldown: '30s' },
    });
    const map = new Map<string, Provider>();
    for (const [name, pc] of Object.entries(config.providers)) {
      const p = createProvider(name, pc);
      providers.push(p);
      map.set(name, p);
    }
    let t = Date.UTC(2026, 0, 1);
    const router = new LlmRouter({
      config,
      providers: map,
      ledger: new Ledger(new SqlRunner(store.handle())),
      price: (m) => defaultPrices.info(m),
      prepareInput: (req) => ({ request: req, inputTokens: 5, estimated: false }),
      countText: () => 1,
      now: () => t,
    });
    const call = async () => {
      const r = await router.complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      return { provider: r.provider, attempts: r.attempts.map((x) => `${x.provider}:${x.skipped ?? (x.ok ? 'ok' : x.kind)}`) };
    };

    a.setDefault({ status: 500 });
    expect(await call()).toEqual({ provider: 'anthropic', attempts: ['openai:server', 'anthropic:ok'] });
    expect(await call()).toEqual({ provider: 'anthropic', attempts: ['openai:server', 'anthropic:ok'] });
    // Two failures in a row: cooling for 30 s.
    t += 10_000;
    expect(await call()).toEqual({ provider: 'anthropic', attempts: ['openai:cooldown', 'anthropic:ok'] });
    expect(a.chatRequests).toHaveLength(2);

    // After the cooldown one probe goes through; it fails, so it is open again at once (one failure).
    t += 30_000;
    expect(await call()).toEqual({ provider: 'anthropic', attempts: ['openai:server', 'anthropic:ok'] });
    expect(await call()).toEqual({ provider: 'anthropic', attempts: ['openai:cooldown', 'anthropic:ok'] });
    expect(router.cooling()).toEqual([{ provider: 'openai', model: 'gpt-4o', until: t + 30_000 }]);

    // The next probe succeeds: closed, used again.
    t += 31_000;
    a.setDefault({});
    expect(await call()).toEqual({ provider: 'openai', attempts: ['openai:ok'] });
    expect(await call()).toEqual({ provider: 'openai', attempts: ['openai:ok'] });
    expect(router.cooling()).toEqual([]);
    expect(a.chatRequests).toHaveLength(5);
  });
});
