// Token counting on the real tokenizers (js-tiktoken ranks), the input policies and output caps.
import { describe, expect, it } from 'vitest';
import { capOutput, countMessages, countText, encode, encodingFor, fitInput, InputTooLongError, inputLimitFor } from '../../src/llm/tokens.js';
import type { ChatMessage } from '../../src/llm/types.js';
import { PriceTable } from '../../src/llm/prices.js';

// OpenAI cookbook, "How to count tokens with tiktoken": these messages are 129 prompt tokens for
// gpt-3.5-turbo / gpt-4 (cl100k_base) and 124 for gpt-4o / gpt-4o-mini (o200k_base), as the API reports.
const COOKBOOK: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

describe('counting', () => {
  it('picks the encoding per model family', () => {
    expect(encodingFor('gpt-4o')).toBe('o200k_base');
    expect(encodingFor('gpt-4o-2024-08-06')).toBe('o200k_base');
    expect(encodingFor('gpt-4.1-mini')).toBe('o200k_base');
    expect(encodingFor('o3')).toBe('o200k_base');
    expect(encodingFor('o4-mini')).toBe('o200k_base');
    expect(encodingFor('openai/gpt-4o')).toBe('o200k_base');
    expect(encodingFor('gpt-4')).toBe('cl100k_base');
    expect(encodingFor('gpt-3.5-turbo')).toBe('cl100k_base');
    expect(encodingFor('text-embedding-3-small')).toBe('cl100k_base');
    expect(encodingFor('claude-3.5-sonnet')).toBeUndefined();
    expect(encodingFor('llama-3.1-8b')).toBeUndefined();
  });

  it('counts text like tiktoken', () => {
    expect(encode('tiktoken is great!', 'cl100k_base')).toBe(6);
    expect(encode('hello world', 'o200k_base')).toBe(2);
    expect(encode('', 'o200k_base')).toBe(0);
    // Special-token text in user input is counted as text, never rejected.
    expect(encode('<|endoftext|>', 'cl100k_base')).toBeGreaterThan(1);
    expect(countText('hello world', 'gpt-4o')).toEqual({ tokens: 2, estimated: false, encoding: 'o200k_base' });
  });

  it('remembers counts per encoding: a repeated text counts the same, in each encoding', () => {
    const t = 'a text counted twice, in two encodings: ' + 'x'.repeat(37);
    const o = encode(t, 'o200k_base');
    const c = encode(t, 'cl100k_base');
    expect(encode(t, 'o200k_base')).toBe(o);
    expect(encode(t, 'cl100k_base')).toBe(c);
    expect(encode('tiktoken is great!', 'cl100k_base')).toBe(6);
    expect(encode('tiktoken is great!', 'o200k_base')).toBe(encode('tiktoken is great!', 'o200k_base'));
  });

  it('counts chat messages with OpenAI framing as the API does', () => {
    // Twice: the second count comes from remembered texts and must agree.
    expect(countMessages(COOKBOOK, 'gpt-3.5-turbo')).toEqual({ tokens: 129, estimated: false, encoding: 'cl100k_base' });
    expect(countMessages(COOKBOOK, 'gpt-3.5-turbo')).toEqual({ tokens: 129, estimated: false, encoding: 'cl100k_base' });
    expect(countMessages(COOKBOOK, 'gpt-4')).toMatchObject({ tokens: 129 });
    expect(countMessages(COOKBOOK, 'gpt-4o')).toEqual({ tokens: 124, estimated: false, encoding: 'o200k_base' });
    expect(countMessages(COOKBOOK, 'gpt-4o-mini').tokens).toBe(124);
  });

  it('marks other families as estimates that lean high', () => {
    const claude = countMessages(COOKBOOK, 'claude-3.5-sonnet');
    expect(claude.estimated).toBe(true);
    expect(claude.tokens).toBeGreaterThan(124);
    expect(countText('hello world', 'llama-3.1-8b')).toMatchObject({ estimated: true, tokens: 3 });
  });

  it('counts tool definitions and tool calls', () => {
    const base = countMessages([{ role: 'user', content: 'weather?' }], 'gpt-4o').tokens;
    const withTools = countMessages([{ role: 'user', content: 'weather?' }], 'gpt-4o', [
      { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    ]).tokens;
    expect(withTools).toBeGreaterThan(base + 10);
  });
});

function conversation(turns: number, words = 40): ChatMessage[] {
  const msgs: ChatMessage[] = [{ role: 'system', content: 'You are a careful assistant.' }];
  for (let i = 0; i < turns; i++) {
    msgs.push({ role: 'user', content: `question ${i}: ${'lorem ipsum '.repeat(words)}` });
    msgs.push({ role: 'assistant', content: `answer ${i}: ${'dolor sit amet '.repeat(words)}` });
  }
  msgs.push({ role: 'user', content: 'final question: what did we decide?' });
  return msgs;
}

describe('fitInput', () => {
  it('leaves input under the limit alone', () => {
    const msgs = conversation(2);
    const r = fitInput(msgs, { model: 'gpt-4o', maxInputTokens: 10_000, policy: 'reject' });
    expect(r).toMatchObject({ messages: msgs, model: 'gpt-4o', dropped: 0, upgraded: false });
  });

  it('reject says the counted tokens, the limit and how to fix', () => {
    const msgs = conversation(10);
    const tokens = countMessages(msgs, 'gpt-4o').tokens;
    let err: unknown;
    try {
      fitInput(msgs, { model: 'gpt-4o', maxInputTokens: 500, policy: 'reject' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputTooLongError);
    const msg = (err as Error).message;
    expect(msg).toContain(`input is ${tokens.toLocaleString('en-US')} tokens (counted with o200k_base)`);
    expect(msg).toContain('over the limit of 500');
    expect(msg).toMatch(/truncate/);
    expect((err as InputTooLongError).details).toMatchObject({ tokens, limit: 500, model: 'gpt-4o', estimated: false });
  });

  it('truncate keeps the system prompt and the latest user turn and drops the oldest turns first', () => {
    const msgs = conversation(10);
    const limit = 600;
    const r = fitInput(msgs, { model: 'gpt-4o', maxInputTokens: limit, policy: 'truncate' });
    expect(r.count.tokens).toBeLessThanOrEqual(limit);
    expect(countMessages(r.messages, 'gpt-4o').tokens).toBe(r.count.tokens);
    expect(r.messages[0]).toEqual(msgs[0]);
    expect(r.messages.at(-1)).toEqual(msgs.at(-1));
    expect(r.dropped).toBe(msgs.length - r.messages.length);
    expect(r.dropped).toBeGreaterThan(0);
    // A sliding window: what is kept is the most recent contiguous history.
    const kept = r.messages.slice(1);
    expect(kept).toEqual(msgs.slice(msgs.length - kept.length));
    // and as much of it as fits: one more message would not.
    const oneMore = [msgs[0]!, ...msgs.slice(msgs.length - kept.length - 1)];
    expect(countMessages(oneMore, 'gpt-4o').tokens).toBeGreaterThan(limit);
  });

  it('truncate never leaves a tool result without its call', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: `old ${'x '.repeat(200)}` },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"q":"a"}' }] },
      { role: 'tool', content: `result ${'y '.repeat(200)}`, toolCallId: 'c1' },
      { role: 'assistant', content: 'done' },
      { role: 'user', content: 'now?' },
    ];
    const r = fitInput(msgs, { model: 'gpt-4o', maxInputTokens: 60, policy: 'truncate' });
    expect(r.messages.map((m) => m.role)).toEqual(['system', 'assistant', 'user']);
    expect(r.messages.some((m) => m.role === 'tool')).toBe(false);
  });

  it('truncate rejects when the system prompt and latest turn alone are too big', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'rules '.repeat(300) },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'q' },
    ];
    expect(() => fitInput(msgs, { model: 'gpt-4o', maxInputTokens: 100, policy: 'truncate' })).toThrow(/after dropping 2 older message\(s\).*system prompt and the latest user turn/);
  });

  it('upgrade moves to the larger-context model when the input fits there', () => {
    const msgs = conversation(10);
    const r = fitInput(msgs, { model: 'gpt-4o-mini', maxInputTokens: 500, policy: 'upgrade', upgradeModel: 'gpt-4.1' });
    expect(r).toMatchObject({ model: 'gpt-4.1', upgraded: true, dropped: 0 });
    expect(r.messages).toBe(msgs);
    expect(() => fitInput(msgs, { model: 'gpt-4o-mini', maxInputTokens: 500, policy: 'upgrade', upgradeModel: 'gpt-4.1', upgradeMaxInputTokens: 600 })).toThrow(
      /over the limit of 600 \(upgraded from gpt-4o-mini\)/,
    );
    expect(() => fitInput(msgs, { model: 'gpt-4o-mini', maxInputTokens: 500, policy: 'upgrade' })).toThrow(/no upgrade model is configured/);
  });

  it('reports estimates as estimates', () => {
    expect(() => fitInput(conversation(5), { model: 'claude-3.5-sonnet', maxInputTokens: 100, policy: 'reject' })).toThrow(/estimated from o200k_base × 1\.2/);
  });
});

describe('output caps', () => {
  it('takes the smallest known cap', () => {
    expect(capOutput(2000, 16_384, 1000)).toBe(1000);
    expect(capOutput(500, 16_384, 1000)).toBe(500);
    expect(capOutput(undefined, 8192, undefined)).toBe(8192);
    expect(capOutput(100_000, 8192, undefined)).toBe(8192);
    expect(capOutput(undefined, undefined, undefined)).toBeUndefined();
  });

  it('derives input limits from the context window', () => {
    expect(inputLimitFor('gpt-4o', 1000)).toBe(127_000);
    expect(inputLimitFor('unknown-model')).toBeUndefined();
    // With config overrides: the overridden window counts.
    const table = new PriceTable({ 'gpt-4o': { context_window: 32_000 }, 'big-local': { input: 0, output: 0, context_window: 200_000 } });
    expect(inputLimitFor('gpt-4o', 1000, table)).toBe(31_000);
    const r = fitInput(conversation(10), { model: 'gpt-4o', maxInputTokens: 500, policy: 'upgrade', upgradeModel: 'big-local', prices: table });
    expect(r).toMatchObject({ model: 'big-local', upgraded: true });
    expect(r.count.estimated).toBe(true);
  });
});
