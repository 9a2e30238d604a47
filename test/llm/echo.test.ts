// The built-in echo provider (`llm.providers.echo: {}`): /v1 works offline with the official openai
// client, at $0; and /v1 refuses a model that no provider declares, naming the declared ones.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { createKey, dropSchemas, llmProject, startDaemon, stopDaemons } from './helpers.js';

afterEach(stopDaemons);
afterAll(dropSchemas);

describe('llm.providers.echo', () => {
  it('answers /v1 chat completions with the last user message, streamed or not, at no cost', async () => {
    const { configFile } = llmProject({ llm: '  providers:\n    echo: {}\n' });
    const d = await startDaemon(configFile);
    const { key } = await createKey(d, { name: 'try' });
    const client = new OpenAI({ apiKey: key, baseURL: `${d.url}/v1`, maxRetries: 0 });

    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['echo']);

    const { data: res, response } = await client.chat.completions
      .create({ model: 'echo', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello  there, echo' }] })
      .withResponse();
    expect(res.choices[0]!.message.content).toBe('hello  there, echo');
    expect(res.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-openclaw-provider')).toBe('echo');
    expect(Number(response.headers.get('x-openclaw-cost-usd'))).toBe(0);

    const stream = await client.chat.completions.create({ model: 'echo', stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    const pieces: string[] = [];
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) pieces.push(chunk.choices[0].delta.content);
    expect(pieces).toEqual(['one ', 'two ', 'three']);

    const json = await client.chat.completions.create({ model: 'echo', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'not json' }] });
    expect(JSON.parse(json.choices[0]!.message.content!)).toEqual({ echo: 'not json' });
  });

  it('/v1 refuses a model no provider declares, naming the declared ones (even with a single provider)', async () => {
    const { configFile } = llmProject({ llm: '  providers:\n    echo: { models: [echo, echo-large] }\n' });
    const d = await startDaemon(configFile);
    const { key } = await createKey(d, { name: 'try' });
    const res = await fetch(`${d.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { message: string; param: string; code: string } };
    expect(body.error).toMatchObject({ param: 'model', code: 'model_not_found' });
    expect(body.error.message).toContain("model 'gpt-4o' is not declared by any provider in llm.providers (declared: echo, echo-large)");
    // The <provider>/<model> form still reaches a provider explicitly.
    const explicit = await new OpenAI({ apiKey: key, baseURL: `${d.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'echo/echo-large', messages: [{ role: 'user', content: 'x' }] }).catch((e: Error) => e);
    expect(explicit).not.toBeInstanceOf(Error);
  });
});
