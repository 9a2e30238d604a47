// Each adapter against its fake over real HTTP: complete, stream, tools, JSON mode, embeddings, and
// keep-alive reuse observed at the fake.
import { afterEach, describe, expect, it } from 'vitest';
import { createProvider, type HttpProvider } from '../../src/llm/providers/index.js';
import type { ChatRequest, StreamChunk } from '../../src/llm/types.js';
import { cosine, startFakeAnthropic, startFakeOllama, startFakeOpenAI, type FakeServer } from '../fakes/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Kind = 'openai' | 'anthropic' | 'ollama' | 'openai-compatible';

async function setup(kind: Kind, opts: { apiKey?: string } = {}): Promise<{ fake: FakeServer; provider: HttpProvider; model: string }> {
  const fake = kind === 'anthropic' ? await startFakeAnthropic(opts) : kind === 'ollama' ? await startFakeOllama(opts) : await startFakeOpenAI(opts);
  const provider = createProvider(kind === 'openai-compatible' ? 'vllm' : kind, {
    ...(kind === 'openai-compatible' ? { type: 'openai-compatible' } : {}),
    base_url: fake.baseUrl,
    ...(opts.apiKey ? { api_key: opts.apiKey } : {}),
  });
  cleanups.push(() => fake.close(), () => provider.close());
  const model = kind === 'anthropic' ? 'claude-3.5-sonnet' : kind === 'ollama' ? 'llama-3.1-8b' : kind === 'openai' ? 'gpt-4o-mini' : 'qwen2.5-7b';
  return { fake, provider, model };
}

