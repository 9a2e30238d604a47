// Dashboard sessions kept in the store (src/api/ui/session-store.ts), on SQLite and PostgreSQL:
// the same cookie works after a daemon restart (CSRF still enforced) and on a second daemon of the
// fleet (one PostgreSQL schema); a revoked token's session gets 401 at once; logout ends it; a token
// keeps a bounded number of sessions; the table holds neither the session id nor the token. The
// store's own rules (idle expiry, absolute lifetime, last-seen written at most once a minute) run
// on a fake clock against the real databases.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { uiStoreModule } from '../../src/api/ui/store.js';
import { llmStoreModule } from '../../src/llm/ledger.js';
import { SessionStore, csrfOf } from '../../src/api/ui/session-store.js';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { SqlRunner } from '../../src/llm/sql.js';
import { openStore } from '../../src/store/index.js';
import { fixture } from '../helpers/project.js';
import { PG_URL, dropSchemas, havePostgres, uniqueSchema } from '../helpers/services.js';
import { createToken } from './harness.js';

type Backend = 'sqlite' | 'postgres';
const pg = await havePostgres();
const backends: Backend[] = pg ? ['sqlite', 'postgres'] : ['sqlite'];
const schemas: string[] = [];
const dirs: string[] = [];
const daemons: Daemon[] = [];
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers) await c().catch(() => undefined);
  await Promise.all(daemons.map((d) => d.shutdown('test end').catch(() => undefined)));
  await dropSchemas(schemas);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function project(backend: Backend, schema: string | null, node?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ui-sessions-'));
  dirs.push(dir);
  const store = backend === 'postgres' ? `store:\n  url: ${PG_URL}\n  schema: ${schema}\n` : '';
  const cluster = node ? `cluster:\n  node_id: ${node}\n` : '';
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), `project: ui-sessions\n${store}${cluster}api:\n  port: 0\n  auth: token\nagents:\n  bravo:\n    source: ${fixture('ticker.ts')}\n    schedule: every 1h\n`);
  return path.join(dir, 'openclaw.yaml');
}

async function start(configFile: string): Promise<Daemon> {
  const d = await Daemon.start(await loadConfig(configFile));
  daemons.push(d);
  return d;
}

async function stop(d: Daemon): Promise<void> {
  await d.shutdown('test restart');
  daemons.splice(daemons.indexOf(d), 1);
}

async function login(url: string, token: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  expect(res.status).toBe(200);
  return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!, csrf: ((await res.json()) as { csrf: string }).csrf };
}

const session = async (url: string, cookie: string) => {
  const res = await fetch(`${url}/api/ui/session`, { headers: { cookie } });
  return { status: res.status, body: (await res.json()) as any };
};

/** A state-changing request signed in by the cookie: publish an event. */
const publish = async (url: string, cookie: string, csrf?: string) =>
  (await fetch(`${url}/api/events`, { method: 'POST', headers: { cookie, origin: url, 'content-type': 'application/json', ...(csrf ? { 'x-csrf-token': csrf } : {}) }, body: JSON.stringify({ name: 'ui.session.test' }) })).status;

