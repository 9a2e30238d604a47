// AgentController.call(): an agent method invoked by the daemon as a run transaction, with the
// return value, extra TxEffects committed atomically, deadlines, cancellation and intents.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { DaemonModule, ModuleContext } from '../../src/daemon/modules.js';
import type { TxEffect } from '../../src/store/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgAvailable = await havePostgres();
const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];

afterAll(() => dropSchemas(schemas));

let daemons: Daemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
});

/** A module that only captures its context (the way G's workflows and the jobs module get theirs). */
function capture(): { mod: DaemonModule; ctx: () => ModuleContext; intents: unknown[][] } {
  let ctx: ModuleContext | null = null;
  const intents: unknown[][] = [];
  return {
    intents,
    ctx: () => ctx!,
    mod: {
      name: 'capture',
      async start(c) {
        ctx = c;
        c.intent('jobs.enqueue', {
          effects: (data) => [insertMarks(data.map((d) => `job:${(d as { id: string }).id}`))],
          committed: (data) => intents.push(data),
        });
      },
    },
  };
}

/** A TxEffect that inserts rows into a test table; `fail` makes it throw inside the commit. */
function insertMarks(marks: string[], fail = false): TxEffect {
  return {
    sqlite(db) {
      db.prepare('CREATE TABLE IF NOT EXISTS call_marks (mark TEXT PRIMARY KEY)').run();
      for (const m of marks) db.prepare('INSERT INTO call_marks (mark) VALUES (?)').run(m);
      if (fail) throw Object.assign(new Error('effect refused'), { code: 'lease_lost' });
    },
    async postgres(c, schema) {
      await c.query(`CREATE TABLE IF NOT EXISTS ${schema}.call_marks (mark TEXT PRIMARY KEY)`);
      for (const m of marks) await c.query(`INSERT INTO ${schema}.call_marks (mark) VALUES ($1)`, [m]);
      if (fail) throw Object.assign(new Error('effect refused'), { code: 'lease_lost' });
    },
  };
}

async function marks(d: Daemon, ctx: ModuleContext): Promise<string[]> {
  const h = ctx.store.handle();
  if (h.dialect === 'sqlite') {
    const exists = h.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'call_marks'").get();
    return exists ? (h.db.prepare('SELECT mark FROM call_marks ORDER BY mark').all() as Array<{ mark: string }>).map((r) => r.mark) : [];
  }
  const r = await h.pool.query(`SELECT to_regclass('${h.schema}.call_marks') AS t`);
  if (!r.rows[0].t) return [];
  return (await h.pool.query(`SELECT mark FROM ${h.schema}.call_marks ORDER BY mark`)).rows.map((x: { mark: string }) => x.mark);
}

