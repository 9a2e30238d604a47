import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpClient, HttpRequestError, parseRetryAfter } from '../../src/tools/index.js';
import { closedPort, recordingSleep, startLoopback, type Loopback } from './helpers/loopback.js';

let server: Loopback;
beforeEach(async () => {
  server = await startLoopback();
});
afterEach(async () => {
  await server.close();
});

describe('HttpClient requests', () => {
  it('GETs and returns status, statusCode, ok, headers, body and attempts', async () => {
    server.script({ status: 200, headers: { 'x-trace': 'abc' }, body: { metrics: { cpu: 0.5 } } });
    const http = new HttpClient({ baseUrl: `${server.url}/api/` });
    const res = await http.get('/v1/query', { query: { q: 'up', limit: 5, skip: undefined } });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: 'GET', url: '/api/v1/query?q=up&limit=5', body: '' });
    expect(res.status).toBe(200);
    expect(res.statusCode).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers['x-trace']).toBe('abc');
    expect(res.json()).toEqual({ metrics: { cpu: 0.5 } });
    expect(res.text()).toBe('{"metrics":{"cpu":0.5}}');
    expect(res.attempts).toBe(1);
    expect(res.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('sends objects as JSON and strings as they are', async () => {
    const http = new HttpClient();
    await http.post(`${server.url}/items`, { name: 'a', n: 1 });
    await http.put(`${server.url}/items/1`, 'raw text', { headers: { 'content-type': 'text/plain' } });
    await http.delete(`${server.url}/items/1`);
    await http.request('PATCH', `${server.url}/items/1`, { json: [1, 2] });
    expect(server.requests.map((r) => [r.method, r.url, r.headers['content-type'], r.body])).toEqual([
      ['POST', '/items', 'application/json', '{"name":"a","n":1}'],
      ['PUT', '/items/1', 'text/plain', 'raw text'],
      ['DELETE', '/items/1', undefined, ''],
      ['PATCH', '/items/1', 'application/json', '[1,2]'],
    ]);
  });

  it('says what came back when the body is not JSON', async () => {
    server.script({ status: 502, body: '<html>Bad gateway</html>' });
    const res = await new HttpClient({ retries: 0 }).get(`${server.url}/x`);
    expect(() => res.json()).toThrow(`GET ${server.url}/x returned HTTP 502 with a body that is not JSON: "<html>Bad gateway</html>"`);
  });

  it('refuses a relative URL without baseUrl', async () => {
    await expect(new HttpClient().get('/health')).rejects.toThrow(/not an absolute URL and the client has no baseUrl/);
  });
});

