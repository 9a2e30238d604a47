// Pure parts without a network: the SSE and NDJSON parsers under arbitrary chunking, and the
// adapters' request / response / stream-event transforms on plain objects.
import { describe, expect, it } from 'vitest';
import { NdjsonParser, SseParser, type SseEvent } from '../../src/llm/http.js';
import { anthropicAdapter } from '../../src/llm/providers/anthropic.js';
import { openaiAdapter } from '../../src/llm/providers/openai.js';
import { ollamaAdapter } from '../../src/llm/providers/ollama.js';
import { ProviderError } from '../../src/llm/errors.js';
import type { ChatRequest, StreamChunk } from '../../src/llm/types.js';

function feed(parser: SseParser, text: string, sizes: number[]): SseEvent[] {
  const bytes = new TextEncoder().encode(text);
  const out: SseEvent[] = [];
  let pos = 0;
  let i = 0;
  while (pos < bytes.length) {
    const n = sizes[i++ % sizes.length]!;
    out.push(...parser.push(bytes.slice(pos, pos + n)));
    pos += n;
  }
  out.push(...parser.end());
  return out;
}

describe('SSE parser', () => {
  const stream =
    ': keep-alive comment\n\n' +
    'event: message_start\ndata: {"a":1}\n\n' +
    'data: first line\ndata: second line\n\n' +
    'data:no-space\r\n\r\n' +
    'id: 7\nevent: ping\ndata: {}\r\r' +
    'retry: 100\n\n' + // no data: not dispatched
    'data: {"emoji":"héllo 👋"}\n\n' +
    'data: [DONE]\n\n';
  const expected: SseEvent[] = [
    { event: 'message_start', data: '{"a":1}' },
    { data: 'first line\nsecond line' },
    { data: 'no-space' },
    { event: 'ping', data: '{}', id: '7' },
    { data: '{"emoji":"héllo 👋"}', id: '7' },
    { data: '[DONE]', id: '7' },
  ];

  it.each([[[1]], [[2, 3]], [[7]], [[1000]], [[5, 1, 13]]])('gives the same events for chunk sizes %j', (sizes) => {
    expect(feed(new SseParser(), stream, sizes)).toEqual(expected);
  });

  it('dispatches a last event without its blank line only at a clean end', () => {
    const p = new SseParser();
    expect(p.push('data: tail')).toEqual([]);
    expect(p.end()).toEqual([{ data: 'tail' }]);
  });
});

describe('NDJSON parser', () => {
  it('splits lines across chunks and skips blank lines', () => {
    const p = new NdjsonParser();
    expect(p.push('{"a":1}\n{"b"')).toEqual([{ a: 1 }]);
    expect(p.push(':2}\n\n{"c":3}')).toEqual([{ b: 2 }]);
    expect(p.end()).toEqual([{ c: 3 }]);
  });
});

const req: ChatRequest = {
  model: 'claude-3.5-sonnet',
  messages: [
    { role: 'system', content: 'one' },
    { role: 'user', content: 'q' },
    { role: 'assistant', content: 'let me check', toolCalls: [{ id: 't1', name: 'a', arguments: '{"x":1}' }, { id: 't2', name: 'b', arguments: '{}' }] },
    { role: 'tool', content: 'r1', toolCallId: 't1' },
    { role: 'tool', content: 'r2', toolCallId: 't2' },
    { role: 'system', content: 'two' },
  ],
  temperature: 1.7,
  stop: ['END'],
  toolChoice: 'required',
  tools: [{ name: 'a', parameters: { type: 'object' } }],
};

function run(parser: { fromStreamEvent(e: unknown): StreamChunk[] }, events: unknown[]): StreamChunk[] {
  return events.flatMap((e) => parser.fromStreamEvent(e));
}

