// `openclaw stream ingest|stats|tail|results|dlq` against a real daemon (the CLI in a child process).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createStreamsModule } from '../../src/streams/module.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { runCli } from '../cli/run-cli.js';

let d: Daemon;
let dir: string;
const cli = (args: string[]) => runCli(args, { cwd: dir, env: { OPENCLAW_URL: d.url } });
const T0 = Date.UTC(2026, 0, 1);

beforeAll(async () => {
  const p = makeProject({
    agents: '  {}\n',
    extra: `streams:
  logs:
    partition_key: service
    event_time: ts
    windows:
      per_min: { type: tumbling, size: 1m, aggregate: { n: count, errors: { op: count, where: { level: error } } } }
`,
  });
  dir = p.dir;
  d = await Daemon.start(await loadConfig(p.configFile), { modules: [createStreamsModule()] });
});
afterAll(async () => {
  await d?.shutdown('test end');
});

describe('openclaw stream', () => {
  it('ingests a file with a bad line, then shows stats, the tail, results and the dead letter', async () => {
    const lines = [
      { service: 'api', level: 'error', ts: new Date(T0).toISOString() },
      { service: 'api', level: 'info', ts: new Date(T0 + 5000).toISOString() },
      'garbage',
      { service: 'api', level: 'info', ts: new Date(T0 + 61_000).toISOString() },
    ].map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
    fs.writeFileSync(path.join(dir, 'logs.ndjson'), lines.join('\n') + '\n');
    const r = await cli(['stream', 'ingest', 'logs', 'logs.ndjson']);
    expect(r.stdout).toMatch(/^logs: 3 accepted, 1 rejected, 0 duplicate\(s\) dropped\n {2}line 3: not JSON/);
    expect(r.code).toBe(1);
    await waitFor('the window closed', async () => (await cli(['stream', 'results', 'per_min', '--final', '--json'])).stdout.includes('"final": true'), 30_000, 200);
    const res = JSON.parse((await cli(['stream', 'results', 'per_min', '--json'])).stdout) as { results: Array<{ key: string; start: number; final: boolean; values: unknown }> };
    expect(res.results.find((x) => x.start === T0)).toMatchObject({ key: 'api', final: true, values: { n: 2, errors: 1 } });
    const stats = await cli(['stream', 'stats', 'logs']);
    expect(stats.stdout).toMatch(/events: +3 kept, 3 appended/);
    expect(stats.stdout).toMatch(/dead letters: 1/);
    expect(stats.stdout).toMatch(/│ per_min +│ tumbling │ on_window_close │ +0 │/);
    const tail = await cli(['stream', 'tail', 'logs', '--no-follow']);
    expect(tail.stdout.trim().split('\n').map((l) => JSON.parse(l).level)).toEqual(['error', 'info', 'info']);
    expect((await cli(['stream', 'dlq', 'logs'])).stdout).toMatch(/garbage/);
    const missing = await cli(['stream', 'stats', 'nope']);
    expect(missing.stderr).toMatch(/no stream 'nope'/);
  }, 120_000);
});
