// Per-agent rate limits through a real daemon and real agent workers: each limit trips at the call
// site with the documented error, frees again, and a replicated agent is limited as a whole.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { guardrailsModule } from '../../src/security/guardrails/module.js';
import { TokenBucket } from '../../src/security/guardrails/rate-limit.js';
import { makeProject, waitFor } from '../helpers/project.js';

const LIMITS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'limits.ts');

type Result = { tag: string; replica: number; done: number; code?: string; message?: string; retryAfterMs?: number };

let server: http.Server;
let url = '';
let hits = 0;
let daemons: Daemon[] = [];

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    hits++;
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise((r) => server.close(r)));
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

async function start(extra: string, agents: string): Promise<Daemon> {
  const { configFile } = makeProject({ extra, agents });
  const d = await Daemon.start(await loadConfig(configFile), { modules: [guardrailsModule()] });
  daemons.push(d);
  // Every replica running and ready: an agent is `running` as soon as one of its instances is.
  await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.instances.every((i) => i.status === 'running' && i.ready)));
  return d;
}

let seq = 0;
async function run(d: Daemon, agent: string, payload: { mode: string; max: number; url?: string; holdMs?: number }): Promise<Result> {
  return result(d, agent, await trigger(d, agent, payload));
}

async function trigger(d: Daemon, agent: string, payload: { mode: string; max: number; url?: string; holdMs?: number }): Promise<string> {
  const tag = `t${++seq}`;
  await waitFor('trigger accepted', () => d.trigger(agent, { ...payload, tag }));
  return tag;
}

function result(d: Daemon, agent: string, tag: string): Promise<Result> {
  return waitFor(`result ${tag}`, async () => {
    const lines = await d.recentLogs(agent, { limit: 500 });
    return lines.find((l) => l.msg === 'limits-result' && (l.fields as Result | undefined)?.tag === tag)?.fields as Result | undefined;
  });
}

describe('token bucket', () => {
  it('passes a burst up to the limit, then refuses with the time until one call frees', () => {
    let now = 0;
    const b = new TokenBucket(60, () => now);
    for (let i = 0; i < 60; i++) expect(b.take().ok).toBe(true);
    const r = b.take();
    expect(r).toEqual({ ok: false, retryAfterMs: 1000 });
    now += 999;
    expect(b.take().ok).toBe(false);
    now += 1;
    expect(b.take().ok).toBe(true);
    now += 3_600_000; // refills to the limit, not beyond
    for (let i = 0; i < 60; i++) expect(b.take().ok).toBe(true);
    expect(b.take().ok).toBe(false);
  });
});

describe('rate limits in agent workers', () => {
  it('each limit trips at the call site with a clear rate_limited error, and frees again', async () => {
    const d = await start(
      'security:\n  rate_limits:\n    default:\n      events_per_minute: 60\n      llm_tokens_per_hour: 5000\n',
      [
        `  emitter:\n    source: ${LIMITS}\n`, // events_per_minute from security.rate_limits.default
        `  writer:\n    source: ${LIMITS}\n    resources: { state_writes_per_minute: 60 }\n`,
        `  caller:\n    source: ${LIMITS}\n    resources: { api_calls_per_minute: 60, llm_tokens_per_hour: 1000 }\n`,
      ].join(''),
    );
    const cases = [
      { agent: 'emitter', mode: 'emit', limit: 'events_per_minute', call: "this.emit('tick')" },
      { agent: 'writer', mode: 'write', limit: 'state_writes_per_minute', call: 'this.state.set(' },
      { agent: 'caller', mode: 'http', limit: 'api_calls_per_minute', call: `GET ${url}` },
    ];
    for (const c of cases) {
      const burst = await run(d, c.agent, { mode: c.mode, max: 200, url });
      // A minute's worth passes at once (plus what refilled meanwhile, about one a second); then refused.
      expect(burst.done, c.agent).toBeGreaterThanOrEqual(60);
      expect(burst.done, c.agent).toBeLessThan(200);
      expect(burst.code).toBe('rate_limited');
      expect(burst.message).toContain(`agent '${c.agent}' reached its ${c.limit} limit of 60`);
      expect(burst.message).toContain(c.call);
      expect(burst.message).toMatch(/capacity frees in \d+(\.\d+)?s/);
      expect(burst.message).toContain(`agents.${c.agent}.resources.${c.limit}`);
      expect(burst.retryAfterMs).toBeGreaterThan(0);
      // Capacity frees at the limit's rate: after the time the error named, one more call passes.
      await new Promise((r) => setTimeout(r, burst.retryAfterMs! + 20));
      const again = await run(d, c.agent, { mode: c.mode, max: 1, url });
      expect(again, c.agent).toMatchObject({ done: 1 });
      expect(again.code).toBeUndefined();
    }
    // What passed was committed: the writer's first run kept its writes.
    const writerState = (await d.getState('writer')).state;
    expect(Object.keys(writerState).length).toBeGreaterThanOrEqual(61);
  });

  it('a replicated agent is limited as a whole: the daemon counts HTTP calls across replicas', async () => {
    const d = await start('', `  caller:\n    source: ${LIMITS}\n    replicas: 2\n    resources: { api_calls_per_minute: 3 }\n`);
    hits = 0;
    // The first run makes 3 calls on one replica, then stays busy, so the next run goes to the other.
    const firstTag = await trigger(d, 'caller', { mode: 'http', max: 3, url, holdMs: 3000 });
    await waitFor('3 calls made', () => hits === 3);
    const other = await run(d, 'caller', { mode: 'http', max: 1, url });
    const first = await result(d, 'caller', firstTag);
    expect(first).toMatchObject({ done: 3 });
    expect(other.replica).not.toBe(first.replica);
    expect(other.done).toBe(0);
    expect(hits).toBe(3);
    expect(other.code).toBe('rate_limited');
    expect(other.message).toContain('limit of 3 HTTP calls (this.http and openclaw/tools clients) across its 2 replicas');
  });
});
