// Exactly-once under kill -9: a real daemon process ingests a seeded input (NDJSON files in a
// watched directory, with bad lines and out-of-order events) and aggregates it into a tumbling, a
// hopping and a session window (approx_distinct in the tumbling and session ones: their sketches
// must survive too), while the test kills it with SIGKILL 20 times at random moments.
// After a last, undisturbed start: the stream holds every valid line once, the DLQ every bad line
// once, and the final window results (in the results table; the per-minute ones also as events an
// agent counted) equal
// those of an uninterrupted run of the same input (the window engine run straight through, in
// process), with nothing lost or doubled. SQLite and PostgreSQL.
//
// Kills: 8 (20 with OPENCLAW_TEST_FULL=1, test/helpers/scale.ts). Each is a daemon start and a
// random wait, about 3 s; the input is ingested a file per daemon life, so the first four kills
// land during ingestion and the later ones during aggregation and delivery to the agent, which
// the full count exercises twelve more times (about a minute more per backend).
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture, makeProject, tsxUrls, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { daemonUrl, startDaemonProcess } from '../helpers/daemon-process.js';
import { scaled } from '../helpers/scale.js';
import { streamsSectionSchema } from '../../src/streams/config.js';
import { querySpec } from '../../src/streams/module.js';
import { WindowEngine, type WindowResult } from '../../src/streams/windows.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pgAvailable = await havePostgres();
const schemas: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
  await dropSchemas(schemas);
});

const KILLS = scaled(20, 8);
const FILES = 4;
const PER_FILE = 2000;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STREAMS_YAML = `streams:
  clicks:
    partition_key: user
    event_time: { field: ts, format: epoch_ms }
    event_id: id
    files: { dir: incoming, poll_interval: 50ms }
    windows:
      per_minute:
        type: tumbling
        size: 1m
        allowed_lateness: 5s
        aggregate: { n: count, spent: sum(amount), top: max(amount), pages: distinct(page), approx_pages: approx_distinct(page) }
      sliding:
        type: hopping
        size: 1m
        slide: 20s
        aggregate: { n: count, avg: avg(amount) }
      visits:
        type: session
        gap: 30s
        grace: 10s
        aggregate: { n: count, spent: sum(amount), pages: approx_distinct(page) }
`;

/** The seeded input: lines in file order; ~5 % of events are up to 20 s out of order; a few bad lines. */
function makeInput(): { files: string[][]; valid: Array<Record<string, unknown>>; bad: number } {
  const rnd = mulberry32(12);
  const base = Date.UTC(2026, 0, 1);
  const files: string[][] = [];
  const valid: Array<Record<string, unknown>> = [];
  let bad = 0;
  let i = 0;
  for (let f = 0; f < FILES; f++) {
    const lines: string[] = [];
    for (let j = 0; j < PER_FILE; j++, i++) {
      if (i % 997 === 500) {
        lines.push('{"broken": ');
        bad++;
        continue;
      }
      // Users arrive in bursts (sessions); time moves ~250 ms per event.
      const ts = base + i * 250 - (rnd() < 0.05 ? Math.floor(rnd() * 20_000) : 0);
      const e = { id: `e${i}`, user: `u${Math.floor(rnd() * 15)}`, page: `p${Math.floor(rnd() * 40)}`, amount: Math.floor(rnd() * 100), ts };
      lines.push(JSON.stringify(e));
      valid.push(e);
    }
    files.push(lines);
  }
  return { files, valid, bad };
}

/** The uninterrupted run: the engine straight through the same input, in process. */
function reference(valid: Array<Record<string, unknown>>): { results: Map<string, WindowResult[]>; late: Map<string, number> } {
  const cfg = streamsSectionSchema.parse(parseYaml());
  const results = new Map<string, WindowResult[]>();
  const late = new Map<string, number>();
  for (const [name, w] of Object.entries(cfg.clicks!.windows!)) {
    const e = new WindowEngine(querySpec(name, 'clicks', w));
    const out: WindowResult[] = [];
    let n = 0;
    valid.forEach((v, i) => {
      e.add({ seq: i + 1, time: v.ts as number, key: v.user as string, payload: v }, 0);
      if (i % 777 === 0) {
        const f = e.flush(0);
        out.push(...f.results);
        n += f.late.length;
      }
    });
    const f = e.flush(0);
    out.push(...f.results);
    results.set(name, out.filter((r) => r.final));
    late.set(name, n + f.late.length);
  }
  return { results, late };
}

