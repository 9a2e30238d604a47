// Issue 14, item 5: secrets never reach storage in any form or at any depth. The Redactor walks
// values at any depth (deeper than its walk: as JSON text; too deep to serialise: refused), and
// catches base64 (at every alignment, so inside `Basic base64(user:secret)`), URL-encoded and hex
// forms. Job payloads and results and workflow inputs and step outputs go through it on their
// way into the real stores (SQLite and PostgreSQL).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../src/security/redact.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { JobStore, jobsStoreModule } from '../../src/jobs/store.js';
import { DEFAULT_POLICY } from '../../src/jobs/config.js';
import { normalizeEnqueue } from '../../src/jobs/options.js';
import { dropSchemas, havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';
import { systemClock } from '../../src/scheduler/types.js';

const SECRET = 'sk-live-9f8e7d6c5b4a';
const redactor = new Redactor();
redactor.update(new Map([[SECRET, 'API_KEY']]));

function nest(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('Redactor', () => {
  it('redacts at any depth: walked, as JSON text below the walk, refused when too deep to serialise', () => {
    for (const depth of [10, 65, 200, 2000]) {
      const out = JSON.stringify(redactor.value(nest(depth, `x ${SECRET} y`)));
      expect(out, `depth ${depth}`).not.toContain(SECRET);
      expect(out).toContain('[REDACTED:API_KEY]');
    }
    expect(() => redactor.value(nest(200_000, SECRET))).toThrow(/nested more than 64 levels deep is too deep/);
  });

  it('redacts base64 (any alignment, standard and URL-safe), URL-encoded and hex forms', () => {
    const b = (s: string) => Buffer.from(s).toString('base64');
    const forms = [
      b(SECRET),
      Buffer.from(SECRET).toString('base64url'),
      `Basic ${b(`user:${SECRET}`)}`,
      `Basic ${b(`us:${SECRET}`)}`,
      `Basic ${b(`u:${SECRET}`)}`,
      `https://x.example/?k=${encodeURIComponent(`${SECRET}&/ `)}`,
      Buffer.from(SECRET).toString('hex'),
      Buffer.from(SECRET).toString('hex').toUpperCase(),
    ];
    for (const f of forms) {
      const out = redactor.text(f);
      expect(out, f).toContain('[REDACTED:API_KEY]');
      // Nothing that decodes back to the secret is left.
      expect(Buffer.from(out.replace(/^Basic /, ''), 'base64').toString('latin1')).not.toContain(SECRET);
    }
    expect(redactor.text('plain text with nothing secret')).toBe('plain text with nothing secret');
  });
});

const schemas: string[] = [];
const stores: Store[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  await dropSchemas(schemas);
});

for (const backend of ['sqlite', 'postgres'] as const) {
  it(`stores job payloads and results redacted (${backend})`, async (ctx) => {
    if (backend === 'postgres' && !(await havePostgres())) return ctx.skip();
    const schema = uniqueSchema('oc_redact');
    if (backend === 'postgres') schemas.push(schema);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-redact-'));
    const store = await openStore(backend === 'sqlite' ? { kind: 'sqlite', path: path.join(dir, 'o.db') } : { kind: 'postgres', url: PG_URL, schema }, { clock: systemClock });
    stores.push(store);
    await store.migrateModule(jobsStoreModule);
    const jobs = new JobStore(store.handle(), () => Date.now(), (v) => redactor.value(v));
    const p = { ...DEFAULT_POLICY };
    const [{ id }] = await jobs.enqueue([normalizeEnqueue({ name: 'q', payload: { deep: nest(100, { key: SECRET }), b64: Buffer.from(SECRET).toString('base64') } })], () => p);
    const claimed = (await jobs.claim('q', p, 1)).jobs[0]!;
    await jobs.complete(claimed.id, claimed.leaseToken!, { echoed: `token=${encodeURIComponent(SECRET)}` });
    const row = JSON.stringify(await jobs.get(id!));
    expect(row).not.toContain(SECRET);
    expect(row).not.toContain(Buffer.from(SECRET).toString('base64'));
    expect(row.match(/REDACTED:API_KEY/g)?.length).toBe(3);
  });
}
