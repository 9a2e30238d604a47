// Token limits through the daemon, on real tokenizer counts (js-tiktoken o200k for gpt-4o-mini):
// max_input_tokens with reject / truncate / upgrade at the exact boundary, max_output_tokens caps,
// per-session and per-key tokens-per-minute limits; llm_tokens_per_hour per agent in the checks.
import { describe, expect, it } from 'vitest';
import { countMessages } from '../../src/llm/tokens.js';
import { budgetChecks } from '../../src/llm/budget.js';
import { parseLlmConfig } from '../../src/llm/config.js';
import type { ChatMessage } from '../../src/llm/types.js';
import { createKey, llmProject, provider, startDaemon, useFakeOpenAI } from './helpers.js';

const fake = useFakeOpenAI();

async function setup(limits: string, keyBody: Record<string, unknown> = { name: 't' }) {
  const { configFile } = llmProject({ llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini', 'gpt-4o'])}  defaults:\n    primary: gpt-4o-mini\n  limits:\n${limits}` });
  const d = await startDaemon(configFile);
  const { key } = await createKey(d, keyBody);
  return async (messages: ChatMessage[], extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
    const res = await fetch(`${d.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, ...extra }),
    });
    return { status: res.status, model: res.headers.get('x-openclaw-model'), body: (await res.json()) as { error?: { code: string; message: string; param: string | null } } };
  };
}

const u = (content: string): ChatMessage => ({ role: 'user', content });
const tokens = (m: ChatMessage[], model = 'gpt-4o-mini') => countMessages(m, model).tokens;

describe('token limits on real tokenizer counts', () => {
  it('reject: a prompt of exactly max_input_tokens passes, one token more is refused before any upstream call', async () => {
    const fits = [u('The quick brown fox jumps over the lazy dog')];
    const limit = tokens(fits);
    const over = [u('The quick brown fox jumps over the lazy dog again')];
    expect(tokens(over)).toBe(limit + 1);
    const ask = await setup(`    max_input_tokens: ${limit}\n    input_policy: reject\n`);
    expect((await ask(fits)).status).toBe(200);
    const refused = await ask(over);
    expect(refused.status).toBe(400);
    expect(refused.body.error!.code).toBe('llm_input_too_long');
    expect(refused.body.error!.param).toBe('messages');
    expect(refused.body.error!.message).toContain(`input is ${limit + 1} tokens (counted with o200k_base) for gpt-4o-mini, over the limit of ${limit}`);
    expect(fake.chatRequests).toHaveLength(1);
  });

  it('truncate: keeps the system prompt and the latest turn, drops the oldest turns', async () => {
    const sys: ChatMessage = { role: 'system', content: 'You are terse.' };
    const history: ChatMessage[] = [sys, u('first question about the weather in Paris today'), { role: 'assistant', content: 'It is sunny and warm in Paris today.' }, u('second question: and tomorrow?')];
    const limit = tokens([sys, history[3]!]) + 2;
    expect(tokens(history)).toBeGreaterThan(limit);
    const ask = await setup(`    max_input_tokens: ${limit}\n    input_policy: truncate\n`);
    expect((await ask(history)).status).toBe(200);
    expect(fake.chatRequests[0]!.body.messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'second question: and tomorrow?' },
    ]);
  });

  it('upgrade: an input over the limit goes to the larger-context model', async () => {
    const small = [u('short')];
    const big = [u('a much longer prompt that will not fit the small limit at all')];
    const ask = await setup(`    max_input_tokens: ${tokens(small)}\n    input_policy: upgrade\n    upgrade_model: gpt-4o\n`);
    expect((await ask(small)).model).toBe('gpt-4o-mini');
    expect((await ask(big)).model).toBe('gpt-4o');
    expect(fake.chatRequests.map((r) => r.body.model)).toEqual(['gpt-4o-mini', 'gpt-4o']);
  });

  it('caps max_tokens at max_output_tokens', async () => {
    const ask = await setup('    max_output_tokens: 64\n');
    await ask([u('hi')], { max_tokens: 5000 });
    await ask([u('hi')]);
    const sent = fake.chatRequests.map((r) => r.body.max_completion_tokens ?? r.body.max_tokens);
    expect(sent).toEqual([64, 64]);
  });

  it('per-session token limit: calls are refused once the session used its tokens', async () => {
    fake.setDefault({ usage: { input: 10, output: 100 } });
    const ask = await setup('    per_session_tokens: 250\n');
    const s = { 'x-openclaw-session': 'chat-1' };
    expect((await ask([u('a')], { max_tokens: 100 }, s)).status).toBe(200);
    expect((await ask([u('b')], { max_tokens: 100 }, s)).status).toBe(200);
    const refused = await ask([u('c')], { max_tokens: 100 }, s);
    expect(refused.status).toBe(429);
    expect(refused.body.error!.code).toBe('token_limit_exceeded');
    expect(refused.body.error!.message).toMatch(/per_session_tokens of session 'chat-1' \(250 tokens\)/);
    // Another session is not affected.
    expect((await ask([u('d')], { max_tokens: 100 }, { 'x-openclaw-session': 'chat-2' })).status).toBe(200);
  });

  it("a key's tokens per minute", async () => {
    fake.setDefault({ usage: { input: 10, output: 100 } });
    const ask = await setup('    max_output_tokens: 4096\n', { name: 'tpm', tpm: 250 });
    // A sliding 60 s window: no clock-minute boundary to dodge.
    expect((await ask([u('a')], { max_tokens: 100 })).status).toBe(200);
    expect((await ask([u('b')], { max_tokens: 100 })).status).toBe(200);
    const refused = await ask([u('c')], { max_tokens: 100 });
    expect(refused.status).toBe(429);
    expect(refused.body.error!.code).toBe('rate_limit_exceeded');
    expect(fake.chatRequests).toHaveLength(2);
  });

  it("an agent's llm_tokens_per_hour and tokens_per_minute are buckets of every call it makes", () => {
    const cfg = parseLlmConfig({ budgets: { per_agent: { bot: { llm_tokens_per_hour: 5000, tokens_per_minute: 900 } } } });
    const now = Date.UTC(2026, 0, 1, 10, 30);
    const checks = budgetChecks(cfg, { agent: 'bot' }, 0, 120, now);
    expect(checks.map((c) => [c.scope, c.win.split(':')[0], c.unit, c.amount, c.limit])).toEqual([
      ['agent:bot', 'h', 'tok', 120, 5000],
      ['agent:bot', 'tpm', 'tok', 120, 900], // a sliding 60 s window (one-second slots)
    ]);
    expect(checks[0]!.resetsAt).toBe(Date.UTC(2026, 0, 1, 11));
  });
});