function parseYaml(): unknown {
  // The section as the loader would hand it to the schema (durations as strings).
  return {
    clicks: {
      partition_key: 'user',
      event_time: { field: 'ts', format: 'epoch_ms' },
      event_id: 'id',
      files: { dir: 'incoming', poll_interval: '50ms' },
      windows: {
        per_minute: { type: 'tumbling', size: '1m', allowed_lateness: '5s', aggregate: { n: 'count', spent: 'sum(amount)', top: 'max(amount)', pages: 'distinct(page)', approx_pages: 'approx_distinct(page)' } },
        sliding: { type: 'hopping', size: '1m', slide: '20s', aggregate: { n: 'count', avg: 'avg(amount)' } },
        visits: { type: 'session', gap: '30s', grace: '10s', aggregate: { n: 'count', spent: 'sum(amount)', pages: 'approx_distinct(page)' } },
      },
    },
  };
}

const startDaemon = (dir: string, configFile: string): ChildProcess => startDaemonProcess(dir, configFile, children);


async function get<T>(url: string, p: string): Promise<T> {
  const res = await fetch(url + p);
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const kill = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    c.once('exit', () => resolve());
    process.kill(-c.pid!, 'SIGKILL');
  });

const backends = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

describe.each(backends)('kill -9 during ingestion and aggregation on %s', (backend) => {
  it(`gives the results of an uninterrupted run after ${KILLS} kills`, async () => {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      const schema = uniqueSchema('oc_streams_crash');
      schemas.push(schema);
      store = { kind: 'postgres', url: PG_URL, schema };
    }
    const { dir, configFile } = makeProject({ store, extra: STREAMS_YAML, agents: `  counter:\n    source: ${path.join(here, 'fixtures', 'result-counter.ts')}\n` });
    const input = makeInput();
    // Files arrive whole (written aside, then renamed into the watched directory), one more before
    // each daemon life: every life has new input to ingest, so the kills land while the stream is
    // part-way (with every file there from the start, a fast first life could ingest it all before
    // the first kill, and the test would prove less than it says).
    fs.mkdirSync(path.join(dir, 'incoming'));
    let arrived = 0;
    const arrive = () => {
      const f = arrived++;
      const tmp = path.join(dir, `part-${f}.tmp`);
      fs.writeFileSync(tmp, input.files[f]!.join('\n') + '\n');
      fs.renameSync(tmp, path.join(dir, 'incoming', `part-${f}.ndjson`));
    };

    const rnd = mulberry32(99);
    const progress: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      if (arrived < input.files.length) arrive();
      const child = startDaemon(dir, configFile);
      const url = await daemonUrl(dir, child.pid!);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(rnd() * 400)));
      progress.push((await get<{ head: number }>(url, '/api/streams/clicks').catch(() => ({ head: -1 }))).head);
      await kill(child);
    }

    while (arrived < input.files.length) arrive();
    const child = startDaemon(dir, configFile);
    const url = await daemonUrl(dir, child.pid!);
    const ref = reference(input.valid);
    const finals = ref.results.get('per_minute')!.length;
    await waitFor('everything ingested and aggregated', async () => {
      const s = await get<{ head: number; windows: Array<{ lag: number }> }>(url, '/api/streams/clicks');
      return s.head === input.valid.length && s.windows.every((w) => w.lag === 0);
    }, 120_000);
    // The kills landed during the work: the stream was part-way at some of them.
    expect(progress.some((h) => h > 0 && h < input.valid.length)).toBe(true);

    const stats = await get<{ head: number; events: number; dlq: number }>(url, '/api/streams/clicks');
    expect([stats.head, stats.events, stats.dlq]).toEqual([input.valid.length, input.valid.length, input.bad]);
    const ids = new Set<string>();
    for (let after = 0; ; ) {
      const page = await get<{ events: Array<{ id: string; seq: number }>; next: number }>(url, `/api/streams/clicks/events?after=${after}&limit=10000`);
      if (page.events.length === 0) break;
      for (const e of page.events) ids.add(e.id);
      after = page.next;
    }
    expect(ids.size).toBe(input.valid.length);

    for (const [name, expected] of ref.results) {
      const got = (await get<{ results: Array<{ key: string; start: number; end: number; values: unknown; count: number }> }>(url, `/api/windows/${name}/results?final=true&limit=10000`)).results;
      const norm = (rs: Array<{ key: string; start: number; end: number; values: unknown; count: number }>) =>
        rs.map((r) => ({ key: r.key, start: r.start, end: r.end, count: r.count, values: r.values })).sort((a, b) => a.key.localeCompare(b.key) || a.start - b.start);
      expect(norm(got)).toEqual(norm(expected));
      const lateEvents = (await get<{ events: unknown[] }>(url, `/api/streams/${name}.late/events?limit=10000`)).events.length;
      expect(lateEvents).toBe(ref.late.get(name));
    }
    // Every final per-minute result reached the agent exactly once.
    const counted = await waitFor('the counter handled every final result', async () => {
      const st = (await get<{ state: Record<string, number> }>(url, '/api/agents/counter/state')).state;
      return Object.keys(st).length === finals && st;
    }, 300_000);
    expect(Object.values(counted).every((n) => n === 1)).toBe(true);
    await kill(child);
  }, 600_000);
});