describe.each(backends)('dashboard sessions on %s', (backend) => {
  it('survive a restart (CSRF still enforced); revoke and logout end them at once; bounded per token; no secret stored', async () => {
    const schema = backend === 'postgres' ? uniqueSchema('oc_uisess') : null;
    if (schema) schemas.push(schema);
    const file = project(backend, schema);
    let d = await start(file);
    const admin = fs.readFileSync(path.join(path.dirname(file), '.openclaw', 'token'), 'utf8').trim();
    const dev = await createToken(d.url, admin, '--role', 'developer', '--name', 'ui-dev');
    const a = await login(d.url, admin);
    const b = await login(d.url, dev);

    await stop(d);
    d = await start(file);
    const s = await session(d.url, a.cookie);
    expect(s.status).toBe(200);
    expect(s.body.principal.role).toBe('admin');
    expect(s.body.csrf).toBe(a.csrf);
    expect(await publish(d.url, a.cookie)).toBe(403); // no CSRF token
    expect(await publish(d.url, a.cookie, 'x'.repeat(43))).toBe(403); // a wrong one
    expect(await publish(d.url, a.cookie, a.csrf)).toBe(202);

    // The table: the session id's hash and the token's id, never the session id or the token.
    const second = await openStore((await loadConfig(file)).store);
    closers.push(() => second.close());
    const sql = new SqlRunner(second.handle());
    const rows = await sql.all(`SELECT * FROM {p}ui_sessions`);
    expect(rows).toHaveLength(2);
    const dump = JSON.stringify(rows);
    for (const secret of [a.cookie.split('=')[1]!, b.cookie.split('=')[1]!, admin, dev, admin.split('_')[2]!, dev.split('_')[2]!, a.csrf]) expect(dump).not.toContain(secret);
    expect(rows.map((r) => r.token_id).sort()).toEqual([admin.split('_')[1], dev.split('_')[1]].sort());

    // Revoking the developer token ends its session at once (auth is checked on every use).
    expect((await session(d.url, b.cookie)).status).toBe(200);
    const revoke = await fetch(`${d.url}/api/tokens/${dev.split('_')[1]}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    expect(revoke.status).toBe(200);
    const revoked = await session(d.url, b.cookie);
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.message).toContain('revoked');

    // Logout deletes the row: the cookie no longer signs in, here or anywhere.
    const out = await fetch(`${d.url}/ui/logout`, { method: 'POST', headers: { cookie: a.cookie, origin: d.url, 'x-csrf-token': a.csrf } });
    expect(out.status).toBe(200);
    expect((await session(d.url, a.cookie)).status).toBe(401);

    // At most 20 live sessions per token: the 21st sign-in drops the oldest.
    const many: Array<{ cookie: string }> = [];
    for (let i = 0; i < 21; i++) many.push(await login(d.url, admin));
    expect(Number((await sql.all(`SELECT COUNT(*) AS n FROM {p}ui_sessions WHERE token_id = ?`, admin.split('_')[1]))[0]!.n)).toBe(20);
    expect((await session(d.url, many[0]!.cookie)).status).toBe(401);
    expect((await session(d.url, many[20]!.cookie)).status).toBe(200);

    // Junk is refused at sign-in.
    const junk = await fetch(`${d.url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'oc_nope' }) });
    expect(junk.status).toBe(401);
  }, 120_000);

  it('idle expiry, absolute lifetime, and last-seen written at most once a minute (fake clock)', async () => {
    const schema = backend === 'postgres' ? uniqueSchema('oc_uisess') : null;
    if (schema) schemas.push(schema);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ui-sessions-'));
    dirs.push(dir);
    const store = await openStore(backend === 'postgres' ? { kind: 'postgres', url: PG_URL, schema: schema! } : { kind: 'sqlite', path: path.join(dir, 'state.db') });
    try {
      await store.migrateModule(llmStoreModule); // the ui module's spend rollup hangs off the usage ledger
      await store.migrateModule(uiStoreModule);
      let now = 1_000_000;
      const sessions = new SessionStore(store.handle(), () => now, { idleMs: 3_600_000, maxAgeMs: 4 * 3_600_000 });
      const sql = new SqlRunner(store.handle());
      const lastSeen = async () => Number((await sql.all(`SELECT last_seen_at FROM {p}ui_sessions`))[0]!.last_seen_at);
      const { id, session } = await sessions.create('abcdef012345', 'token:abcdef012345');
      expect(session.csrf).toBe(csrfOf(id));
      now += 30_000;
      expect((await sessions.get(id))?.tokenId).toBe('abcdef012345');
      expect(await lastSeen()).toBe(1_000_000); // 30 s later: no write
      now += 31_000;
      await sessions.get(id);
      expect(await lastSeen()).toBe(now); // 61 s: written once
      now += 59_000;
      await sessions.get(id);
      expect(await lastSeen()).toBe(now - 59_000);
      // Used every 50 minutes it stays alive, until the absolute lifetime (4 h) ends it.
      for (let i = 0; i < 3; i++) {
        now += 50 * 60_000;
        expect(await sessions.get(id)).toBeDefined();
      }
      now = 1_000_000 + 4 * 3_600_000;
      expect(await sessions.get(id)).toBeUndefined();
      expect(await sessions.count()).toBe(0);
      // Idle for an hour: gone.
      const other = await sessions.create('abcdef012345', 'token:abcdef012345');
      now += 3_600_000;
      expect(await sessions.get(other.id)).toBeUndefined();
      expect(await sessions.get('not-a-session')).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe.runIf(pg)('dashboard sessions across a fleet', () => {
  it('a session made on one daemon works on another daemon of the same PostgreSQL schema', async () => {
    const schema = uniqueSchema('oc_uifleet');
    schemas.push(schema);
    const first = project('postgres', schema, 'n1');
    const one = await start(first);
    const two = await start(project('postgres', schema, 'n2'));
    // The first daemon made the fleet's bootstrap admin token; the second found it in the store.
    const admin = fs.readFileSync(path.join(path.dirname(first), '.openclaw', 'token'), 'utf8').trim();
    const a = await login(one.url, admin);
    const s = await session(two.url, a.cookie);
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ principal: { role: 'admin' }, csrf: a.csrf });
    expect(await publish(two.url, a.cookie)).toBe(403);
    expect(await publish(two.url, a.cookie, a.csrf)).toBe(202);
    // Signed out on the second: the first refuses it too.
    expect((await fetch(`${two.url}/ui/logout`, { method: 'POST', headers: { cookie: a.cookie, origin: two.url, 'x-csrf-token': a.csrf } })).status).toBe(200);
    expect((await session(one.url, a.cookie)).status).toBe(401);
  }, 120_000);
});
