// What a committed run adds to the audit log (src/security/audit/commit.ts), in a real daemon on
// SQLite and PostgreSQL: ONE `event.emit` record per run summarising its emits (count, names, first
// and last id, the ids themselves when few, a digest of all ids in emit order that matches the
// stored events), one `state.change` per namespace written, and the chain still verifies.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { openStore, type Store } from '../../src/store/index.js';
import { AuditRepo, type AuditRecord } from '../../src/security/audit/repo.js';
import { emitDigest, LISTED_EMIT_IDS } from '../../src/security/audit/commit.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const pgAvailable = await havePostgres();
const backends = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const schemas: string[] = [];
const dirs: string[] = [];
let daemons: Daemon[] = [];
let stores: Store[] = [];

afterEach(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
  daemons = [];
  for (const s of stores.splice(0)) await s.close();
});
afterAll(async () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await dropSchemas(schemas);
});

describe.each(backends)('audit records of a commit on %s', (backend) => {
  async function boot() {
    let conf: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema: string };
    if (backend === 'postgres') {
      const schema = uniqueSchema('oc_auditc');
      schemas.push(schema);
      conf = { kind: 'postgres', url: PG_URL, schema };
    } else {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-auditc-'));
      dirs.push(d);
      conf = { kind: 'sqlite', path: path.join(d, 'o.db') };
    }
    const store = await openStore(conf);
    stores.push(store);
    const { dir, configFile } = makeProject({ store: conf.kind === 'postgres' ? conf : undefined, agents: `  producer:\n    source: ${fixture('producer.ts')}\n` });
    dirs.push(dir);
    const d = await Daemon.start(await loadConfig(configFile), { store, listen: false });
    daemons.push(d);
    await waitFor('producer running', async () => (await d.getAgent('producer')).status === 'running');
    return { d, repo: new AuditRepo(store.handle()) };
  }

  async function runAndRecord(d: Daemon, repo: AuditRepo, n: number): Promise<{ runId: string; rec: AuditRecord; ids: string[] }> {
    const { runId } = await d.trigger('producer', { n });
    await waitFor('the run recorded', async () => (await d.listRuns('producer')).find((r) => r.id === runId)?.status === 'succeeded');
    const rec = await waitFor('its event.emit record', async () => (await repo.list({ action: 'event.emit', limit: 100 })).find((r) => r.detail.runId === runId));
    const ids = (await d.listEvents({ name: 'tick', limit: 10_000 })).filter((e) => e.source === 'producer').map((e) => e.id);
    return { runId, rec, ids };
  }

  it('one event.emit record per run: count, names, first/last id and a digest of the stored ids', async () => {
    const { d, repo } = await boot();
    const n = 40;
    const { runId, rec, ids } = await runAndRecord(d, repo, n);
    expect(ids).toHaveLength(n);
    const emits = (await repo.list({ action: 'event.emit', limit: 100 })).filter((r) => r.detail.runId === runId);
    expect(emits).toHaveLength(1);
    expect(rec).toMatchObject({ actor: 'agent:producer', target: 'tick' });
    expect(rec.detail).toMatchObject({ count: n, names: ['tick'], source: 'producer', firstId: ids[0], lastId: ids[n - 1], idsDigest: emitDigest(ids) });
    expect(rec.detail.ids).toBeUndefined(); // more than LISTED_EMIT_IDS: the digest stands for them
    // A different set (one id missing) does not match the digest: the record is evidence of the set.
    expect(emitDigest(ids.slice(1))).not.toBe(rec.detail.idsDigest);
    // The state it wrote: one state.change for its namespace, keys and no values.
    const changes = await waitFor('its state.change', async () => (await repo.list({ action: 'state.change', limit: 100 })).filter((r) => r.detail.runId === runId));
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ target: 'producer', detail: { keys: ['produced'] } });
    expect((await repo.verify()).ok).toBe(true);
  });

  it('a run with few emits lists their ids too', async () => {
    const { d, repo } = await boot();
    const { rec, ids } = await runAndRecord(d, repo, 3);
    expect(ids.length).toBeLessThanOrEqual(LISTED_EMIT_IDS);
    expect(rec.detail).toMatchObject({ count: 3, ids, idsDigest: emitDigest(ids) });
  });
});