describe.each(backends)('AgentController.call on %s', (backend) => {
  async function boot(clock?: FakeClock) {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      const schema = uniqueSchema('oc_call');
      schemas.push(schema);
      store = { kind: 'postgres', url: PG_URL, schema };
    }
    const { configFile } = makeProject({ store, agents: `  callee:\n    source: ${path.join(here, 'fixtures', 'callee.ts')}\n` });
    const cap = capture();
    const d = await Daemon.start(await loadConfig(configFile), { modules: [cap.mod], ...(clock ? { clock } : {}) });
    daemons.push(d);
    await waitFor('callee running', async () => (await d.getAgent('callee')).status === 'running');
    return { d, ctx: cap.ctx(), intents: cap.intents, callee: cap.ctx().agent('callee')! };
  }

  it('returns the value, commits state, emits and effects in one transaction, records the run', async () => {
    const { d, ctx, callee } = await boot();
    const r = await callee.call('add', { n: 5 }, { trigger: 'job', runId: 'run-add-1', effects: [insertMarks(['a1'])], meta: { tag: 't' } });
    expect(r).toEqual({ ok: true, runId: 'run-add-1', value: { sum: 5, tag: 't', runId: 'run-add-1' } });
    expect((await d.getState('callee')).state.sum).toBe(5);
    expect(await marks(d, ctx)).toEqual(['a1']);
    expect((await d.listEvents({ name: 'added' })).length).toBe(1);
    const runs = await d.listRuns('callee');
    expect(runs.find((x) => x.id === 'run-add-1')).toMatchObject({ trigger: 'job', status: 'succeeded' });
  });

  it('a throwing effect aborts the whole commit: no state, no event, no row', async () => {
    const { d, ctx, callee } = await boot();
    const r = await callee.call('add', { n: 7 }, { trigger: 'job', effects: [insertMarks(['b1'], true)] });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('lease_lost');
    expect((await d.getState('callee')).state.sum).toBeUndefined();
    expect(await marks(d, ctx)).toEqual([]);
    expect((await d.listEvents({ name: 'added' })).length).toBe(0);
  });

  it('a method that throws commits nothing and reports the error', async () => {
    const { d, callee } = await boot();
    const r = await callee.call('boom', null, { trigger: 'call' });
    expect(r.ok).toBe(false);
    expect(r.error?.message).toContain('boom on purpose');
    expect((await d.getState('callee')).state.boom).toBeUndefined();
  });

  it('unknown, lifecycle and unsendable methods are refused with clear codes', async () => {
    const { callee } = await boot();
    expect((await callee.call('nope', null, { trigger: 'call' })).error?.code).toBe('no_method');
    expect((await callee.call('setup', null, { trigger: 'call' })).error?.code).toBe('no_method');
    expect((await callee.call('unsendable', null, { trigger: 'call' })).error?.code).toBe('call_value_invalid');
  });

  it('a deadline fires the method signal, returns call_timeout, and its late writes never commit', async () => {
    const { d, callee } = await boot();
    const r = await callee.call('slow', { ms: 30_000 }, { trigger: 'job', deadlineMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('call_timeout');
    // The method saw its signal and returned; that late result must not commit. A later call on the
    // same instance answers after it (one ordered channel), so once that call committed, the late
    // result has been seen — and dropped. The instance is still usable.
    expect((await callee.call('add', { n: 1 }, { trigger: 'call' })).ok).toBe(true);
    expect((await d.getState('callee')).state.slow_done).toBeUndefined();
  });

  it('a method failing with its own deadline error before the daemon notices is still call_timeout', async () => {
    // The daemon's clock never moves, so only the worker's deadline (wall clock) fires: the method
    // throws its signal's reason, and that failure must read as the timeout it is.
    const { callee } = await boot(new FakeClock());
    const r = await callee.call('untilAborted', null, { trigger: 'job', deadlineMs: 200 });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('call_timeout');
  });

  it('an AbortSignal cancels the call (call_aborted), nothing commits', async () => {
    const { d, callee } = await boot();
    const ac = new AbortController();
    const p = callee.call('slow', { ms: 30_000 }, { trigger: 'workflow', signal: ac.signal });
    setTimeout(() => ac.abort(new Error('workflow cancelled')), 200);
    const r = await p;
    expect(r.error?.code).toBe('call_aborted');
    expect(r.error?.message).toContain('workflow cancelled');
    expect((await callee.call('add', { n: 1 }, { trigger: 'call' })).ok).toBe(true); // after the late result (see above)
    expect((await d.getState('callee')).state.slow_done).toBeUndefined();
  });

  it("this.jobs.enqueue in a call becomes an intent committed with the run's state", async () => {
    const { d, ctx, callee, intents } = await boot();
    const r = await callee.call('enqueueTwo', { tag: 'x' }, { trigger: 'call' });
    expect(r.ok).toBe(true);
    const ids = r.value as string[];
    expect(await marks(d, ctx)).toEqual(ids.map((id) => `job:${id}`).sort());
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject([
      { queue: 'noop', payload: { tag: 'x', i: 1 }, priority: 0 },
      { queue: 'noop', payload: { tag: 'x', i: 2 }, priority: 3 },
    ]);
    expect((await d.getState('callee')).state.enqueued_by).toBe('x');
  });

  it('a stopped agent fails at once with agent_unavailable', async () => {
    const { d, callee } = await boot();
    await d.action('callee', 'stop');
    const r = await callee.call('add', { n: 1 }, { trigger: 'call', deadlineMs: 10_000 });
    expect(r.error?.code).toBe('agent_unavailable');
  });
});
