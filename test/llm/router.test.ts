// Routing through a real daemon to fake upstreams: retries honouring Retry-After, a timeout moving
// to the next model, a stream cut after the first token ending with an explicit error and no
// fallback, a provider in cooldown skipped, strict mode, and per-provider request rate limits.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { startFakeOpenAI, startFakeAnthropic, type FakeServer } from '../fakes/index.js';
import { createKey, dropSchemas, llmProject, provider, startDaemon, stopDaemons } from './helpers.js';

let a: FakeServer; // openai: gpt-4o, gpt-4o-mini
let b: FakeServer; // anthropic: claude-3-haiku
beforeAll(async () => {
  a = await startFakeOpenAI({ apiKey: 'sk-test' });
  b = await startFakeAnthropic({ apiKey: 'sk-test' });
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  await dropSchemas();
});
afterEach(async () => {
  await stopDaemons();
  a.reset().setDefault({});
  b.reset().setDefault({});
});

function project(defaults: string, openaiExtra = '') {
  return llmProject({
    llm:
      `  providers:\n${provider('openai', a.baseUrl, ['gpt-4o', 'gpt-4o-mini'], openaiExtra)}${provider('anthropic', b.baseUrl, ['claude-3-haiku'])}` +
      `  defaults:\n    primary: gpt-4o\n    fallback: [claude-3-haiku]\n${defaults}`,
  });
}

async function client(defaults: string, openaiExtra = '') {
  const d = await startDaemon(project(defaults, openaiExtra).configFile);
  const { key } = await createKey(d);
  return { d, c: new OpenAI({ apiKey: key, baseURL: `${d.url}/v1`, maxRetries: 0 }) };
}

const ask = (c: OpenAI, model = 'gpt-4o', content = 'hi') => c.chat.completions.create({ model, messages: [{ role: 'user', content }], max_tokens: 100 }).withResponse();

describe('router', () => {
  it('retries a 429 on the same model after the Retry-After it was given, then answers', async () => {
    const { c } = await client('    max_retries: 2\n');
    a.script([{ status: 429, retryAfter: 1 }, { reply: 'after the wait' }]);
    const { data, response } = await ask(c);
    expect(data.choices[0]!.message.content).toBe('after the wait');
    expect(response.headers.get('x-openclaw-provider')).toBe('openai');
    expect(a.chatRequests).toHaveLength(2);
    // Honoured: the retry came no sooner than Retry-After (1 s) after the refused request.
    expect(a.chatRequests[1]!.at - a.chatRequests[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(b.chatRequests).toHaveLength(0);
  });

  it('moves to the next model when the first one times out (no retry of a timeout)', async () => {
    const { c } = await client('    timeout: 400ms\n    max_retries: 2\n');
    a.script([{ hang: true }]);
    const { data, response } = await ask(c);
    expect(response.headers.get('x-openclaw-provider')).toBe('anthropic');
    expect(response.headers.get('x-openclaw-model')).toBe('claude-3-haiku');
    expect(data.choices[0]!.message.content).toBe('fake anthropic reply to: hi');
    expect(a.chatRequests).toHaveLength(1);
    expect(b.chatRequests).toHaveLength(1);
  });

  it('ends a stream cut after the first token with an explicit error, and does not fall back', async () => {
    const { c } = await client('    max_retries: 2\n');
    a.script([{ reply: 'one two three four five', disconnectAfterChunks: 2 }]);
    const stream = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toBe('one two three four five');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String(err.message)).toMatch(/broke after the answer had started/);
    expect(err.error?.code ?? err.code).toBe('stream_interrupted');
    expect(b.chatRequests).toHaveLength(0);
    expect(a.chatRequests).toHaveLength(1);
  });

  it('falls back on a stream that fails before its first token', async () => {
    const { c } = await client('    max_retries: 0\n');
    a.script([{ status: 503 }]);
    const stream = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true }).withResponse();
    expect(stream.response.headers.get('x-openclaw-provider')).toBe('anthropic');
    let text = '';
    for await (const chunk of stream.data) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('fake anthropic reply to: hi');
  });

  it('skips a provider+model in cooldown after repeated failures', async () => {
    const { d, c } = await client('    max_retries: 0\n    cooldown_after: 2\n    cooldown: 10m\n');
    a.setDefault({ status: 500 });
    for (let i = 0; i < 2; i++) {
      const { response } = await ask(c);
      expect(response.headers.get('x-openclaw-provider')).toBe('anthropic');
    }
    expect(a.chatRequests).toHaveLength(2);
    const { response } = await ask(c);
    expect(response.headers.get('x-openclaw-provider')).toBe('anthropic');
    // Cooling: not asked a third time.
    expect(a.chatRequests).toHaveLength(2);
    expect(b.chatRequests).toHaveLength(3);
    const status = (await (await fetch(`${d.url}/api/llm/status`)).json()) as { cooling: Array<{ provider: string; model: string }> };
    expect(status.cooling).toEqual([expect.objectContaining({ provider: 'openai', model: 'gpt-4o' })]);
    // Another model of the same provider is not affected.
    a.setDefault({});
    const other = await ask(c, 'gpt-4o-mini');
    expect(other.response.headers.get('x-openclaw-provider')).toBe('openai');
  });

  it('strict mode (per call) does not fall back', async () => {
    const { c } = await client('    max_retries: 0\n');
    a.script([{ status: 500 }]);
    const err = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-openclaw-strict': 'true' } }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/every model of the chain \[gpt-4o\] failed/);
    expect(b.chatRequests).toHaveLength(0);
  });

  it('keeps a provider under its request rate limit by moving on to another provider', async () => {
    const { c } = await client('    max_retries: 0\n', '      rate_limit: 2/min\n');
    const providers: string[] = [];
    for (let i = 0; i < 4; i++) providers.push((await ask(c)).response.headers.get('x-openclaw-provider')!);
    expect(providers).toEqual(['openai', 'openai', 'anthropic', 'anthropic']);
    expect(a.chatRequests).toHaveLength(2);
  });
});
