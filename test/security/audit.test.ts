// The audit log on SQLite and PostgreSQL: hash chain, tamper detection (edit, delete in the middle,
// delete at the end), retention that keeps verification possible, the bounded queue, and the real
// `openclaw audit verify` / `audit list` CLI against a tampered store.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { openStore, type Store } from '../../src/store/index.js';
import { AuditLog } from '../../src/security/audit/log.js';
import { AuditRepo, auditStoreModule } from '../../src/security/audit/repo.js';
import { AUDIT_CATEGORIES } from '../../src/security/config.js';
import { makeProject } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { runCli } from '../cli/run-cli.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await dropSchemas(schemas);
});

type Backend = 'sqlite' | 'postgres';
const backends: Backend[] = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

function storeConfig(backend: Backend) {
  if (backend === 'sqlite') {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-audit-'));
    dirs.push(d);
    return { kind: 'sqlite' as const, path: path.join(d, 'db.sqlite') };
  }
  const schema = uniqueSchema('oc_audit');
  schemas.push(schema);
  return { kind: 'postgres' as const, url: PG_URL, schema };
}

/** Runs SQL against the store's own table, as an attacker with database access would. */
async function sql(store: Store, text: string): Promise<void> {
  const h = store.handle();
  if (h.dialect === 'sqlite') h.db.prepare(text.replaceAll('$T', 'audit_log')).run();
  else await h.pool.query(text.replaceAll('$T', `${h.schema}.audit_log`));
}

async function filled(backend: Backend, n = 12, times?: (i: number) => number): Promise<{ store: Store; repo: AuditRepo; log: AuditLog }> {
  const store = await openStore(storeConfig(backend));
  await store.migrateModule(auditStoreModule);
  const repo = new AuditRepo(store.handle());
  let i = 0;
  const log = new AuditLog({ repo, now: () => (times ? times(i) : 1_700_000_000_000 + i), categories: AUDIT_CATEGORIES, batchSize: 5 });
  for (; i < n; i++) log.record({ actor: `agent:a${i % 3}`, action: i % 2 ? 'state.change' : 'secret.read', target: `t${i}`, detail: { keys: [`k${i}`], n: i, nested: { b: 1, a: [i] } } });
  await log.flush();
  return { store, repo, log };
}

describe.each(backends)('audit log on %s', (backend) => {
  it('chains every record; an untouched log verifies', async () => {
    const { store, repo } = await filled(backend);
    try {
      expect(await repo.verify()).toEqual({ ok: true, count: 12, firstSeq: 1, lastSeq: 12 });
      const recent = await repo.list({ limit: 3 });
      expect(recent.map((r) => r.seq)).toEqual([12, 11, 10]);
      expect(recent[1]!.prevHash).toBe(recent[2]!.hash);
      expect((await repo.list({ actor: 'agent:a0', action: 'secret.*' })).every((r) => r.actor === 'agent:a0' && r.action === 'secret.read')).toBe(true);
      expect(await repo.list({ action: 'state.change', limit: 100 })).toHaveLength(6);
    } finally {
      await store.close();
    }
  });

  it('an edited record fails verification at its seq', async () => {
    const { store, repo } = await filled(backend);
    try {
      await sql(store, `UPDATE $T SET detail = '{"keys":["k7"],"n":7,"nested":{"a":[7],"b":2}}' WHERE seq = 7`);
      const r = await repo.verify();
      expect(r).toMatchObject({ ok: false, badSeq: 7, count: 6 });
      expect(r.reason).toMatch(/record 7 was edited/);
    } finally {
      await store.close();
    }
  });

  it('an edit with a forged hash, or one reverted under a forged hash, still fails at that seq', async () => {
    const { store, repo } = await filled(backend);
    try {
      await sql(store, `UPDATE $T SET actor = 'mallory', hash = '${'f'.repeat(64)}' WHERE seq = 4`);
      expect(await repo.verify()).toMatchObject({ ok: false, badSeq: 4 });
      await sql(store, `UPDATE $T SET actor = 'agent:a0' WHERE seq = 4`); // the original actor; the hash stays forged
      expect(await repo.verify()).toMatchObject({ ok: false, badSeq: 4 });
    } finally {
      await store.close();
    }
  });

  it('a deleted record fails verification (in the middle, and at the end)', async () => {
    const { store, repo } = await filled(backend);
    try {
      await sql(store, 'DELETE FROM $T WHERE seq = 12');
      const end = await repo.verify();
      expect(end).toMatchObject({ ok: false, badSeq: 12 });
      expect(end.reason).toMatch(/deleted from the end/);
      await sql(store, 'DELETE FROM $T WHERE seq = 5');
      const mid = await repo.verify();
      expect(mid).toMatchObject({ ok: false, badSeq: 5, count: 4 });
      expect(mid.reason).toMatch(/record 5 is missing: deleted/);
    } finally {
      await store.close();
    }
  });

  it('retention prunes old records through an anchor: the rest still verifies, and tampering is still caught', async () => {
    const day = 86_400_000;
    const t0 = 1_700_000_000_000;
    const { store, repo, log } = await filled(backend, 10, (i) => t0 + i * day);
    try {
      expect(await repo.prune(t0 + 6 * day)).toBe(6);
      expect(await repo.verify()).toEqual({ ok: true, count: 4, firstSeq: 7, lastSeq: 10 });
      log.record({ actor: 'daemon', action: 'agent.lifecycle', target: 'x' });
      await log.flush();
      expect(await repo.verify()).toMatchObject({ ok: true, count: 5, lastSeq: 11 });
      await sql(store, 'DELETE FROM $T WHERE seq = 7');
      expect(await repo.verify()).toMatchObject({ ok: false, badSeq: 7 });
    } finally {
      await store.close();
    }
  });
});