describe('anthropic transforms', () => {
  it('splits out system, merges tool results into one user turn, maps tool choice and clamps temperature', () => {
    const w = anthropicAdapter.toWire(req, 'claude-3-5-sonnet-latest', false);
    expect(w.path).toBe('/v1/messages');
    expect(w.body).toMatchObject({
      model: 'claude-3-5-sonnet-latest',
      system: 'one\n\ntwo',
      max_tokens: 8192,
      temperature: 1,
      stop_sequences: ['END'],
      tool_choice: { type: 'any' },
      tools: [{ name: 'a', input_schema: { type: 'object' } }],
    });
    expect(w.body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'q' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'let me check' },
          { type: 'tool_use', id: 't1', name: 'a', input: { x: 1 } },
          { type: 'tool_use', id: 't2', name: 'b', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: 'r1' },
          { type: 'tool_result', tool_use_id: 't2', content: 'r2' },
        ],
      },
    ]);
  });

  it('normalises usage: input includes cache reads and writes, cached = reads', () => {
    const r = anthropicAdapter.fromWire(
      { model: 'm', content: [{ type: 'text', text: 'hi' }], stop_reason: 'max_tokens', usage: { input_tokens: 10, cache_read_input_tokens: 90, cache_creation_input_tokens: 5, output_tokens: 3 } },
      req,
    );
    expect(r).toMatchObject({ text: 'hi', finishReason: 'length', usage: { inputTokens: 105, cachedInputTokens: 90, outputTokens: 3 } });
  });

  it('turns stream events into text, tool-call deltas and a finish with stitched usage', () => {
    const p = anthropicAdapter.streamParser('m', req, 'anthropic');
    const ev = (event: string, data: unknown): SseEvent => ({ event, data: JSON.stringify(data) });
    const chunks = run(p, [
      ev('message_start', { type: 'message_start', message: { usage: { input_tokens: 12, cache_read_input_tokens: 8, output_tokens: 1 } } }),
      ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      ev('ping', { type: 'ping' }),
      ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }),
      ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
      ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'tu', name: 'f', input: {} } }),
      ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } }),
      ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '2}' } }),
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } }),
      ev('message_stop', { type: 'message_stop' }),
    ]);
    expect(chunks).toEqual([
      { type: 'text', text: 'Hi' },
      { type: 'tool_call', index: 0, id: 'tu', name: 'f', argumentsDelta: '' },
      { type: 'tool_call', index: 0, argumentsDelta: '{"a":' },
      { type: 'tool_call', index: 0, argumentsDelta: '2}' },
      { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: 20, cachedInputTokens: 8, outputTokens: 9 } },
    ]);
    expect(p.done).toBe(true);
  });

  it('maps an error event to a ProviderError of the right kind', () => {
    const p = anthropicAdapter.streamParser('m', req, 'claude');
    expect(() => p.fromStreamEvent({ event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }) })).toThrow(
      expect.objectContaining({ info: expect.objectContaining({ kind: 'rate_limited', provider: 'claude' }) }),
    );
  });
});

describe('openai transforms', () => {
  it('builds the chat body with tools, tool choice, stop and streaming usage', () => {
    const w = openaiAdapter().toWire({ ...req, model: 'gpt-4o', toolChoice: { name: 'a' }, user: 'u1' }, 'gpt-4o', true);
    expect(w.path).toBe('/chat/completions');
    expect(w.body).toMatchObject({
      model: 'gpt-4o',
      temperature: 1.7,
      stop: ['END'],
      user: 'u1',
      tool_choice: { type: 'function', function: { name: 'a' } },
      stream: true,
      stream_options: { include_usage: true },
    });
    expect((w.body.messages as unknown[])[2]).toEqual({
      role: 'assistant',
      content: 'let me check',
      tool_calls: [
        { id: 't1', type: 'function', function: { name: 'a', arguments: '{"x":1}' } },
        { id: 't2', type: 'function', function: { name: 'b', arguments: '{}' } },
      ],
    });
  });

  it('leaves sampling parameters out for reasoning models', () => {
    const w = openaiAdapter().toWire({ model: 'o3', messages: [{ role: 'user', content: 'x' }], temperature: 0.3, topP: 0.9, maxTokens: 10 }, 'o3', false);
    expect(w.body).toEqual({ model: 'o3', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 10 });
  });

  it('streams usage from the final chunk and finishes at [DONE]; in-band errors throw', () => {
    const p = openaiAdapter().streamParser('gpt-4o', req, 'openai');
    const d = (o: unknown): SseEvent => ({ data: typeof o === 'string' ? o : JSON.stringify(o) });
    const chunks = run(p, [
      d({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] }),
      d({ choices: [{ index: 0, delta: { content: 'Hi' } }] }),
      d({ choices: [{ index: 0, delta: {}, finish_reason: 'length' }] }),
      d({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 2 } } }),
      d('[DONE]'),
    ]);
    expect(chunks).toEqual([
      { type: 'text', text: 'Hi' },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 5, outputTokens: 1, cachedInputTokens: 2 } },
    ]);
    const p2 = openaiAdapter().streamParser('gpt-4o', req, 'openai');
    expect(() => p2.fromStreamEvent(d({ error: { message: 'boom', type: 'server_error' } }))).toThrow(ProviderError);
  });
});

describe('ollama transforms', () => {
  it('puts sampling options under options and JSON mode in format', () => {
    const w = ollamaAdapter.toWire({ model: 'llama-3.1-8b', messages: [{ role: 'user', content: 'x' }], temperature: 0, maxTokens: 9, stop: ['\n'], json: true }, 'llama3.1:8b', true);
    expect(w).toEqual({
      path: '/api/chat',
      body: { model: 'llama3.1:8b', messages: [{ role: 'user', content: 'x' }], stream: true, options: { temperature: 0, num_predict: 9, stop: ['\n'] }, format: 'json' },
    });
  });

  it('reads usage from the done line', () => {
    const p = ollamaAdapter.streamParser('m', req, 'ollama');
    const chunks = run(p, [{ message: { content: 'a' }, done: false }, { message: { content: '' }, done: true, done_reason: 'length', prompt_eval_count: 4, eval_count: 1 }]);
    expect(chunks).toEqual([
      { type: 'text', text: 'a' },
      { type: 'finish', finishReason: 'length', usage: { inputTokens: 4, outputTokens: 1, cachedInputTokens: 0 } },
    ]);
  });
});
