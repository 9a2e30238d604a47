// `bus.backend: redis | nats` end to end: in-process daemons on one PostgreSQL schema, events carried
// by the real Redis / NATS through the outbox relay. A producer → relay → counter pipeline counts
// each event exactly once in effect (one state version per event), with one daemon and with two
// daemons sharing the consumer groups (there a tally writes one key per event: a hot key written
// from two daemons is a placement matter — an agent runs on one daemon — not the bus's).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { dropSchemas, havePostgres, haveNats, haveRedis, NATS_URL, PG_URL, REDIS_URL, uniqueSchema } from '../helpers/services.js';
import { dropNatsStreams, dropRedisPrefixes } from './backends.js';

const schemas: string[] = [];
const redisPrefixes: string[] = [];
const natsStreams: string[] = [];
afterAll(async () => {
  await dropSchemas(schemas);
  await dropRedisPrefixes(redisPrefixes);
  await dropNatsStreams(natsStreams);
});

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

const pgUp = await havePostgres();
const backends = [...((await haveRedis()) ? ['redis' as const] : []), ...((await haveNats()) ? ['nats' as const] : [])];

const TALLY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tally.ts');

function project(backend: 'redis' | 'nats', schema: string, name: string, sink: 'counter' | 'tally'): string {
  return makeProject({
    store: { kind: 'postgres', url: PG_URL, schema },
    extra: `bus:\n  backend: ${backend}\n  url: ${backend === 'redis' ? REDIS_URL : NATS_URL}\n  name: ${name}\n`,
    agents: [
      `  producer:\n    source: ${fixture('producer.ts')}\n`,
      `  relay:\n    source: ${fixture('relay.ts')}\n`,
      `  ${sink}:\n    source: ${sink === 'counter' ? fixture('counter.ts') : TALLY}\n`,
    ].join(''),
  }).configFile;
}

function fleet(backend: 'redis' | 'nats', sink: 'counter' | 'tally') {
  const schema = uniqueSchema('oc_busd');
  schemas.push(schema);
  const name = uniqueSchema('oc_busd');
  redisPrefixes.push(`{openclaw:${name}}`);
  natsStreams.push(`openclaw_${name}`);
  return async (opts: { waitRunning?: boolean } = {}) => {
    const d = await Daemon.start(await loadConfig(project(backend, schema, name, sink)));
    daemons.push(d);
    if (opts.waitRunning !== false) await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));
    return d;
  };
}

/** Each agent runs on exactly one of the daemons (the fleet's leases place it); which one, by name. */
async function placed(ds: Daemon[]): Promise<Map<string, Daemon>> {
  return waitFor('every agent running on one daemon', async () => {
    const where = new Map<string, Daemon>();
    for (const d of ds) for (const a of await d.listAgents()) if (a.status === 'running') where.set(a.name, d);
    return where.size === 3 ? where : null;
  });
}

describe.runIf(pgUp).each(backends)('daemon with bus.backend %s on PostgreSQL', (backend) => {
  it('carries @on events end to end: each handled exactly once in effect', async () => {
    const d = await fleet(backend, 'counter')();
    await d.trigger('producer', { n: 40 });
    const counted = await waitFor('40 tocks counted', async () => {
      const s = await d.getState('counter');
      return s.state.count === 40 ? s : null;
    });
    expect(counted.version).toBe(40); // one commit per tock: none lost, none applied twice
    // An event from the API goes through the outbox too.
    expect((await d.publishEvent({ name: 'tock', data: { seq: 99 } })).published).toBe(true);
    await waitFor('the API event counted', async () => (await d.getState('counter')).state.count === 41);
    expect((await d.getState('counter')).version).toBe(41);
    expect((await d.getAgent('relay')).runsTotal).toBe(40);
    // Pending events are the bus group's (what autoscaling reads), not the store's rows.
    await d.action('counter', 'stop');
    for (let i = 0; i < 3; i++) await d.publishEvent({ name: 'tock', data: { seq: 100 + i } });
    await waitFor('3 tocks pending on the bus', async () => (await d.getAgent('counter')).pendingEvents === 3);
    expect((await d.listAgents()).find((a) => a.name === 'counter')!.pendingEvents).toBe(3);
    // Dead letters are the bus's (none here); re-driving them is refused with a way out.
    expect(await d.listDeadLetters({ agent: 'counter' })).toEqual([]);
    await expect(d.redriveDeadLetters({ agent: 'counter' })).rejects.toThrow(/not supported yet.*POST \/api\/events/);
  }, 120_000);

  it('shares consumer groups across two daemons on one store and bus: still exactly once', async () => {
    const start = fleet(backend, 'tally');
    const ds = await Promise.all([start({ waitRunning: false }), start({ waitRunning: false })]);
    // Each agent runs on one daemon (placing agents is the fleet's leases, not the bus's job); the
    // events cross between the daemons through the bus.
    const where = await placed(ds);
    const producer = where.get('producer')!;
    await producer.trigger('producer', { n: 30, from: 0 });
    await producer.trigger('producer', { n: 30, from: 30 });
    const other = ds.find((d) => d !== producer)!;
    const tallied = await waitFor('60 tocks tallied', async () => {
      const s = await other.getState('tally');
      return Object.keys(s.state).length === 60 ? s : null;
    });
    // Each tock handled once in effect (no key at 2), one state version each.
    expect(Object.values(tallied.state)).toEqual(Array.from({ length: 60 }, () => 1));
    expect(tallied.version).toBe(60);
  }, 180_000);
});