async function collect(it: AsyncIterable<StreamChunk>): Promise<StreamChunk[]> {
  const out: StreamChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const textOf = (chunks: StreamChunk[]) => chunks.map((c) => (c.type === 'text' ? c.text : '')).join('');

const kinds: Kind[] = ['openai', 'anthropic', 'ollama', 'openai-compatible'];

describe.each(kinds)('%s adapter against its fake', (kind) => {
  it('completes with text, usage and the wire model id, sending auth', async () => {
    const { fake, provider, model } = await setup(kind, { apiKey: 'k-123' });
    fake.script([{ reply: 'Paris.', usage: { input: 30, output: 2, cached: 10 } }]);
    const res = await provider.complete({ model, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'capital of France?' }], maxTokens: 50, temperature: 0.2 });
    expect(res.text).toBe('Paris.');
    expect(res.provider).toBe(kind === 'openai-compatible' ? 'vllm' : kind);
    expect(res.finishReason).toBe('stop');
    expect(res.usage.inputTokens).toBe(30);
    expect(res.usage.outputTokens).toBe(2);
    // Ollama does not report cached tokens.
    expect(res.usage.cachedInputTokens).toBe(kind === 'ollama' ? 0 : 10);
    const sent = fake.chatRequests[0]!;
    const wire = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-sonnet-latest', ollama: 'llama3.1:8b', 'openai-compatible': 'qwen2.5-7b' }[kind];
    expect(sent.body.model).toBe(wire);
    if (kind === 'anthropic') {
      expect(sent.headers['x-api-key']).toBe('k-123');
      expect(sent.headers['anthropic-version']).toBe('2023-06-01');
      expect(sent.body.system).toBe('be brief');
      expect(sent.body.max_tokens).toBe(50);
      expect(sent.body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'capital of France?' }] }]);
    } else {
      expect(sent.headers.authorization).toBe('Bearer k-123');
    }
    if (kind === 'openai') expect(sent.body.max_completion_tokens).toBe(50);
    if (kind === 'openai-compatible') expect(sent.body.max_tokens).toBe(50);
    if (kind === 'ollama') expect(sent.body).toMatchObject({ stream: false, options: { num_predict: 50, temperature: 0.2 } });
  });

  it('streams text chunks in order and ends with a finish chunk carrying usage', async () => {
    const { fake, provider, model } = await setup(kind);
    fake.script([{ chunks: ['Hel', 'lo', ' world'], usage: { input: 7, output: 3 }, keepAliveComments: true, chunkDelayMs: 5 }]);
    const chunks = await collect(provider.stream({ model, messages: [{ role: 'user', content: 'hi' }] }));
    expect(textOf(chunks)).toBe('Hello world');
    expect(chunks.filter((c) => c.type === 'text')).toHaveLength(3);
    const last = chunks.at(-1)!;
    expect(last).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { inputTokens: 7, outputTokens: 3 } });
    if (kind === 'openai' || kind === 'openai-compatible') expect(fake.chatRequests[0]!.body.stream_options).toEqual({ include_usage: true });
  });

  it('passes tools and returns tool calls, complete and streamed', async () => {
    const { fake, provider, model } = await setup(kind);
    const req: ChatRequest = {
      model,
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [{ name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
      toolChoice: 'auto',
    };
    fake.script([{ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' }, id: 'call_1' }] }, { toolCalls: [{ name: 'get_weather', arguments: { city: 'Rome' }, id: 'call_2' }] }]);
    const res = await provider.complete(req);
    expect(res.finishReason).toBe('tool_calls');
    expect(res.toolCalls).toHaveLength(1);
    expect(res.toolCalls[0]!.name).toBe('get_weather');
    expect(JSON.parse(res.toolCalls[0]!.arguments)).toEqual({ city: 'Paris' });
    const sentTools = fake.chatRequests[0]!.body.tools;
    if (kind === 'anthropic') expect(sentTools[0]).toMatchObject({ name: 'get_weather', input_schema: { type: 'object' } });
    else expect(sentTools[0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });

    const chunks = await collect(provider.stream(req));
    const calls = chunks.filter((c): c is Extract<StreamChunk, { type: 'tool_call' }> => c.type === 'tool_call');
    expect(calls[0]!.name).toBe('get_weather');
    expect(JSON.parse(calls.map((c) => c.argumentsDelta).join(''))).toEqual({ city: 'Rome' });
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool_calls' });

    // The tool result goes back in the provider's shape.
    fake.script([{ reply: 'It is sunny.' }]);
    const follow = await provider.complete({
      ...req,
      messages: [...req.messages, { role: 'assistant', content: '', toolCalls: res.toolCalls }, { role: 'tool', content: '{"sky":"clear"}', toolCallId: res.toolCalls[0]!.id, name: 'get_weather' }],
    });
    expect(follow.text).toBe('It is sunny.');
    const sent = fake.chatRequests.at(-1)!.body.messages;
    if (kind === 'anthropic') {
      expect(sent[1]).toMatchObject({ role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] });
      expect(sent[2]).toMatchObject({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '{"sky":"clear"}' }] });
    } else if (kind === 'ollama') {
      expect(sent[1]).toMatchObject({ role: 'assistant', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] });
      expect(sent[2]).toMatchObject({ role: 'tool', content: '{"sky":"clear"}' });
    } else {
      expect(sent[1]).toMatchObject({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function' }] });
      expect(sent[2]).toMatchObject({ role: 'tool', tool_call_id: 'call_1' });
    }
  });

  it('asks for JSON in the provider’s way and gets parseable JSON back', async () => {
    const { fake, provider, model } = await setup(kind);
    fake.script([{ json: { city: 'Paris', population: 2102650 } }]);
    const res = await provider.complete({ model, messages: [{ role: 'user', content: 'city facts' }], json: true });
    expect(JSON.parse(res.text)).toEqual({ city: 'Paris', population: 2102650 });
    const body = fake.chatRequests[0]!.body;
    if (kind === 'openai' || kind === 'openai-compatible') {
      expect(body.response_format).toEqual({ type: 'json_object' });
      // JSON mode needs the word JSON in the messages: an instruction is added.
      expect(JSON.stringify(body.messages)).toMatch(/JSON/);
    } else if (kind === 'ollama') expect(body.format).toBe('json');
    else expect(body.system).toMatch(/JSON object/);
  });

  it('reuses keep-alive connections for sequential calls, streamed and not', async () => {
    const { fake, provider, model } = await setup(kind);
    for (let i = 0; i < 3; i++) {
      await provider.complete({ model, messages: [{ role: 'user', content: `q${i}` }] });
      await collect(provider.stream({ model, messages: [{ role: 'user', content: `s${i}` }] }));
    }
    const ids = new Set(fake.chatRequests.map((r) => r.connectionId));
    expect(fake.chatRequests).toHaveLength(6);
    // undici may dispatch the next request a tick before the finished socket is free and open a
    // second one; after that the two are reused, never one connection per call.
    expect(ids.size).toBeLessThanOrEqual(2);
    expect(fake.connections).toBeLessThanOrEqual(2);
  });
});

describe('embeddings', () => {
  it.each(['openai', 'ollama'] as const)('%s returns one vector per input, in order, with usage', async (kind) => {
    const { fake, provider } = await setup(kind);
    const model = kind === 'openai' ? 'text-embedding-3-small' : 'nomic-embed-text';
    const res = await provider.embed({ model, input: ['What is the capital of France?', 'capital of france', 'What is the capital of Germany?'] });
    expect(res.vectors).toHaveLength(3);
    expect(res.usage.inputTokens).toBeGreaterThan(0);
    expect(cosine(res.vectors[0]!, res.vectors[1]!)).toBeGreaterThan(0.95);
    expect(cosine(res.vectors[0]!, res.vectors[2]!)).toBeLessThan(0.7);
    expect(fake.requests[0]!.path).toBe(kind === 'openai' ? '/v1/embeddings' : '/api/embed');
  });

  it('anthropic says it has no embeddings endpoint', async () => {
    const { provider } = await setup('anthropic');
    await expect(provider.embed({ model: 'claude-3.5-sonnet', input: ['x'] })).rejects.toMatchObject({ info: { kind: 'bad_request' } });
  });
});

describe('usage when the provider reports none', () => {
  it('is counted locally and marked estimated', async () => {
    const { fake, provider } = await setup('openai');
    fake.script([{ reply: 'hello there', noUsage: true }, { reply: 'streamed reply', noUsage: true }]);
    const res = await provider.complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] });
    expect(res.usage).toMatchObject({ estimated: true, outputTokens: 2 });
    expect(res.usage.inputTokens).toBeGreaterThan(3);
    const chunks = await collect(provider.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }));
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', usage: { estimated: true } });
  });
});