describe.each(backends)('the audit queue on %s', (backend) => {
  it('never blocks or throws: a stalled store fills a bounded queue, the rest is dropped and counted', async () => {
    const store = await openStore(storeConfig(backend));
    await store.migrateModule(auditStoreModule);
    const real = new AuditRepo(store.handle());
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    // The real repository behind a gate: the store answers only once released (a stalled database).
    const repo = { append: async (b: Parameters<AuditRepo['append']>[0]) => (await stalled, real.append(b)) } as unknown as AuditRepo;
    const metrics = new Registry();
    const log = new AuditLog({ repo, now: Date.now, categories: AUDIT_CATEGORIES, metrics, maxQueue: 50, batchSize: 10, flushMs: 1 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (let i = 0; i < 300; i++) log.record({ actor: 'agent:x', action: 'state.change', target: 'x', detail: i === 0 ? circular : { i } });
    // 50 queued (the flush timer has not run yet: record() is synchronous); everything else was dropped at once.
    expect(log.dropped).toBeGreaterThanOrEqual(240);
    expect((await metrics.getSingleMetric('openclaw_audit_dropped_total')!.get()).values[0]!.value).toBe(log.dropped);
    release();
    await log.close();
    const stored = await real.list({ limit: 1000 });
    expect(stored.length + log.dropped).toBe(300);
    expect((await real.verify()).ok).toBe(true);
    await store.close();
  });

  it('records only the configured categories; secret access is always recorded', async () => {
    const store = await openStore(storeConfig(backend));
    await store.migrateModule(auditStoreModule);
    const repo = new AuditRepo(store.handle());
    const log = new AuditLog({ repo, now: Date.now, categories: ['agent_lifecycle'] });
    for (const action of ['state.change', 'event.emit', 'agent.lifecycle', 'secret.read', 'secret.rotate', 'llm.call']) log.record({ actor: 'x', action });
    await log.close();
    const stored = (await repo.list({ limit: 100 })).map((r) => r.action).sort();
    expect(stored).toEqual(['agent.lifecycle', 'secret.read', 'secret.rotate']);
    await store.close();
  });
});

describe.each(backends)('openclaw audit verify (real CLI, %s)', (backend) => {
  it('says OK with the count, then names the first bad seq after a direct edit and exits 1', async () => {
    const cfg = storeConfig(backend);
    const { dir } = makeProject({ store: cfg.kind === 'postgres' ? cfg : undefined, agents: '  {}\n' });
    dirs.push(dir);
    const conf = cfg.kind === 'postgres' ? cfg : { kind: 'sqlite' as const, path: path.join(dir, '.openclaw', 'openclaw.db') };
    fs.mkdirSync(path.join(dir, '.openclaw'), { recursive: true });
    const own = await openStore(conf);
    await own.migrateModule(auditStoreModule);
    const log = new AuditLog({ repo: new AuditRepo(own.handle()), now: Date.now, categories: AUDIT_CATEGORIES });
    for (let i = 0; i < 8; i++) log.record({ actor: 'cli:test', action: 'secret.set', target: `S${i}`, detail: { version: 1 } });
    await log.close();
    try {
      // No daemon answers there, so the CLI opens the project's store itself (only an explicit --url is strict).
      const env = { OPENCLAW_URL: 'http://127.0.0.1:1' };
      const ok = await runCli(['audit', 'verify'], { cwd: dir, env });
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toContain('OK: 8 records verified (seq 1..8)');
      expect(ok.code).toBe(0);
      const list = await runCli(['audit', 'list', '--action', 'secret.set', '--limit', '2'], { cwd: dir, env });
      expect(list.stdout).toMatch(/8 .* cli:test .* secret\.set .* S7/);
      expect(list.stdout).not.toMatch(/\bS5\b/);

      await sql(own, "UPDATE $T SET target = 'S99' WHERE seq = 3");
      const bad = await runCli(['audit', 'verify'], { cwd: dir, env });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('FAILED at seq 3: record 3 was edited');
    } finally {
      await own.close();
    }
  });
});
