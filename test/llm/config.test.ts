// The llm: section: defaults filled, durations parsed, and mistakes reported with file:line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { LlmConfig } from '../../src/llm/config.js';

function file(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-llmcfg-'));
  const f = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(f, text);
  return f;
}

describe('llm: config', () => {
  it('parses the seed 003 §10 section and fills defaults', async () => {
    const cfg = await loadConfig(
      file(
        [
          'project: x',
          'llm:',
          '  providers:',
          '    openai: { api_key: sk-1, models: [gpt-4o, gpt-4o-mini], rate_limit: 500/min }',
          '    ollama: { base_url: "http://ollama:11434", models: [llama-3.1-70b] }',
          '  defaults: { primary: gpt-4o, fallback: [llama-3.1-70b], timeout: 30s, max_retries: 3 }',
          '  budgets:',
          '    global: { daily_limit_usd: 200.0, monthly_limit_usd: 5000.0 }',
          '    per_agent:',
          '      smart-analyzer: { daily_limit_usd: 50.0 }',
          '',
        ].join('\n'),
      ),
      { env: {} },
    );
    const llm = cfg.extensions!.llm as LlmConfig;
    expect(llm.defaults).toMatchObject({ primary: 'gpt-4o', fallback: ['llama-3.1-70b'], timeout: 30_000, max_retries: 3, strict: false, cooldown_after: 3, cooldown: 30_000 });
    expect(llm.providers.openai!.rate_limit).toEqual({ requests: 500, windowMs: 60_000 });
    expect(llm.budgets).toMatchObject({ timezone: 'UTC', global: { daily_limit_usd: 200, alert_at_pct: 80 }, per_agent: { 'smart-analyzer': { daily_limit_usd: 50 } } });
    expect(llm.limits).toMatchObject({ input_policy: 'reject', max_output_tokens: 4096 });
    expect(llm.cache.semantic.enabled).toBe(false);
  });

  it('reports mistakes with file and line', async () => {
    const f = file(['project: x', 'llm:', '  budgets:', '    timezone: Mars/Olympus', '    global: { daily_limit_usd: -1 }', '  limits:', '    input_policy: upgrade', '  defaults: { timeout: soon }', ''].join('\n'));
    const err = await loadConfig(f, { env: {} }).catch((e) => e);
    expect(err.code).toBe('config_invalid');
    expect(err.message).toMatch(new RegExp(`openclaw.yaml:4:\\d+: llm.budgets.timezone: .*Mars/Olympus`));
    expect(err.message).toMatch(/openclaw.yaml:5:\d+: llm.budgets.global.daily_limit_usd: must not be negative/);
    expect(err.message).toMatch(/llm.limits.upgrade_model: is required when input_policy is 'upgrade'/);
    expect(err.message).toMatch(/openclaw.yaml:8:\d+: llm.defaults.timeout: /);
  });
});
