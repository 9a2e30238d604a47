// The fast path (src/api/fast-path.ts) over real loopback HTTP: the requests it takes never reach
// Fastify's hooks, and every answer — success, refusal, bad JSON, empty or poisoned body — is the
// one the Fastify route gives for the same request (redacted, refusals audited once); requests it
// must not take (a browser's, a query string, a body over the limit) go through Fastify.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { defineFastRoute, type AnsweredRequest } from '../../src/contracts/route.js';
import type { ControlPlane } from '../../src/daemon/control.js';

let api: ApiServer;
let base: URL;
/** The `x-case` header of every request Fastify's onRequest hook saw. */
const viaFastify: string[] = [];
const audited: Array<{ route: string | undefined; status: number }> = [];

beforeAll(async () => {
  api = createApiServer({} as ControlPlane, {
    host: '127.0.0.1',
    port: 0,
    redact: (body) => body.replaceAll('s3cret', '[redacted]'),
    onResponse: (req: AnsweredRequest, reply) => void audited.push({ route: req.routeOptions.url, status: reply.statusCode }),
    routes: [
      (app) => {
        app.addHook('onRequest', (req, _reply, done) => {
          viaFastify.push(String(req.headers['x-case']));
          done();
        });
        defineFastRoute(app, {
          url: '/t/fast',
          bodyLimit: 1024,
          auditedAs: 't.call',
          handler: async (_req, body, reply) => {
            const b = body as { refuse?: boolean };
            if (b.refuse) return reply.json(429, { 'x-why': 'spent' }, { error: { message: 'refused, key s3cret' } });
            reply.json(200, { 'x-echo': 'yes' }, { echo: body, note: 'the s3cret' });
          },
        });
      },
    ],
  });
  base = new URL((await api.listen()).url);
});
afterAll(async () => {
  await api.close();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function post(caseName: string, body: string, opts: { path?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method: 'POST', path: opts.path ?? '/t/fast', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-case': caseName, ...opts.headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The same request on the fast path and, with a Cookie header, through Fastify. */
async function both(name: string, body: string): Promise<{ fast: Answer; slow: Answer }> {
  const fast = await post(`${name}-fast`, body);
  const slow = await post(`${name}-slow`, body, { headers: { cookie: 'x=1' } });
  expect(viaFastify).not.toContain(`${name}-fast`);
  expect(viaFastify).toContain(`${name}-slow`);
  return { fast, slow };
}

const same = (a: Answer, b: Answer) => {
  expect(a.status).toBe(b.status);
  expect(a.body).toBe(b.body);
  expect(a.headers['content-type']).toBe(b.headers['content-type']);
  expect(a.headers['content-length']).toBe(b.headers['content-length']);
};

describe('the fast path', () => {
  it('answers a plain JSON request without Fastify, as the Fastify route does (headers, redaction)', async () => {
    const { fast, slow } = await both('ok', JSON.stringify({ hello: 'world' }));
    same(fast, slow);
    expect(fast.status).toBe(200);
    expect(JSON.parse(fast.body)).toEqual({ echo: { hello: 'world' }, note: 'the [redacted]' });
    expect(fast.headers['x-echo']).toBe('yes');
    expect(slow.headers['x-echo']).toBe('yes');
  });

  it('audits a refusal once per request on both paths, and not a success', async () => {
    audited.length = 0;
    const { fast, slow } = await both('refuse', JSON.stringify({ refuse: true }));
    same(fast, slow);
    expect(fast.status).toBe(429);
    expect(fast.headers['x-why']).toBe('spent');
    expect(fast.body).toContain('[redacted]');
    expect(audited).toEqual([
      { route: '/t/fast', status: 429 },
      { route: '/t/fast', status: 429 },
    ]);
  });

  it("gives Fastify's answers to an invalid, an empty and a poisoned JSON body", async () => {
    for (const [name, body] of [
      ['bad', '{"hello": '],
      ['empty', ''],
      ['proto', '{"a": {"__proto__": {"x": 1}}}'],
      ['ctor', '{"constructor": {"prototype": {"x": 1}}}'],
      ['escaped', '{"a": {"\\u005f_proto__": {"x": 1}}}'],
    ] as const) {
      const { fast, slow } = await both(name, body);
      same(fast, slow);
      expect(fast.status, name).toBe(400);
      expect(JSON.parse(fast.body).error.code).toBe('invalid_request');
    }
    // A key that merely mentions them is fine.
    const { fast } = await both('mention', JSON.stringify({ text: '__proto__ and constructor', constructor: 'x' }));
    expect(fast.status).toBe(200);
  });

  it('leaves to Fastify a browser request, a query string and a body over the limit', async () => {
    const origin = await post('origin', '{}', { headers: { origin: 'http://127.0.0.1' } });
    expect(origin.status).toBe(200);
    const query = await post('query', '{}', { path: '/t/fast?x=1' });
    expect(query.status).toBe(200);
    const big = await post('big', JSON.stringify({ pad: 'x'.repeat(2000) }));
    expect(big.status).toBe(413);
    const text = await post('text', '{}', { headers: { 'content-type': 'application/xml' } });
    expect(text.status).toBe(415);
    expect(viaFastify).toEqual(expect.arrayContaining(['origin', 'query', 'big', 'text']));
  });
});
