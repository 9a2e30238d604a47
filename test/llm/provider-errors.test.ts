// Every fault the fakes inject, through each adapter, comes out as the right ProviderErrorKind:
// HTTP statuses, Retry-After, context length, timeouts (whole call, first byte, idle), refused and
// reset connections, mid-stream cuts and in-band stream errors, caller aborts.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createProvider, type HttpProvider } from '../../src/llm/providers/index.js';
import { LlmAbortedError, parseRetryAfter, ProviderError, errorFromResponse } from '../../src/llm/errors.js';
import type { ProviderConfigInput } from '../../src/llm/providers/config.js';
import type { ChatRequest, ProviderErrorKind, StreamChunk } from '../../src/llm/types.js';
import { startFakeAnthropic, startFakeOllama, startFakeOpenAI, type FakeServer, type FakeStep } from '../fakes/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Kind = 'openai' | 'anthropic' | 'ollama';
const MODEL: Record<Kind, string> = { openai: 'gpt-4o', anthropic: 'claude-3.5-sonnet', ollama: 'llama-3.1-8b' };

async function setup(kind: Kind, cfg: Partial<ProviderConfigInput> = {}): Promise<{ fake: FakeServer; provider: HttpProvider; req: ChatRequest }> {
  const fake = kind === 'anthropic' ? await startFakeAnthropic() : kind === 'ollama' ? await startFakeOllama() : await startFakeOpenAI();
  const provider = createProvider(kind, { base_url: fake.baseUrl, ...cfg });
  cleanups.push(() => fake.close(), () => provider.close());
  return { fake, provider, req: { model: MODEL[kind], messages: [{ role: 'user', content: 'hello' }] } };
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProviderError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** Consume a stream; return the chunks delivered before it failed and the error. */
async function streamFailure(it: AsyncIterable<StreamChunk>): Promise<{ chunks: StreamChunk[]; error: unknown }> {
  const chunks: StreamChunk[] = [];
  try {
    for await (const c of it) chunks.push(c);
  } catch (error) {
    return { chunks, error };
  }
  throw new Error(`expected the stream to fail; got ${JSON.stringify(chunks)}`);
}

const kinds: Kind[] = ['openai', 'anthropic', 'ollama'];

describe.each(kinds)('%s: HTTP error statuses', (kind) => {
  const cases: Array<[FakeStep, ProviderErrorKind]> = [
    [{ status: 429 }, 'rate_limited'],
    [{ status: 500 }, 'server'],
    [{ status: 503 }, 'server'],
    [{ status: 529 }, 'server'],
    [{ status: 401 }, 'auth'],
    [{ status: 403 }, 'auth'],
    [{ status: 400 }, 'bad_request'],
    [{ status: 404 }, 'bad_request'],
    [{ status: 422 }, 'bad_request'],
    [{ contextLength: true }, 'context_length'],
  ];
  it.each(cases)('%j → %s, complete and stream', async (step, expected) => {
    const { fake, provider, req } = await setup(kind);
    fake.script([step, step]);
    const e1 = await failure(provider.complete(req));
    expect(e1.kind).toBe(expected);
    expect(e1.info.provider).toBe(kind);
    expect(e1.info.model).toBeTruthy();
    if (step.status) expect(e1.info.status).toBe(step.status);
    const { chunks, error } = await streamFailure(provider.stream(req));
    expect(chunks).toHaveLength(0);
    expect((error as ProviderError).kind).toBe(expected);
    expect(e1.retryable).toBe(['rate_limited', 'server'].includes(expected));
  });

  it('429 with Retry-After in seconds and as an HTTP date → retryAfterMs', async () => {
    const { fake, provider, req } = await setup(kind);
    fake.script([{ status: 429, retryAfter: 3 }, { status: 429, retryAfter: new Date(Date.now() + 60_000).toUTCString() }, { status: 503, retryAfter: 1 }]);
    expect((await failure(provider.complete(req))).info.retryAfterMs).toBe(3000);
    const dated = (await failure(provider.complete(req))).info.retryAfterMs!;
    expect(dated).toBeGreaterThan(50_000);
    expect(dated).toBeLessThanOrEqual(60_000);
    expect((await failure(provider.complete(req))).info).toMatchObject({ kind: 'server', retryAfterMs: 1000 });
  });
});

describe.each(kinds)('%s: timeouts', (kind) => {
  it('a hung non-streaming call times out (whole-call timeout)', async () => {
    const { fake, provider, req } = await setup(kind, { timeout: { total: '300ms' } });
    fake.script([{ hang: true }]);
    const e = await failure(provider.complete(req));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/no complete response within 300ms/);
  });

  it('a per-call timeoutMs overrides the configured one', async () => {
    const { fake, provider, req } = await setup(kind, { timeout: '1h' });
    fake.script([{ hang: true }]);
    expect((await failure(provider.complete(req, { timeoutMs: 200 }))).kind).toBe('timeout');
  });

  it('a slow first token hits the first-byte timeout before any output', async () => {
    const { fake, provider, req } = await setup(kind, { timeout: { first_byte: '300ms', idle: '1h' } });
    fake.script([{ firstTokenMs: 30_000 }]);
    const { chunks, error } = await streamFailure(provider.stream(req));
    expect(chunks).toHaveLength(0);
    expect((error as ProviderError).kind).toBe('timeout');
    expect((error as ProviderError).message).toMatch(/first-byte timeout/);
  });

  it('a stall after the first chunks hits the idle timeout and is a stream interruption', async () => {
    const { fake, provider, req } = await setup(kind, { timeout: { first_byte: '1h', idle: '300ms' } });
    fake.script([{ reply: 'one two three four', hangAfterChunks: 2 }]);
    const { chunks, error } = await streamFailure(provider.stream(req));
    expect(chunks.map((c) => (c.type === 'text' ? c.text : '')).join('')).toBe('one two');
    expect((error as ProviderError).kind).toBe('stream_interrupted');
    expect((error as ProviderError).message).toMatch(/idle timeout/);
  });
});

