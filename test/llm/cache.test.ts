// The response cache through the daemon: exact hits (same normalised request), bypass per call,
// misses on any parameter change; the semantic cache (embeddings from the fake upstream) answers a
// paraphrase and never a near-miss question, and is keyed per system prompt.
import { describe, expect, it } from 'vitest';
import { cosine, fakeEmbedding } from '../fakes/index.js';
import { createKey, llmProject, provider, startDaemon, useFakeOpenAI } from './helpers.js';

const fake = useFakeOpenAI();

async function setup(cache: string) {
  const { configFile } = llmProject({ llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini', 'text-embedding-3-small'])}  defaults:\n    primary: gpt-4o-mini\n  cache:\n${cache}` });
  const d = await startDaemon(configFile);
  const { key } = await createKey(d);
  const ask = async (messages: Array<{ role: string; content: string }>, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
    const res = await fetch(`${d.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages, ...extra }),
    });
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    return { cache: res.headers.get('x-openclaw-cache'), text: body.choices[0]!.message.content, cost: Number(res.headers.get('x-openclaw-cost-usd')) };
  };
  return { d, ask };
}

const user = (content: string) => [{ role: 'user', content }];

describe('exact cache', () => {
  it('answers the same request from the store, bypassable per call, and misses on any change', async () => {
    const { ask } = await setup('    exact: { enabled: true, ttl: 1h }\n');
    const first = await ask(user('hello cache'), { temperature: 0 });
    expect(first.cache).toBe('miss');
    const second = await ask(user('hello cache'), { temperature: 0 });
    expect(second).toEqual({ cache: 'exact', text: first.text, cost: 0 });
    expect(fake.chatRequests).toHaveLength(1);

    expect((await ask(user('hello cache'), { temperature: 0 }, { 'x-openclaw-cache': 'bypass' })).cache).toBe('miss');
    expect((await ask(user('hello cache'), { temperature: 0.5 })).cache).toBe('miss');
    expect((await ask(user('hello cache!'), { temperature: 0 })).cache).toBe('miss');
    expect(fake.chatRequests).toHaveLength(4);
  });

  it('does not store failed answers', async () => {
    const { ask } = await setup('    exact: { enabled: true }\n');
    fake.script([{ status: 400, error: { message: 'bad' } }]);
    await ask(user('x')).catch(() => undefined);
    const again = await ask(user('x'));
    expect(again.cache).toBe('miss');
    expect(fake.chatRequests).toHaveLength(2);
  });
});

describe('semantic cache', () => {
  it('reuses an answer for a paraphrase, never for a near-miss question, and only under the same system prompt', async () => {
    const q1 = 'What is the capital of France?';
    const paraphrase = 'capital of France, what is it?';
    const nearMiss = 'What is the capital of Germany?';
    // The fake's embeddings: the paraphrase is the same bag of content words; the near miss shares half.
    expect(cosine(fakeEmbedding(q1), fakeEmbedding(paraphrase))).toBeGreaterThan(0.95);
    expect(cosine(fakeEmbedding(q1), fakeEmbedding(nearMiss))).toBeLessThan(0.9);

    const { ask } = await setup('    semantic: { enabled: true, embedding_model: text-embedding-3-small, threshold: 0.9 }\n');
    const sys = { role: 'system', content: 'You answer geography questions.' };
    const a1 = await ask([sys, { role: 'user', content: q1 }]);
    expect(a1.cache).toBe('miss');
    expect(a1.text).toBe(`fake openai reply to: ${q1}`);

    const a2 = await ask([sys, { role: 'user', content: paraphrase }]);
    expect(a2.cache).toBe('semantic');
    expect(a2.text).toBe(a1.text);

    const a3 = await ask([sys, { role: 'user', content: nearMiss }]);
    expect(a3.cache).toBe('miss');
    expect(a3.text).toBe(`fake openai reply to: ${nearMiss}`);

    const a4 = await ask([{ role: 'system', content: 'You answer in French.' }, { role: 'user', content: q1 }]);
    expect(a4.cache).toBe('miss');
    expect(fake.chatRequests).toHaveLength(3);
  });
});
