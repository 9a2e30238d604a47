// The fakes themselves: each dialect's shapes, the script queue, faults, keep-alive observation and
// the embedding geometry the semantic-cache tests rely on. Plain fetch, no adapter in between.
import { afterEach, describe, expect, it } from 'vitest';
import { cosine, fakeEmbedding, startFakeAnthropic, startFakeOllama, startFakeOpenAI, type FakeServer } from '../fakes/index.js';

const fakes: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});
async function track<T extends FakeServer>(p: Promise<T>): Promise<T> {
  const f = await p;
  fakes.push(f);
  return f;
}
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('fake OpenAI', () => {
  it('answers deterministically, follows the script in order, and logs requests', async () => {
    const f = await track(startFakeOpenAI());
    f.script([{ status: 429, retryAfter: 2 }, { reply: 'hi there', usage: { input: 11, output: 2, cached: 5 } }]);
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] };
    const r1 = await post(`${f.baseUrl}/chat/completions`, body);
    expect(r1.status).toBe(429);
    expect(r1.headers.get('retry-after')).toBe('2');
    expect(((await r1.json()) as any).error.type).toBe('rate_limit_error');
    const r2 = (await (await post(`${f.baseUrl}/chat/completions`, body)).json()) as any;
    expect(r2.choices[0].message.content).toBe('hi there');
    expect(r2.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 5 } });
    const r3 = (await (await post(`${f.baseUrl}/chat/completions`, body)).json()) as any;
    expect(r3.choices[0].message.content).toBe('fake openai reply to: hello');
    expect(f.requests).toHaveLength(3);
    expect(f.requests[0]!.body.model).toBe('gpt-4o');
    expect(f.pending()).toBe(0);
  });

  it('streams SSE with usage only when include_usage is set, then [DONE]', async () => {
    const f = await track(startFakeOpenAI());
    const text = await (await post(`${f.baseUrl}/chat/completions`, { model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'a b' }] })).text();
    const datas = text.split('\n\n').filter((s) => s.startsWith('data: ')).map((s) => s.slice(6));
    expect(datas.at(-1)).toBe('[DONE]');
    const chunks = datas.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('fake openai reply to: a b');
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
    const noUsage = await (await post(`${f.baseUrl}/chat/completions`, { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] })).text();
    expect(noUsage).not.toContain('"usage"');
  });

  it('cuts the connection mid-stream and reuses keep-alive connections', async () => {
    const f = await track(startFakeOpenAI());
    f.script([{ reply: 'one two three four', disconnectAfterChunks: 2 }]);
    const res = await post(`${f.baseUrl}/chat/completions`, { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] });
    await expect(res.text()).rejects.toThrow();
    for (let i = 0; i < 4; i++) await post(`${f.baseUrl}/chat/completions`, { model: 'gpt-4o', messages: [] }).then((r) => r.text());
    const ids = f.requests.map((r) => r.connectionId);
    // The cut connection is gone; the four later requests share fewer connections than requests.
    expect(ids.slice(1)).not.toContain(ids[0]);
    expect(new Set(ids.slice(1)).size).toBeLessThan(4);
  });

  it('embeds paraphrases close together and different questions apart', async () => {
    const f = await track(startFakeOpenAI());
    const r = (await (await post(`${f.baseUrl}/embeddings`, { model: 'text-embedding-3-small', input: ['What is the capital of France?', "What's the capital city of France", 'What is the capital of Germany?'] })).json()) as any;
    const [a, b, c] = r.data.map((d: any) => d.embedding as number[]);
    expect(cosine(a, b)).toBeGreaterThan(0.95);
    expect(cosine(a, c)).toBeLessThan(0.7);
    expect(fakeEmbedding('capital of France')).toEqual(a);
  });

  it('requires the API key when configured', async () => {
    const f = await track(startFakeOpenAI({ apiKey: 'sk-good' }));
    expect((await post(`${f.baseUrl}/chat/completions`, { model: 'm', messages: [] }, { authorization: 'Bearer sk-bad' })).status).toBe(401);
    expect((await post(`${f.baseUrl}/chat/completions`, { model: 'm', messages: [] }, { authorization: 'Bearer sk-good' })).status).toBe(200);
  });
});

describe('fake Anthropic', () => {
  it('streams named events with usage split across message_start and message_delta', async () => {
    const f = await track(startFakeAnthropic());
    f.script([{ reply: 'hello world', usage: { input: 20, output: 2, cached: 8 }, toolCalls: [{ name: 'get', arguments: { q: 1 } }] }]);
    const text = await (await post(`${f.baseUrl}/v1/messages`, { model: 'claude-3-5-sonnet-latest', max_tokens: 10, stream: true, system: 's', messages: [{ role: 'user', content: 'hi' }] })).text();
    const events = text.split('\n\n').filter(Boolean).map((s) => s.split('\n')[0]);
    expect(events[0]).toBe('event: message_start');
    expect(events).toContain('event: content_block_delta');
    expect(events.at(-1)).toBe('event: message_stop');
    expect(text).toContain('"cache_read_input_tokens":8');
    expect(text).toContain('"input_tokens":12');
    expect(text).toContain('input_json_delta');
    expect(text).toContain('"stop_reason":"tool_use"');
  });

  it('answers 529 overloaded and context-length errors in the Anthropic shape', async () => {
    const f = await track(startFakeAnthropic());
    f.script([{ status: 529 }, { contextLength: true }]);
    const r1 = await post(`${f.baseUrl}/v1/messages`, { model: 'm', max_tokens: 1, messages: [] });
    expect(r1.status).toBe(529);
    expect(((await r1.json()) as any).error.type).toBe('overloaded_error');
    const r2 = (await (await post(`${f.baseUrl}/v1/messages`, { model: 'm', max_tokens: 1, messages: [] })).json()) as any;
    expect(r2.error.message).toContain('prompt is too long');
  });
});

describe('fake Ollama', () => {
  it('streams NDJSON by default with usage on the done line, and embeds', async () => {
    const f = await track(startFakeOllama());
    const text = await (await post(`${f.baseUrl}/api/chat`, { model: 'llama3.1:8b', messages: [{ role: 'user', content: 'yo' }] })).text();
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'stop' });
    expect(lines.at(-1).eval_count).toBeGreaterThan(0);
    expect(lines.slice(0, -1).map((l) => l.message.content).join('')).toBe('fake ollama reply to: yo');
    const e = (await (await post(`${f.baseUrl}/api/embed`, { model: 'nomic-embed-text', input: 'hi' })).json()) as any;
    expect(e.embeddings).toHaveLength(1);
  });
});
