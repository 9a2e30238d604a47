// The OpenAI-compatible /v1 API through a real daemon to the fake upstream, driven by the official
// `openai` npm client, unchanged: non-streaming, streaming (with the usage chunk), models,
// embeddings, virtual keys (401, revoked, allowed models) and OpenAI-shaped budget errors.
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { waitFor } from '../helpers/project.js';
import { createKey, llmProject, provider, startDaemon, useFakeOpenAI } from './helpers.js';

const fake = useFakeOpenAI();

const llm = (extra = '') => `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'])}  defaults:\n    primary: gpt-4o-mini\n${extra}`;

describe('/v1 with the official openai client', () => {
  it('answers non-streaming and streaming completions through the daemon, with cost headers and a usage chunk', async () => {
    const { configFile } = llmProject({ llm: llm() });
    const d = await startDaemon(configFile);
    const { key } = await createKey(d, { name: 'sdk' });
    const client = new OpenAI({ apiKey: key, baseURL: `${d.url}/v1`, maxRetries: 0 });

    const { data: res, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 50 })
      .withResponse();
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]!.message.content).toBe('fake openai reply to: hello there');
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-openclaw-provider')).toBe('openai');
    expect(response.headers.get('x-openclaw-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-openclaw-cache')).toBe('miss');
    expect(Number(response.headers.get('x-openclaw-tokens-input'))).toBe(res.usage!.prompt_tokens);
    expect(Number(response.headers.get('x-openclaw-cost-usd'))).toBeGreaterThan(0);
    // The upstream got the provider's key, not the virtual key.
    expect(fake.chatRequests.at(-1)!.headers.authorization).toBe('Bearer sk-test');

    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream me please' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('fake openai reply to: stream me please');
    expect(finish).toBe('stop');
    expect(usage!.completion_tokens).toBeGreaterThan(0);

    const models = await client.models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);

    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['capital of France', 'capital of Germany'] });
    expect(emb.data).toHaveLength(2);
    expect(emb.data[0]!.embedding.length).toBeGreaterThan(0);

    // Every request is in the usage table, attributed to the key.
    const usageRes = (await (await fetch(`${d.url}/api/llm/usage?by=key&since=1h`)).json()) as { rows: Array<{ group: string; requests: number; costUsd: number }> };
    expect(usageRes.rows).toHaveLength(1);
    expect(usageRes.rows[0]!.requests).toBe(3);
  });

  it('audits an answered call once, as llm.call, and a refused one as api.mutation', async () => {
    const { configFile } = llmProject({ llm: llm() });
    const d = await startDaemon(configFile);
    const { key, id } = await createKey(d, { name: 'audited' });
    const client = new OpenAI({ apiKey: key, baseURL: `${d.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    const bad = new OpenAI({ apiKey: 'ock_nope', baseURL: `${d.url}/v1`, maxRetries: 0 });
    expect(await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)).toBeInstanceOf(OpenAI.AuthenticationError);

    const { records } = (await (await fetch(`${d.url}/api/audit?limit=1000`)).json()) as { records: Array<{ actor: string; action: string; target: string | null; detail: Record<string, unknown> }> };
    expect(records.filter((r) => r.action === 'llm.call').map((r) => [r.actor, r.target])).toEqual(
      expect.arrayContaining([[`key:${id}`, 'gpt-4o-mini'], [`key:${id}`, 'text-embedding-3-small']]),
    );
    const v1 = records.filter((r) => r.action === 'api.mutation' && String(r.target).startsWith('/v1/'));
    expect(v1.map((r) => r.detail)).toEqual([{ method: 'POST', route: '/v1/chat/completions', status: 401 }]);
    // Other mutations are still recorded (creating the key).
    expect(records.some((r) => r.action === 'api.mutation' && r.target === '/api/llm/keys')).toBe(true);
  });

  it('refuses a missing, wrong or revoked key with 401 and a model outside the key with 403', async () => {
    const { configFile } = llmProject({ llm: llm() });
    const d = await startDaemon(configFile);
    const { key, id } = await createKey(d, { name: 'limited', models: ['gpt-4o-mini'] });

    const bad = new OpenAI({ apiKey: 'ock_nope', baseURL: `${d.url}/v1`, maxRetries: 0 });
    const e1 = await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(e1).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(e1.code).toBe('invalid_api_key');

    const client = new OpenAI({ apiKey: key, baseURL: `${d.url}/v1`, maxRetries: 0 });
    const e2 = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(e2).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(e2.code).toBe('model_not_allowed');
    expect(e2.param).toBe('model');

    const e3 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }).catch((e) => e);
    expect(e3).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e3.param).toBe('messages');

    expect((await fetch(`${d.url}/api/llm/keys/${id}`, { method: 'DELETE' })).status).toBe(200);
    const e4 = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(e4).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(e4.message).toMatch(/revoked/);
    expect(fake.chatRequests).toHaveLength(0);
  });

  it('gives a 429 budget_exceeded error object once the key budget is spent, streaming or not', async () => {
    // gpt-4o: $2.5 in / $10 out per million. max_tokens 1000 → up to ~$0.01 per call; a $0.025 budget allows two.
    const { configFile } = llmProject({ llm: llm() });
    const d = await startDaemon(configFile);
    const { key } = await createKey(d, { name: 'small', budget_daily_usd: 0.025 });
    fake.setDefault({ usage: { input: 20, output: 1000 } });
    const client = new OpenAI({ apiKey: key, baseURL: `${d.url}/v1` });
    const ask = () => client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'spend' }], max_tokens: 1000 });
    await ask();
    await ask();
    const err = await ask().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.code).toBe('budget_exceeded');
    expect(err.type).toBe('insufficient_quota');
    expect(err.message).toMatch(/daily budget of key .* remaining \$0\.00\d+.*resets at \d{4}-\d\d-\d\dT/);
    // Not retried by the client (x-should-retry: false): only the two paid calls reached upstream.
    expect(fake.chatRequests).toHaveLength(2);

    const err2 = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'spend' }], max_tokens: 1000, stream: true }).catch((e) => e);
    expect(err2).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err2.code).toBe('budget_exceeded');
    const { id } = (await (await fetch(`${d.url}/api/llm/keys`)).json() as { keys: Array<{ id: string }> }).keys[0]!;
    // Refreshed after each call, asynchronously.
    const gauge = new RegExp(`openclaw_llm_budget_remaining_usd\\{scope="key:${id}",window="daily"\\} 0\\.00\\d+`);
    await waitFor('the key budget gauge', async () => gauge.test(await d.metrics.metrics()));
  });
});
