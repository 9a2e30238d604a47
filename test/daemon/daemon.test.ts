// The daemon end to end, in process: real store (SQLite file / PostgreSQL schema), real agent
// hosts and worker threads, real HTTP control API.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];

type Backend = 'sqlite' | 'postgres';
const backends: Backend[] = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

function storeFor(backend: Backend) {
  if (backend === 'sqlite') return undefined;
  const schema = uniqueSchema('oc_daemon');
  schemas.push(schema);
  return { kind: 'postgres' as const, url: PG_URL, schema };
}

afterAll(() => dropSchemas(schemas));

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

async function start(configFile: string): Promise<Daemon> {
  const d = await Daemon.start(await loadConfig(configFile));
  daemons.push(d);
  return d;
}

const fast = `    restart_policy: { backoff: immediate, initial_delay: 100ms, max_retries: 50 }\n`;

describe.each(backends)('daemon on %s', (backend) => {
  it('runs a pipeline: a triggered run emits, a relay forwards, a counter counts each event once', async () => {
    const { configFile } = makeProject({
      store: storeFor(backend),
      agents: [
        `  producer:\n    source: ${fixture('producer.ts')}\n`,
        `  relay:\n    source: ${fixture('relay.ts')}\n`,
        `  counter:\n    source: ${fixture('counter.ts')}\n`,
      ].join(''),
    });
    const d = await start(configFile);
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));

    await d.trigger('producer', { n: 40 });
    const counted = await waitFor('40 tocks counted', async () => {
      const s = await d.getState('counter');
      return s.state.count === 40 ? s : null;
    });
    // One state version per handled event: nothing lost, nothing applied twice.
    expect(counted.version).toBe(40);
    expect((await d.getState('producer')).state.produced).toBe(40);

    const relay = await d.getAgent('relay');
    expect(relay.subscriptions).toEqual(['tick']);
    expect(relay.runsTotal).toBe(40);
    expect(relay.pendingEvents).toBe(0);

    // The control API serves the same view.
    const res = await fetch(`${d.url}/api/agents`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { agents?: Array<{ name: string }> } | Array<{ name: string }>;
    const names = (Array.isArray(body) ? body : body.agents!).map((a) => a.name).sort();
    expect(names).toEqual(['counter', 'producer', 'relay']);
  });

  it('keeps state versions, reads old versions and rolls back with a new version holding the diff', async () => {
    const { configFile } = makeProject({
      store: storeFor(backend),
      agents: `  ticker:\n    source: ${fixture('ticker.ts')}\n`,
    });
    const d = await start(configFile);
    await waitFor('ticker running', async () => (await d.getAgent('ticker')).status === 'running');
    for (let i = 1; i <= 3; i++) {
      await d.trigger('ticker');
      await waitFor(`run ${i}`, async () => (await d.getState('ticker')).state.runs === i);
    }
    const versions = await d.listStateVersions('ticker');
    expect(versions.map((v) => v.version)).toEqual([3, 2, 1]);
    expect((await d.getState('ticker', { version: 1 })).state).toEqual({ runs: 1 });

    const { version } = await d.rollbackState('ticker', 1);
    expect(version).toBe(4);
    expect((await d.getState('ticker')).state).toEqual({ runs: 1 });
    // The next run builds on the rolled-back value.
    await d.trigger('ticker');
    await waitFor('run after rollback', async () => (await d.getState('ticker')).state.runs === 2);
    await expect(d.rollbackState('ticker', 99)).rejects.toThrow(/v99/);
  });

  it('pauses and resumes, and a pause survives a daemon restart (desired state is kept)', async () => {
    const { configFile } = makeProject({
      store: storeFor(backend),
      agents: `  ticker:\n    source: ${fixture('ticker.ts')}\n    schedule: every 1s\n`,
    });
    let d = await start(configFile);
    await waitFor('ticker running', async () => (await d.getAgent('ticker')).status === 'running');
    await d.action('ticker', 'pause');
    expect((await d.getAgent('ticker')).status).toBe('paused');
    await expect(d.trigger('ticker')).rejects.toThrow(/paused/);
    await d.shutdown('restart');
    daemons = daemons.filter((x) => x !== d);

    d = await start(configFile);
    const view = await waitFor('ticker back', async () => {
      const v = await d.getAgent('ticker');
      return v.status === 'paused' ? v : null;
    });
    expect(view.desired).toBe('paused');
    await d.action('ticker', 'resume');
    const before = (await d.getAgent('ticker')).runsTotal;
    await waitFor('a scheduled run after resume', async () => (await d.getAgent('ticker')).runsTotal > before, 10_000);
  });

  it('retries a failing handler with backoff, dead-letters it, redrives it, and dedupes event ids', async () => {
    const retry = `    events: { max_attempts: 2, initial_delay: 50ms, max_delay: 100ms }\n`;
    const { configFile } = makeProject({
      store: storeFor(backend),
      agents: `  failing:\n    source: ${fixture('throw-in-handler.ts')}\n${retry}  relay:\n    source: ${fixture('relay.ts')}\n`,
    });
    const d = await start(configFile);
    await waitFor('running', async () => (await d.listAgents()).every((a) => a.status === 'running'));

    await d.publishEvent({ name: 'boom', data: {} });
    const dead = await waitFor('dead letter', async () => {
      const l = await d.listDeadLetters({ agent: 'failing' });
      return l.length === 1 ? l : null;
    });
    expect(dead[0].attempts).toBe(2);
    expect(dead[0].lastError).toMatch(/handler exploded/);
    expect((await d.getAgent('failing')).runsFailed).toBe(2);
    // The failed runs' writes were discarded, and the handler's failures did not restart the agent.
    expect((await d.getState('failing')).state).toEqual({});
    expect((await d.getAgent('failing')).status).toBe('running');

    expect((await d.redriveDeadLetters({ agent: 'failing' })).redriven).toBe(1);
    await waitFor('dead again after redrive', async () => (await d.getAgent('failing')).runsFailed === 4);
    await waitFor('back in the dead letters', async () => (await d.listDeadLetters({ agent: 'failing' })).length === 1);

    const first = await d.publishEvent({ name: 'tick', data: { seq: 1 }, id: 'evt-1' });
    const again = await d.publishEvent({ name: 'tick', data: { seq: 1 }, id: 'evt-1' });
    expect(first.published).toBe(true);
    expect(again.published).toBe(false);
    await waitFor('relay handled evt-1', async () => (await d.getAgent('relay')).runsTotal === 1);
    expect((await d.listEvents({ name: 'tock' })).length).toBe(1);
  });
});
