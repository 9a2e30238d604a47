import { describe, expect, it } from 'vitest';
import { Agent, on, type AgentEvent } from '../../src/index.js';
import { HttpClient } from '../../src/tools/index.js';
import { fakeContext } from './helpers/fake-context.js';

class Counter extends Agent {
  override async run() {
    const n = await this.state.get<number>('runs', 0);
    await this.state.set('runs', n + 1);
    await this.emit('counted', { n: n + 1, at: this.nowIso() });
    this.metrics.gauge('runs', n + 1);
    this.logger.info(`run ${n + 1}`);
  }

  @on('reset')
  async reset(event: AgentEvent<{ to: number }>) {
    await this.state.set('runs', event.data.to);
  }
}

function attached<T extends Agent>(cls: new () => T, init?: Parameters<typeof fakeContext>[0]) {
  const ctx = fakeContext(init);
  const agent = new cls();
  agent.__attach(ctx);
  return { agent, ctx };
}

describe('Agent services', () => {
  it('keeps state across runs, emits and records metrics and logs', async () => {
    const { agent, ctx } = attached(Counter, { agentName: 'counter' });
    await agent.setup();
    await agent.run();
    await agent.run();
    expect(ctx.store.get('runs')).toBe(2);
    expect(ctx.emitted).toEqual([
      { name: 'counted', data: { n: 1, at: '2026-04-18T14:30:00.000Z' } },
      { name: 'counted', data: { n: 2, at: '2026-04-18T14:30:00.000Z' } },
    ]);
    expect(ctx.samples).toContainEqual({ kind: 'gauge', name: 'runs', value: 2 });
    expect(ctx.logs.map((l) => l.msg)).toEqual(['run 1', 'run 2']);

    await agent.reset({ id: 'e1', name: 'reset', data: { to: 10 }, source: null, createdAt: 0, attempt: 1 });
    await agent.run();
    expect(ctx.store.get('runs')).toBe(11);
  });

  it('exposes identity, clock, the trigger in progress and the signal', () => {
    const { agent, ctx } = attached(Counter, { agentName: 'counter', replica: 2 });
    expect(agent.name).toBe('counter');
    expect(agent.replica).toBe(2);
    expect(agent.instanceId).toBe('counter#2');
    expect(agent.now()).toBe(ctx.clock.t);
    ctx.clock.t += 1000;
    expect(agent.nowIso()).toBe('2026-04-18T14:30:01.000Z');
    expect(agent.trigger).toBeNull();
    ctx.currentRun = { runId: 'r1', kind: 'manual', payload: { force: true } };
    expect(agent.trigger).toEqual({ runId: 'r1', kind: 'manual', payload: { force: true } });
    expect(agent.signal.aborted).toBe(false);
    ctx.controller.abort();
    expect(agent.signal.aborted).toBe(true);
    expect(agent.generateId()).toMatch(/^[0-9a-f-]{36}$/);
    expect(agent.generateId()).not.toBe(agent.generateId());
  });

  it('reaches shared state, other agents\' state and the LLM through the context', async () => {
    const { agent, ctx } = attached(Counter);
    ctx.others.analyzer = { latest_analysis: { anomalies: 2 } };
    const analyzer = await agent.state.readFrom('analyzer');
    expect(analyzer.get('latest_analysis', {})).toEqual({ anomalies: 2 });
    await agent.sharedState.set('global_config', { threshold: 0.95 });
    expect(await agent.sharedState.get('global_config')).toEqual({ threshold: 0.95 });
    const c = await agent.llm.complete('hello');
    expect(String(c)).toBe('summary of 5 chars');
    expect(ctx.prompts).toEqual(['hello']);
  });

  it('rejects an empty event name', async () => {
    const { agent, ctx } = attached(Counter);
    await expect(agent.emit('')).rejects.toThrow(/event name must be a non-empty string/);
    expect(ctx.emitted).toEqual([]);
  });

  it('has no-op lifecycle defaults and probes that answer true', async () => {
    class Plain extends Agent {}
    const { agent } = attached(Plain);
    await expect(agent.setup()).resolves.toBeUndefined();
    await expect(agent.run()).resolves.toBeUndefined();
    await expect(agent.teardown()).resolves.toBeUndefined();
    await expect(agent.onError(new Error('x'))).resolves.toBeUndefined();
    expect(await agent.liveness()).toBe(true);
    expect(await agent.readiness()).toBe(true);
  });
});

describe('this.config', () => {
  const config = { slack_webhook: 'https://hooks.example/x', targets: [{ name: 'api', url: 'http://a' }], slack: { channel: '#ops' }, empty: null };

  it('supports get(key, fallback) and property access', () => {
    const { agent } = attached(Counter, { config });
    expect(agent.config.slack_webhook).toBe('https://hooks.example/x');
    expect(agent.config.get('targets', [])).toEqual([{ name: 'api', url: 'http://a' }]);
    expect(agent.config.get('missing', 15)).toBe(15);
    expect(agent.config.get('empty', 'fallback')).toBe('fallback');
    expect(agent.config.get('slack.channel')).toBe('#ops');
    expect(agent.config.missing).toBeUndefined();
    expect(agent.config.has('targets')).toBe(true);
    expect(agent.config.has('nope')).toBe(false);
    expect('slack_webhook' in agent.config).toBe(true);
    expect(Object.keys(agent.config)).toEqual(['slack_webhook', 'targets', 'slack', 'empty']);
    expect(JSON.parse(JSON.stringify(agent.config))).toEqual(config);
  });

  it('is read-only, deeply, and detached from the object the runtime passed', () => {
    const live = structuredClone(config);
    const { agent } = attached(Counter, { config: live });
    expect(() => {
      (agent.config as Record<string, unknown>).slack_webhook = 'x';
    }).toThrow(/this.config is read-only/);
    expect(() => {
      delete (agent.config as Record<string, unknown>).targets;
    }).toThrow(/read-only/);
    expect(() => agent.config.get<Array<{ name: string }>>('targets').push({ name: 'b' })).toThrow(TypeError);
    live.slack_webhook = 'changed-by-runtime';
    expect(agent.config.slack_webhook).toBe('https://hooks.example/x');
  });
});

describe('use before attach', () => {
  it('explains that services start at setup()', () => {
    class Eager extends Agent {
      targets = this.config.get('targets', []);
    }
    expect(() => new Eager()).toThrow('this.config: agent services are available from setup() on; do not use them in the constructor or in field initialisers');
    const a = new Counter();
    expect(() => a.state).toThrow(/this.state: agent services are available from setup\(\) on/);
    expect(() => a.logger).toThrow(/this.logger/);
    expect(() => a.now()).toThrow(/this.now/);
    return expect(a.emit('x')).rejects.toThrow(/this.emit: agent services are available from setup\(\) on/);
  });

  it('rejects something that is not a context', () => {
    expect(() => new Counter().__attach({} as never)).toThrow(/expected an AgentRuntimeContext/);
  });
});

describe('this.http', () => {
  it('is created once on first use and can be replaced in setup()', () => {
    const { agent } = attached(Counter);
    const first = agent.http;
    expect(first).toBeInstanceOf(HttpClient);
    expect(agent.http).toBe(first);
    const mine = new HttpClient({ timeout: 3 });
    agent.http = mine;
    expect(agent.http).toBe(mine);
  });

  it('cancels requests when the agent is stopped', async () => {
    const { agent, ctx } = attached(Counter);
    ctx.controller.abort();
    await expect(agent.http.get('http://127.0.0.1:9/')).rejects.toMatchObject({ code: 'http_aborted' });
  });
});