describe.each(kinds)('%s: connections and streams', (kind) => {
  it('a mid-stream disconnect after the first chunks → stream_interrupted, chunks delivered first', async () => {
    const { fake, provider, req } = await setup(kind);
    fake.script([{ reply: 'alpha beta gamma delta', disconnectAfterChunks: 2 }]);
    const { chunks, error } = await streamFailure(provider.stream(req));
    expect(chunks).toEqual([
      { type: 'text', text: 'alpha' },
      { type: 'text', text: ' beta' },
    ]);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('stream_interrupted');
    expect((error as ProviderError).retryable).toBe(false);
  });

  it('a cut before any output is a retryable connection error', async () => {
    const { fake, provider, req } = await setup(kind);
    fake.script([{ disconnectAfterChunks: 0 }]);
    const { chunks, error } = await streamFailure(provider.stream(req));
    expect(chunks).toHaveLength(0);
    expect((error as ProviderError).kind).toBe('connection');
    expect((error as ProviderError).retryable).toBe(true);
  });

  it('an in-band error event: before output a server error, after output an interruption', async () => {
    const { fake, provider, req } = await setup(kind);
    fake.script([{ streamErrorAfterChunks: 0 }, { reply: 'a b c', streamErrorAfterChunks: 1 }]);
    const before = await streamFailure(provider.stream(req));
    expect(before.chunks).toHaveLength(0);
    expect((before.error as ProviderError).kind).toBe('server');
    const after = await streamFailure(provider.stream(req));
    expect(after.chunks).toEqual([{ type: 'text', text: 'a' }]);
    expect((after.error as ProviderError).kind).toBe('stream_interrupted');
  });

  it('a reset connection → connection', async () => {
    const { fake, provider, req } = await setup(kind);
    fake.script([{ destroy: true }, { destroy: true }]);
    expect((await failure(provider.complete(req))).kind).toBe('connection');
    expect((await streamFailure(provider.stream(req))).error).toMatchObject({ info: { kind: 'connection' } });
    // The provider recovers on a fresh connection.
    expect((await provider.complete(req)).text).toContain('hello');
  });

  it('a refused connection → connection', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const provider = createProvider(kind, { base_url: `http://127.0.0.1:${port}${kind === 'openai' ? '/v1' : ''}` });
    cleanups.push(() => provider.close());
    const e = await failure(provider.complete({ model: MODEL[kind], messages: [{ role: 'user', content: 'x' }] }));
    expect(e.kind).toBe('connection');
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('a caller abort is not a provider error', async () => {
    const { fake, provider, req } = await setup(kind);
    fake.script([{ hang: true }, { reply: 'x y z', hangAfterChunks: 1 }]);
    const ac = new AbortController();
    const p = provider.complete(req, { signal: ac.signal });
    await fake.waitForRequests(1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(LlmAbortedError);
    const ac2 = new AbortController();
    const chunks: StreamChunk[] = [];
    const run = (async () => {
      for await (const c of provider.stream(req, { signal: ac2.signal })) {
        chunks.push(c);
        ac2.abort();
      }
    })();
    await expect(run).rejects.toBeInstanceOf(LlmAbortedError);
    expect(chunks).toHaveLength(1);
  });
});

describe('error details', () => {
  it('parses Retry-After forms and ignores garbage', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter({ 'retry-after': '2' }, now)).toBe(2000);
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500);
    expect(parseRetryAfter({ 'retry-after-ms': '150', 'retry-after': '9' }, now)).toBe(150);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, now)).toBe(30_000);
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 00:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
    // OpenAI's rate-limit headers: the reset of the exhausted limit.
    expect(parseRetryAfter({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1m30s', 'x-ratelimit-remaining-tokens': '500', 'x-ratelimit-reset-tokens': '20ms' }, now)).toBe(90_000);
    expect(parseRetryAfter({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '250ms' }, now)).toBe(250);
    expect(parseRetryAfter({ 'x-ratelimit-remaining-tokens': '10', 'x-ratelimit-reset-tokens': '250ms' }, now)).toBeUndefined();
  });

  it('recognises context-length errors by code and by message', () => {
    const byCode = errorFromResponse('p', 'm', 400, {}, JSON.stringify({ error: { message: 'too big', code: 'context_length_exceeded' } }));
    expect(byCode.kind).toBe('context_length');
    const vllm = errorFromResponse('p', 'm', 400, {}, JSON.stringify({ object: 'error', message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens" }));
    expect(vllm.kind).toBe('context_length');
    const other = errorFromResponse('p', 'm', 400, {}, JSON.stringify({ error: { message: 'temperature must be <= 2' } }));
    expect(other.kind).toBe('bad_request');
    expect(other.message).toMatch(/HTTP 400.*temperature/);
    const auth = errorFromResponse('openai', 'gpt-4o', 401, {}, '{"error":{"message":"bad key"}}');
    expect(auth.message).toMatch(/llm\.providers\.openai\.api_key/);
  });
});
