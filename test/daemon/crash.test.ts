// kill -9 of the daemon in the middle of an event pipeline, then a restart: every event is
// reflected exactly once in state, nothing acknowledged is lost, state versions are intact.
//
// Size: 2,000 events (10,000 with OPENCLAW_TEST_FULL=1, test/helpers/scale.ts). The property does
// not depend on the count, only on where the kill lands: after every event was produced and
// about 15 % were counted, so at the kill ticks wait for the relay, tocks wait for the counter and
// handlers of both are in flight. The time is the count: each event is a relay run and a counter
// run, each a store transaction (64 s on SQLite and 135 s on PostgreSQL for 10,000 at load 5-9).
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, makeProject, tsxUrls, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { daemonUrl, startDaemonProcess } from '../helpers/daemon-process.js';
import { scaled } from '../helpers/scale.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await dropSchemas(schemas);
});

const startDaemon = (dir: string, configFile: string): ChildProcess => startDaemonProcess(dir, configFile, children);


async function api<T>(url: string, p: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url + p, { ...init, headers: { 'content-type': 'application/json' } });
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const state = (url: string, agent: string) => api<{ version: number; state: Record<string, number> }>(url, `/api/agents/${agent}/state`);

const backends = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

describe.each(backends)('kill -9 of the daemon on %s', (backend) => {
  const N = scaled(10_000, 2_000);
  it(`loses nothing acknowledged and applies each of ${N} events exactly once`, async () => {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      store = { kind: 'postgres', url: PG_URL, schema: uniqueSchema('oc_crash') };
      schemas.push(store.schema);
    }
    const { dir, configFile } = makeProject({
      store,
      agents:
        `  producer:\n    source: ${fixture('producer.ts')}\n` +
        `  relay:\n    source: ${fixture('relay.ts')}\n    replicas: 2\n    events: { concurrency: 4 }\n` +
        `  counter:\n    source: ${fixture('counter.ts')}\n    replicas: 2\n`,
    });

    let child = startDaemon(dir, configFile);
    let url = await daemonUrl(dir, child.pid!);
    // Every replica running (an agent is running once one of its instances is).
    await waitFor('agents running', async () => {
      const agents = await api<Array<{ instances: { status: string }[] }> | { agents: Array<{ instances: { status: string }[] }> }>(url, '/api/agents');
      return (Array.isArray(agents) ? agents : agents.agents).every((a) => a.instances.length > 0 && a.instances.every((i) => i.status === 'running'));
    }, 60_000);
    await api(url, '/api/agents/producer/trigger', { method: 'POST', body: JSON.stringify({ payload: { n: N } }) });
    await waitFor('all events produced', async () => (await state(url, 'producer')).state.produced === N, 60_000);
    await waitFor('counting under way', async () => ((await state(url, 'counter')).state.count ?? 0) >= Math.round(N * 0.15), 120_000, 20);

    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    child = startDaemon(dir, configFile);
    url = await daemonUrl(dir, child.pid!);
    const final = await waitFor('all events counted', async () => {
      const s = await state(url, 'counter');
      return s.state.count === N ? s : null;
    }, 150_000, 100);
    // Nothing left in flight, and no late duplicate arrives.
    await waitFor('no pending events', async () => {
      const agents = await api<Array<{ pendingEvents: number }> | { agents: Array<{ pendingEvents: number }> }>(url, '/api/agents');
      return (Array.isArray(agents) ? agents : agents.agents).every((a) => a.pendingEvents === 0);
    }, 60_000);
    const after = await state(url, 'counter');
    expect(after.state.count).toBe(N);
    // Exactly one state version per counted event: none lost, none applied twice.
    expect(final.version).toBe(N);
    expect(after.version).toBe(N);
    const mid = await api<{ state: Record<string, number> }>(url, `/api/agents/counter/state?version=${N / 2}`);
    expect(mid.state.count).toBe(N / 2);
    // The relay's emits committed with its acks: exactly one tock per tick.
    const seqs = new Set<number>();
    let tocks = 0;
    for (let after = 0; ; ) {
      const page = await api<{ events: Array<{ seq: number; payload: { seq: number } }> }>(url, `/api/events?name=tock&limit=5000&after=${after}`);
      if (page.events.length === 0) break;
      for (const e of page.events) seqs.add(e.payload.seq);
      tocks += page.events.length;
      after = page.events[page.events.length - 1].seq;
    }
    expect(tocks).toBe(N);
    expect(seqs.size).toBe(N);

    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }, 400_000);
});
