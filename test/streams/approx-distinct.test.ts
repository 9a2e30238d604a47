// approx_distinct end to end, on SQLite and PostgreSQL: a window counts distinct users with the
// HyperLogLog beside the exact distinct; its sketch is committed with each batch, so a daemon
// restarted in the middle of the window continues from it. The final estimate equals that of one
// sketch fed every value (the hash is deterministic), and is within the error bound of the exact count.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { HyperLogLog } from '../../src/streams/hll.js';
import { waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const backends = (await havePostgres()) ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];
const daemons: Daemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.filter((d) => d.url).map((d) => d.shutdown('test end').catch(() => undefined)));
  await dropSchemas(schemas);
});

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe.each(backends)('approx_distinct on %s', (backend) => {
  it('keeps its sketch across a daemon restart and ends within the error bound of the exact count', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-approx-'));
    let store = '';
    if (backend === 'postgres') {
      const schema = uniqueSchema('oc_approx');
      schemas.push(schema);
      store = `store:\n  url: ${PG_URL}\n  schema: ${schema}\n`;
    }
    const configFile = path.join(dir, 'openclaw.yaml');
    fs.writeFileSync(
      configFile,
      `project: approx-test\n${store}api:\n  port: 0\n  auth: token\n` +
        `streams:
  clicks:
    partition_key: site
    event_time: { field: ts, format: epoch_ms }
    limits: { flush_interval: 5ms }
    windows:
      visitors:
        type: tumbling
        size: 1m
        aggregate: { n: count, exact: distinct(user), approx: approx_distinct(user) }
`,
    );
    let d: Daemon;
    let token = '';
    const post = async (lines: object[]) => {
      const res = await fetch(`${d.url}/api/streams/clicks/events?wait=true`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l)).join('\n') });
      expect(res.status).toBe(200);
    };
    const caughtUp = () =>
      waitFor('the window caught up', async () => {
        const s = (await (await fetch(`${d.url}/api/streams/clicks`, { headers: { authorization: `Bearer ${token}` } })).json()) as { head: number; windows: Array<{ cursor: number }> };
        return s.head > 0 && s.windows[0]!.cursor === s.head;
      });
    const start = async () => {
      d = await Daemon.start(await loadConfig(configFile), { modules: createModules() });
      daemons.push(d);
      token = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim();
    };

    // First life: users 0…1,999, each twice, in the minute [T0, T0+60s).
    await start();
    const first = Array.from({ length: 4000 }, (_, i) => ({ site: 'web', user: `u${i % 2000}`, ts: T0 + (i % 50_000) }));
    for (let i = 0; i < first.length; i += 500) await post(first.slice(i, i + 500));
    await caughtUp();
    await d.shutdown('restart');

    // Second life: users 1,000…2,999 in the same minute, then an event of the next minute closes it.
    await start();
    const second = Array.from({ length: 2000 }, (_, i) => ({ site: 'web', user: `u${1000 + i}`, ts: T0 + 30_000 + i }));
    for (let i = 0; i < second.length; i += 500) await post(second.slice(i, i + 500));
    await post([{ site: 'web', user: 'late-comer', ts: T0 + 61_000 }]);
    const r = await waitFor('the final result', async () => {
      const res = (await (await fetch(`${d.url}/api/windows/visitors/results?final=true`, { headers: { authorization: `Bearer ${token}` } })).json()) as { results: Array<{ start: number; values: { n: number; exact: number; approx: number } }> };
      return res.results.find((x) => x.start === T0);
    });
    // 3,000 distinct users: the exact count says so; the sketch equals one fed all 6,000 values in
    // one go (nothing of the first life lost), and is within 4.9 % (3 standard errors) of 3,000.
    const one = new HyperLogLog();
    for (const e of [...first, ...second]) one.add(e.user);
    expect(r.values.n).toBe(6000);
    expect(r.values.exact).toBe(3000);
    expect(r.values.approx).toBe(one.count());
    expect(Math.abs(r.values.approx - 3000) / 3000).toBeLessThanOrEqual(0.049);
    await d.shutdown('test end');
  }, 120_000);
});