describe('HttpClient retries', () => {
  it('retries 5xx with doubling delays and returns the first success', async () => {
    server.script({ status: 503 }, { status: 500 }, { status: 200, body: 'fine' });
    const { delays, sleep } = recordingSleep();
    const res = await new HttpClient({ retries: 2, retryDelay: 3, sleep }).get(`${server.url}/h`);
    expect(server.requests).toHaveLength(3);
    expect(res.status).toBe(200);
    expect(res.attempts).toBe(3);
    expect(res.text()).toBe('fine');
    expect(delays).toEqual([3000, 6000]);
  });

  it('returns the last 5xx response once retries are used up', async () => {
    server.fallback = { status: 503, body: 'down' };
    const { delays, sleep } = recordingSleep();
    const res = await new HttpClient({ retries: 2, retryDelayMs: 10, sleep }).get(`${server.url}/h`);
    expect(server.requests).toHaveLength(3);
    expect(res.statusCode).toBe(503);
    expect(res.ok).toBe(false);
    expect(delays).toHaveLength(2);
  });

  it('does not retry 4xx other than 429', async () => {
    server.fallback = { status: 404 };
    const res = await new HttpClient({ retries: 3, sleep: recordingSleep().sleep }).get(`${server.url}/missing`);
    expect(res.status).toBe(404);
    expect(server.requests).toHaveLength(1);
  });

  it('honours Retry-After in seconds and as an HTTP date on 429', async () => {
    const inFiveSeconds = new Date(Date.now() + 5_000).toUTCString();
    server.script({ status: 429, headers: { 'retry-after': '2' } }, { status: 429, headers: { 'retry-after': inFiveSeconds } }, { status: 200 });
    const { delays, sleep } = recordingSleep();
    const res = await new HttpClient({ retries: 2, retryDelayMs: 1, sleep }).get(`${server.url}/limited`);
    expect(res.status).toBe(200);
    expect(server.requests).toHaveLength(3);
    expect(delays[0]).toBe(2000);
    // An HTTP date has one-second resolution: between 3 and 5 seconds from now.
    expect(delays[1]).toBeGreaterThan(3000);
    expect(delays[1]).toBeLessThanOrEqual(5000);
  });

  it('gives up at once when Retry-After asks for longer than maxRetryDelayMs', async () => {
    server.script({ status: 429, headers: { 'retry-after': '3600' } });
    const { delays, sleep } = recordingSleep();
    const res = await new HttpClient({ retries: 3, maxRetryDelayMs: 60_000, sleep }).get(`${server.url}/limited`);
    expect(res.status).toBe(429);
    expect(server.requests).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('retries refused connections and then throws http_network naming the URL', async () => {
    const port = await closedPort();
    const { delays, sleep } = recordingSleep();
    const err = await new HttpClient({ retries: 2, retryDelayMs: 5, sleep }).get(`http://127.0.0.1:${port}/health`).catch((e) => e);
    expect(err).toBeInstanceOf(HttpRequestError);
    expect(err.code).toBe('http_network');
    expect(err.attempts).toBe(3);
    expect(err.message).toMatch(new RegExp(`GET http://127.0.0.1:${port}/health failed: .*ECONNREFUSED.*\\(attempt 3 of 3\\)`));
    expect(delays).toEqual([5, 10]);
  });

  it('times out a request that gets no answer, and retries it', async () => {
    server.script('hang', { status: 200, body: 'late but fine' });
    const { sleep } = recordingSleep();
    const res = await new HttpClient({ timeoutMs: 1000, retries: 1, sleep }).get(`${server.url}/slow`);
    expect(server.requests).toHaveLength(2);
    expect(res.text()).toBe('late but fine');
    expect(res.attempts).toBe(2);
  });

  it('throws http_timeout when every attempt times out', async () => {
    server.fallback = 'hang';
    const err = await new HttpClient({ retries: 1, sleep: recordingSleep().sleep })
      .get(`${server.url}/slow`, { timeoutMs: 200 })
      .catch((e) => e);
    expect(err.code).toBe('http_timeout');
    expect(err.message).toBe(`GET ${server.url}/slow timed out after 200 ms (attempt 2 of 2)`);
    expect(server.requests).toHaveLength(2);
  });
});

describe('HttpClient cancellation', () => {
  it('close() fails requests in flight and later ones with http_closed', async () => {
    server.fallback = 'hang';
    const http = new HttpClient({ timeoutMs: 60_000, retries: 3 });
    const pending = http.get(`${server.url}/slow`).catch((e) => e);
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await http.close();
    const err = await pending;
    expect(err.code).toBe('http_closed');
    expect(server.requests).toHaveLength(1);
    await expect(http.get(`${server.url}/again`)).rejects.toMatchObject({ code: 'http_closed' });
    expect(server.requests).toHaveLength(1);
  });

  it('an aborted signal stops retries', async () => {
    server.fallback = { status: 503 };
    const controller = new AbortController();
    const http = new HttpClient({
      retries: 5,
      signal: () => controller.signal,
      sleep: async () => controller.abort(),
    });
    const err = await http.get(`${server.url}/h`).catch((e) => e);
    expect(err.code).toBe('http_aborted');
    expect(server.requests).toHaveLength(1);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and dates and ignores garbage', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(undefined)).toBeNull();
  });
});
