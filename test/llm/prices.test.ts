// The shipped price table, aliases, overrides from config, cost math, and the provider entry schema.
import { describe, expect, it } from 'vitest';
import { costOf, modelInfo, PriceTable, priceOverridesSchema, UnpricedModelError, worstCaseCost } from '../../src/llm/prices.js';
import { DEFAULT_TIMEOUTS, parseProviderConfig, parseRateLimit, providersSchema } from '../../src/llm/providers/config.js';

describe('price table', () => {
  it('resolves config names, wire ids, aliases, vendor prefixes and dated snapshots', () => {
    expect(modelInfo('claude-3.5-sonnet')).toMatchObject({ name: 'claude-3.5-sonnet', wireId: 'claude-3-5-sonnet-latest', provider: 'anthropic' });
    expect(modelInfo('claude-3-5-sonnet-latest')?.name).toBe('claude-3.5-sonnet');
    expect(modelInfo('claude-3-5-sonnet-20241022')?.name).toBe('claude-3.5-sonnet');
    expect(modelInfo('gpt-4o-2024-08-06')?.name).toBe('gpt-4o');
    expect(modelInfo('gpt-4o-mini-2024-07-18')?.name).toBe('gpt-4o-mini');
    expect(modelInfo('openai/gpt-4.1-mini')?.name).toBe('gpt-4.1-mini');
    expect(modelInfo('llama-3.1-70b')).toMatchObject({ wireId: 'llama3.1:70b', input: 0, output: 0 });
    expect(modelInfo('gpt-4o-turbo-ultra')).toBeUndefined();
    for (const m of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano', 'o3', 'o4-mini', 'gpt-3.5-turbo', 'text-embedding-3-small', 'text-embedding-3-large',
      'claude-3.5-sonnet', 'claude-3.7-sonnet', 'claude-sonnet-4', 'claude-opus-4', 'claude-3.5-haiku', 'claude-3-haiku', 'llama-3.1-70b', 'llama-3.1-8b', 'mistral-7b']) {
      const info = modelInfo(m);
      expect(info, m).toBeDefined();
      expect(info!.contextWindow, m).toBeGreaterThan(0);
      expect(info!.cachedInput, m).toBeLessThanOrEqual(info!.input);
    }
  });

  it('prices a call: uncached input, cached input and output at their own rates', () => {
    // gpt-4o: $2.50 in, $1.25 cached in, $10 out per million.
    expect(costOf('gpt-4o', { inputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(2.5, 10);
    expect(costOf('gpt-4o', { inputTokens: 1000, outputTokens: 500, cachedInputTokens: 400 })).toBeCloseTo((600 * 2.5 + 400 * 1.25 + 500 * 10) / 1e6, 12);
    // claude-3.5-sonnet: $3 in, $0.30 cache read, $15 out.
    expect(costOf('claude-3.5-sonnet', { inputTokens: 2000, outputTokens: 1000, cachedInputTokens: 1000 })).toBeCloseTo((1000 * 3 + 1000 * 0.3 + 1000 * 15) / 1e6, 12);
    expect(costOf('llama-3.1-70b', { inputTokens: 10_000, outputTokens: 10_000 })).toBe(0);
  });

  it('worst case reserves full input price and the output cap', () => {
    expect(worstCaseCost('gpt-4o-mini', 1000, 500)).toBeCloseTo((1000 * 0.15 + 500 * 0.6) / 1e6, 12);
    // Without a cap: the model's max output (16,384 for gpt-4o-mini).
    expect(worstCaseCost('gpt-4o-mini', 0)).toBeCloseTo((16_384 * 0.6) / 1e6, 12);
    // A request above the model's max output cannot produce more than the max.
    expect(worstCaseCost('claude-3-haiku', 0, 1_000_000)).toBeCloseTo((4096 * 1.25) / 1e6, 12);
    expect(worstCaseCost('gpt-4o', 1000, 100)).toBeGreaterThanOrEqual(costOf('gpt-4o', { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 500 }));
  });

  it('refuses to price unknown models instead of calling them free', () => {
    expect(() => costOf('my-finetune', { inputTokens: 1, outputTokens: 1 })).toThrow(UnpricedModelError);
    expect(() => worstCaseCost('my-finetune', 1)).toThrow(/llm\.prices/);
  });

  it('merges config overrides over the shipped table', () => {
    const raw = { 'gpt-4o': { input: 5 }, 'my-finetune': { input: 1, output: 2, context_window: 32_000, wire_id: 'ft:gpt-4o-mini:acme', provider: 'openai' } };
    const table = new PriceTable(priceOverridesSchema.parse(raw));
    expect(table.info('gpt-4o')).toMatchObject({ input: 5, output: 10, cachedInput: 5 });
    expect(table.costOf('gpt-4o', { inputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(5, 10);
    expect(table.info('my-finetune')).toMatchObject({ input: 1, output: 2, contextWindow: 32_000, wireId: 'ft:gpt-4o-mini:acme' });
    expect(table.wireId('my-finetune')).toBe('ft:gpt-4o-mini:acme');
    expect(table.info('ft:gpt-4o-mini:acme')?.name).toBe('my-finetune');
    // an override through an alias changes the canonical entry
    const t2 = new PriceTable(priceOverridesSchema.parse({ 'claude-3-5-sonnet-latest': { output: 20 } }));
    expect(t2.info('claude-3.5-sonnet')?.output).toBe(20);
    // the default table is untouched
    expect(modelInfo('gpt-4o')?.input).toBe(2.5);
  });

  it('rejects incomplete or negative overrides with a clear message', () => {
    const r = priceOverridesSchema.safeParse({ 'new-model': { input: 1 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['new-model']);
    expect(r.error!.issues[0]!.message).toMatch(/needs both input and output/);
    expect(priceOverridesSchema.safeParse({ 'gpt-4o': { input: -1 } }).success).toBe(false);
    expect(priceOverridesSchema.safeParse({ 'gpt-4o': { inputs: 1 } }).success).toBe(false);
  });
});

describe('provider entry schema', () => {
  it('takes the type from the entry name and fills defaults', () => {
    const p = providersSchema.parse({ openai: { api_key: 'sk-x', models: ['gpt-4o'], rate_limit: '500/min' }, ollama: { base_url: 'http://ollama:11434' } });
    expect(p.openai).toMatchObject({ type: 'openai', api_key: 'sk-x', models: ['gpt-4o'], rate_limit: { requests: 500, windowMs: 60_000 }, timeout: DEFAULT_TIMEOUTS, headers: {} });
    expect(p.ollama!.type).toBe('ollama');
  });

  it('parses timeouts as one duration or per phase', () => {
    expect(parseProviderConfig('openai', { timeout: '30s' }).timeout).toEqual({ connectMs: DEFAULT_TIMEOUTS.connectMs, firstByteMs: 30_000, idleMs: 30_000, totalMs: 30_000 });
    expect(parseProviderConfig('openai', { timeout: 10 }).timeout.totalMs).toBe(10_000);
    expect(parseProviderConfig('openai', { timeout: { connect: '2s', first_byte: '20s', idle: '45s', total: '5m' } }).timeout).toEqual({ connectMs: 2000, firstByteMs: 20_000, idleMs: 45_000, totalMs: 300_000 });
  });

  it('reports a missing type, a missing base_url and bad values at their path', () => {
    const r = providersSchema.safeParse({
      vllm: { base_url: 'http://gpu:8000/v1' },
      router: { type: 'openai-compatible' },
      openai: { rate_limit: 'lots', timeout: 'soon', base_url: 'ftp://x', extra: 1 },
    });
    expect(r.success).toBe(false);
    const issues = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues.some((i) => i.startsWith('openai.rate_limit: invalid rate limit "lots"'))).toBe(true);
    expect(issues.some((i) => i.startsWith('openai.timeout'))).toBe(true);
    expect(issues.some((i) => i.startsWith('openai.base_url'))).toBe(true);
    expect(issues.some((i) => i.includes('extra'))).toBe(true);
    const ok = providersSchema.safeParse({ vllm: { base_url: 'http://gpu:8000/v1' }, router: { type: 'openai-compatible' } });
    const msgs = ok.success ? [] : ok.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(msgs).toEqual([expect.stringMatching(/^vllm\.type: provider 'vllm' needs a type/), expect.stringMatching(/^router\.base_url: .*needs base_url/)]);
  });

  it('parses rate limits', () => {
    expect(parseRateLimit('500/min')).toEqual({ requests: 500, windowMs: 60_000 });
    expect(parseRateLimit('10/s')).toEqual({ requests: 10, windowMs: 1000 });
    expect(parseRateLimit('1000/hour')).toEqual({ requests: 1000, windowMs: 3_600_000 });
    expect(parseRateLimit('20000 / day')).toEqual({ requests: 20000, windowMs: 86_400_000 });
    expect(() => parseRateLimit('0/min')).toThrow();
    expect(() => parseRateLimit('500 per minute')).toThrow(/500\/min/);
  });
});
