// Cost of the security layer on hot paths:
//  1. redaction of log lines (~200 bytes, no secret in them — the common case — and with one) with
//     10, 100 and 1,000 live secret values in the matcher; and of a state value (nested object);
//  2. the audit log: record() cost on the caller's path, and records/s written in batches to SQLite
//     (and PostgreSQL unless --no-pg), then `verify` over them.
//
//   node --import tsx security.ts [--lines 200000] [--records 50000] [--no-pg]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redactor } from '../src/security/redact.js';
import { AuditLog } from '../src/security/audit/log.js';
import { AuditRepo, auditStoreModule } from '../src/security/audit/repo.js';
import { AUDIT_CATEGORIES } from '../src/security/config.js';
import { openStore } from '../src/store/index.js';

const args = process.argv.slice(2);
const num = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const LINES = num('lines', 200_000);
const RECORDS = num('records', 50_000);
const PG_URL = process.env.OPENCLAW_BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

console.log('# redaction');
for (const n of [10, 100, 1000]) {
  const r = new Redactor();
  const values = new Map<string, string>();
  for (let i = 0; i < n; i++) values.set(`sk-${randomBytes(16).toString('hex')}`, `SECRET_${i}`);
  const built = time(() => r.update(values));
  const secret = [...values.keys()][n >> 1]!;
  const clean = JSON.stringify({ time: Date.now(), level: 'info', agent: 'uptime-monitor', instance: 'uptime-monitor#0', msg: 'checked https://api.example.com/health: 200 in 123 ms', fields: { target: 'Production API', status: 200 } });
  const dirty = clean.replace('checked', `checked with ${secret}`);
  const state = { targets: Array.from({ length: 20 }, (_, i) => ({ url: `https://host${i}.example.com/health`, name: `Target ${i}`, status: 200, history: [1, 2, 3] })) };
  let sink = 0;
  const tc = time(() => {
    for (let i = 0; i < LINES; i++) sink += r.text(clean).length;
  });
  const td = time(() => {
    for (let i = 0; i < LINES; i++) sink += r.text(dirty).length;
  });
  const ts = time(() => {
    for (let i = 0; i < LINES / 10; i++) sink += r.value(state) === state ? 1 : 0;
  });
  console.log(
    `${n} secrets: matcher built in ${built.toFixed(1)} ms; clean line ${((tc * 1e3) / LINES).toFixed(2)} µs (${Math.round(LINES / (tc / 1000)).toLocaleString()}/s); ` +
      `line with a secret ${((td * 1e3) / LINES).toFixed(2)} µs; 20-entry state object ${((ts * 1e3) / (LINES / 10)).toFixed(2)} µs  (${sink > 0 ? 'ok' : ''})`,
  );
}

async function auditBench(kind: 'sqlite' | 'postgres'): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-bench-sec-'));
  const schema = `oc_bench_audit_${Date.now().toString(36)}`;
  const store = await openStore(kind === 'sqlite' ? { kind, path: path.join(dir, 'db.sqlite') } : { kind, url: PG_URL, schema });
  try {
    await store.migrateModule(auditStoreModule);
    const repo = new AuditRepo(store.handle());
    const log = new AuditLog({ repo, now: Date.now, categories: AUDIT_CATEGORIES, maxQueue: RECORDS + 1 });
    const t0 = process.hrtime.bigint();
    const rec = time(() => {
      for (let i = 0; i < RECORDS; i++) log.record({ actor: 'agent:a', action: 'state.change', target: 'a', detail: { version: i, keys: ['k1', 'k2'], runId: 'x' } });
    });
    await log.close();
    const total = Number(process.hrtime.bigint() - t0) / 1e6;
    const tv = process.hrtime.bigint();
    const v = await repo.verify();
    const verifyMs = Number(process.hrtime.bigint() - tv) / 1e6;
    console.log(
      `${kind}: record() ${((rec * 1e3) / RECORDS).toFixed(2)} µs on the caller's path; ${RECORDS.toLocaleString()} written in ${total.toFixed(0)} ms ` +
        `(${Math.round(RECORDS / (total / 1000)).toLocaleString()}/s, dropped ${log.dropped}); verify ${v.ok ? 'OK' : 'FAILED'} ${v.count.toLocaleString()} in ${verifyMs.toFixed(0)} ms`,
    );
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
    if (kind === 'postgres') {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  }
}

console.log('# audit');
await auditBench('sqlite');
if (!args.includes('--no-pg')) await auditBench('postgres');
