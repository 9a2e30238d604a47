// Models named in the llm: section are checked at load (issue 14 item 12, issue 15): a default no
// provider serves, or a model without a price, is a config error with file:line:col — not a failure
// on the first request after the daemon is up.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { LlmConfig } from '../../src/llm/config.js';
import { PriceTable } from '../../src/llm/prices.js';
import { effectivePrices } from '../../src/llm/model-checks.js';

function file(lines: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-llmmodels-'));
  const f = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(f, ['project: x', 'llm:', ...lines, ''].join('\n'));
  return f;
}

const load = (lines: string[]) => loadConfig(file(lines), { env: {} });
const failure = async (lines: string[]): Promise<string> => {
  const err = await load(lines).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  return (err as Error).message;
};

describe('llm models checked at load', () => {
  it('refuses a primary model no provider serves, at its line and column, naming the declared ones', async () => {
    const msg = await failure(['  providers:', '    openai: { api_key: sk-1, models: [gpt-4o-mini] }', '  defaults:', '    primary: gpt-5-turbo']);
    expect(msg).toMatch(/openclaw\.yaml:6:14: llm\.defaults\.primary: model 'gpt-5-turbo' is not served by any provider in llm\.providers \(declared: gpt-4o-mini\)/);
  });

  it('refuses a fallback model no provider serves, naming its index', async () => {
    const msg = await failure([
      '  providers:',
      '    openai: { api_key: sk-1, models: [gpt-4o-mini] }',
      '    anthropic: { api_key: sk-2, models: [claude-3-haiku] }',
      '  defaults: { primary: gpt-4o-mini, fallback: [claude-3-haiku, claude-9] }',
    ]);
    expect(msg).toMatch(/openclaw\.yaml:6:64: llm\.defaults\.fallback\[1\]: model 'claude-9' is not served/);
    expect(msg).not.toMatch(/claude-3-haiku' is not served/);
  });

  it('refuses a primary model when there is no provider at all', async () => {
    expect(await failure(['  defaults: { primary: gpt-4o }'])).toMatch(/llm\.defaults\.primary: model 'gpt-4o' is not served by any provider: llm\.providers is empty/);
  });

  it('accepts <provider>/<model> and a model from the only provider that declares no list', async () => {
    const cfg = await load(['  providers:', '    openai: { api_key: sk-1 }', '  defaults: { primary: gpt-4o, fallback: [openai/gpt-4o-mini] }']);
    expect((cfg.extensions!.llm as LlmConfig).defaults.primary).toBe('gpt-4o');
  });

  it('refuses an unpriced model a provider declares, saying how to price it', async () => {
    const msg = await failure(['  providers:', '    vllm: { type: openai-compatible, base_url: "http://gpu:8000/v1", models: [qwen2.5-72b] }']);
    expect(msg).toMatch(/openclaw\.yaml:4:\d+: llm\.providers\.vllm\.models\[0\]: model 'qwen2\.5-72b' has no price/);
    expect(msg).toMatch(/llm\.prices\."qwen2\.5-72b": 0 for a free model/);
    expect(msg).toMatch(/local: true on provider 'vllm'/);
  });

  it('refuses an unpriced primary served through <provider>/<model>', async () => {
    const msg = await failure(['  providers:', '    openai: { api_key: sk-1, models: [gpt-4o] }', '  defaults: { primary: openai/gpt-9 }']);
    expect(msg).toMatch(/llm\.defaults\.primary: model 'openai\/gpt-9' has no price/);
  });

  it('accepts an unpriced model with price 0, an explicit price, or a local provider; Ollama is local by default', async () => {
    const cfg = await load([
      '  providers:',
      '    vllm: { type: openai-compatible, base_url: "http://gpu:8000/v1", models: [qwen2.5-72b, mixtral-8x7b] }',
      '    lab: { type: openai-compatible, base_url: "http://lab:8000/v1", local: true, models: [phi-4] }',
      '    ollama: { models: ["qwen2.5:7b"] }',
      '  defaults: { primary: qwen2.5-72b, fallback: [phi-4, "qwen2.5:7b"] }',
      '  prices:',
      '    qwen2.5-72b: 0',
      '    mixtral-8x7b: { input: 0.6, output: 0.6 }',
    ]);
    const llm = cfg.extensions!.llm as LlmConfig;
    const table = new PriceTable(effectivePrices(llm));
    expect(table.costOf('qwen2.5-72b', { inputTokens: 1000, outputTokens: 1000 })).toBe(0);
    expect(table.costOf('phi-4', { inputTokens: 1000, outputTokens: 1000 })).toBe(0);
    expect(table.costOf('qwen2.5:7b', { inputTokens: 1000, outputTokens: 1000 })).toBe(0);
    expect(table.costOf('mixtral-8x7b', { inputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(0.6);
  });

  it('an Ollama provider marked local: false needs prices like any other', async () => {
    expect(await failure(['  providers:', '    ollama: { local: false, models: ["qwen2.5:7b"] }'])).toMatch(/llm\.providers\.ollama\.models\[0\]: model 'qwen2\.5:7b' has no price/);
  });
});
