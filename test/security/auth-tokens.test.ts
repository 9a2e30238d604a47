// API tokens: the repository on SQLite and PostgreSQL (hashed at rest, revocation, expiry data),
// the token format, the role table, and the authorizer's decisions through Fastify inject
// (local-trust lets loopback callers in, never others; 401s say why and carry WWW-Authenticate).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { TokenRepository } from '../../src/security/auth/repository.js';
import { parseToken, parseExpiry, secretMatches, hashSecret } from '../../src/security/auth/tokens.js';
import { ALL_PERMISSIONS, roleAllows, rolePermissions } from '../../src/security/auth/roles.js';
import { createAuthorizer } from '../../src/security/auth/authorizer.js';
import { AgentTokens } from '../../src/security/auth/agent-tokens.js';
import { isLoopbackAddress, isLoopbackHost } from '../../src/security/auth/mode.js';
import { createApiServer } from '../../src/api/server.js';
import { defineRoute } from '../../src/api/route.js';
import type { AuditEntry } from '../../src/daemon/modules.js';
import type { ControlPlane } from '../../src/daemon/control.js';
import { havePostgres, PG_URL, uniqueSchema } from '../helpers/services.js';

const pgUp = await havePostgres();
const schemas: string[] = [];
const stores: Store[] = [];

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  if (schemas.length === 0) return;
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await admin.end();
});

async function open(kind: 'sqlite' | 'postgres'): Promise<Store> {
  let s: Store;
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-auth-'));
    s = await openStore({ kind: 'sqlite', path: path.join(dir, 'openclaw.db') });
  } else {
    const schema = uniqueSchema('oc_auth');
    schemas.push(schema);
    s = await openStore({ kind: 'postgres', url: PG_URL, schema });
  }
  stores.push(s);
  return s;
}

/** Every stored cell of auth_tokens as text, to search for plaintext secrets. */
async function dump(store: Store): Promise<string> {
  const h = store.handle();
  const rows = h.dialect === 'sqlite' ? h.db.prepare('SELECT * FROM auth_tokens').all() : (await h.pool.query(`SELECT * FROM ${h.schema}.auth_tokens`)).rows;
  return JSON.stringify(rows);
}

describe.each([
  { kind: 'sqlite' as const, up: true },
  { kind: 'postgres' as const, up: pgUp },
])('token repository on $kind', ({ kind, up }) => {
  it.runIf(up)('stores only a hash, finds tokens by id, lists, touches and revokes them', async () => {
    let now = 1_700_000_000_000;
    const store = await open(kind);
    const repo = await TokenRepository.open(store, () => now);
    expect(await repo.hasActiveAdmin()).toBe(false);

    const a = await repo.create({ name: 'ci', role: 'developer', team: 'team-a', expiresAt: now + 86_400_000, createdBy: 'token:000000000000' });
    now += 1_000; // list() is in creation order
    const b = await repo.create({ name: 'root', role: 'admin', team: null, expiresAt: null, createdBy: null });
    const parsed = parseToken(a.token)!;
    expect(parsed).toMatchObject({ kind: 'api', id: a.record.id });
    expect(parsed.secret).toHaveLength(43);

    // At rest: the hash, never the token or its secret.
    const text = await dump(store);
    expect(text).not.toContain(parsed.secret);
    expect(text).not.toContain(parseToken(b.token)!.secret);
    expect(text).toContain(hashSecret(parsed.secret));

    const found = await repo.lookup(a.record.id);
    expect(found!.record).toEqual(a.record);
    expect(secretMatches(parsed.secret, found!.secretHash)).toBe(true);
    expect(secretMatches(parseToken(b.token)!.secret, found!.secretHash)).toBe(false);
    expect(await repo.lookup('ffffffffffff')).toBeNull();

    expect(await repo.hasActiveAdmin()).toBe(true);
    expect((await repo.list()).map((t) => t.name)).toEqual(['ci', 'root']);
    expect((await repo.list({ team: 'team-a' })).map((t) => t.name)).toEqual(['ci']);

    now += 5_000;
    await repo.touch(a.record.id, now);
    expect((await repo.lookup(a.record.id))!.record.lastUsedAt).toBe(now);

    expect(await repo.revoke(b.record.id)).toBe(true);
    expect(await repo.revoke(b.record.id)).toBe(false);
    expect(await repo.hasActiveAdmin()).toBe(false);
    expect((await repo.list()).map((t) => t.name)).toEqual(['ci']);
    expect((await repo.list({ includeRevoked: true })).find((t) => t.name === 'root')!.revokedAt).toBe(now);

    // Reopening applies no migration twice and keeps the rows.
    const again = await TokenRepository.open(store, () => now);
    expect((await again.list({ includeRevoked: true })).length).toBe(2);
  });
});

describe('token format and roles', () => {
  it('parses only well-formed tokens', () => {
    expect(parseToken('oc_0123456789ab_' + 'A'.repeat(43))).toMatchObject({ kind: 'api', id: '0123456789ab' });
    expect(parseToken('oca_0123456789ab_' + 'A'.repeat(43))).toMatchObject({ kind: 'agent' });
    for (const bad of ['', 'oc_', 'oc_0123456789ab_short', 'xx_0123456789ab_' + 'A'.repeat(43), 'oc_0123456789AB_' + 'A'.repeat(43), 'agent:monitor']) {
      expect(parseToken(bad)).toBeNull();
    }
    expect(parseExpiry('30d')).toBe(30 * 86_400_000);
    expect(parseExpiry('0d')).toBeNull();
    expect(parseExpiry('soon')).toBeNull();
  });

  it('grants the seed 003 §11 permissions and keeps administration to admins', () => {
    expect(rolePermissions('admin')).toEqual(ALL_PERMISSIONS.filter((p) => p !== 'public'));
    for (const p of ['agents:read', 'agents:create', 'agents:update', 'logs:read', 'state:read'] as const) expect(roleAllows('developer', p)).toBe(true);
    for (const p of ['agents:read', 'logs:read'] as const) expect(roleAllows('viewer', p)).toBe(true);
    for (const p of ['tokens:admin', 'secrets:write', 'daemon:admin', 'audit:read', 'llm:keys'] as const) {
      expect([roleAllows('developer', p), roleAllows('viewer', p), roleAllows('agent', p)]).toEqual([false, false, false]);
    }
    // viewers only read
    for (const p of rolePermissions('viewer')) expect(p).toMatch(/:read$/);
    expect(rolePermissions('agent').sort()).toEqual(['agents:read', 'events:publish', 'logs:read', 'state:read', 'state:write']);
    // a Prometheus scraper's token reads metrics (and health), nothing else
    expect(rolePermissions('metrics')).toEqual(['health:read', 'metrics:read']);
  });

  it('docs/api.md shows the same role table as roles.ts', () => {
    const doc = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../docs/api.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z]+:[a-z]+)` \|[^|]*\|([^\n]*)\|$/gm)].map((m) => [m[1], m[2]!.split('|').map((c) => c.trim() !== '')] as const);
    expect(rows.map(([p]) => p).sort()).toEqual(ALL_PERMISSIONS.filter((p) => p !== 'public').sort());
    for (const [p, cells] of rows) {
      const perm = p as (typeof ALL_PERMISSIONS)[number];
      expect([p, ...cells]).toEqual([p, roleAllows('admin', perm), roleAllows('developer', perm), roleAllows('viewer', perm), roleAllows('metrics', perm), roleAllows('agent', perm)]);
    }
  });

  it('tells loopback from other addresses', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.5.5.5']) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', '0.0.0.0', '::', 'garbage', undefined]) expect(isLoopbackAddress(a)).toBe(false);
    expect([isLoopbackHost('localhost'), isLoopbackHost('[::1]'), isLoopbackHost('0.0.0.0'), isLoopbackHost('example.com')]).toEqual([true, true, false, false]);
  });
});

describe('the authorizer', () => {
  async function server(mode: 'token' | 'local-trust') {
    const store = await open('sqlite');
    let now = Date.now();
    const repo = await TokenRepository.open(store, () => now);
    const audit: AuditEntry[] = [];
    const authz = createAuthorizer({
      mode,
      tokens: repo,
      agentTokens: new AgentTokens(() => true),
      now: () => now,
      audit: () => ({ record: (e) => void audit.push(e) }),
      ownerOf: () => undefined,
      useSampleMs: 60_000,
    });
    const api = createApiServer({} as ControlPlane, {
      host: '127.0.0.1',
      port: 0,
      authorize: authz.authorize,
      onResponse: authz.onResponse,
      routes: [
        (app) => {
          defineRoute(app, { method: 'GET', url: '/t/read', permission: 'agents:read', handler: ({ req }) => ({ principal: req.principal }) });
          defineRoute(app, { method: 'POST', url: '/t/write', permission: 'agents:update', handler: () => ({ ok: true }) });
        },
      ],
    });
    await api.app.ready();
    return { api, repo, audit, advance: (ms: number) => (now += ms) };
  }

  it('under local-trust lets loopback callers in as local, and asks everyone else for a token', async () => {
    const { api } = await server('local-trust');
    const local = await api.app.inject({ method: 'GET', url: '/t/read', remoteAddress: '127.0.0.1' });
    expect(local.statusCode).toBe(200);
    expect(local.json().principal).toEqual({ id: 'local', role: 'local', team: null });
    const remote = await api.app.inject({ method: 'GET', url: '/t/read', remoteAddress: '10.1.2.3' });
    expect(remote.statusCode).toBe(401);
    expect(remote.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(remote.json().error.message).toContain('Authorization: Bearer');
    // A loopback socket naming another host is a DNS-rebound page (evil.example → 127.0.0.1), with or
    // without a planted session cookie: no loopback trust for it.
    for (const headers of [{ host: 'evil.example:8400' }, { host: 'evil.example:8400', cookie: 'oc_session=planted' }]) {
      const rebound = await api.app.inject({ method: 'GET', url: '/t/read', remoteAddress: '127.0.0.1', headers });
      expect([rebound.statusCode, rebound.json().error.message]).toEqual([401, expect.stringContaining('DNS-rebound')]);
    }
    for (const host of ['localhost:8400', '127.0.0.1:8400', '[::1]:8400']) {
      expect((await api.app.inject({ method: 'GET', url: '/t/read', remoteAddress: '127.0.0.1', headers: { host } })).statusCode).toBe(200);
    }
    await api.close();
  });

  it('refuses missing, malformed, unknown, revoked and expired tokens with 401 and says which', async () => {
    const { api, repo, advance } = await server('token');
    const get = (token?: string) => api.app.inject({ method: 'GET', url: '/t/read', remoteAddress: '127.0.0.1', headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await get()).statusCode).toBe(401);
    const malformed = await get('hunter2');
    expect([malformed.statusCode, malformed.json().error.message]).toEqual([401, expect.stringContaining('not an OpenClaw token')]);
    const v = await repo.create({ name: 'v', role: 'viewer', team: null, expiresAt: null, createdBy: null });
    const wrong = v.token.slice(0, -4) + (v.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await get(wrong)).json().error.message).toContain('wrong secret');
    const ok = await get(v.token);
    expect(ok.statusCode).toBe(200);
    expect(ok.json().principal).toEqual({ id: `token:${v.record.id}`, role: 'viewer', team: null });

    const e = await repo.create({ name: 'short', role: 'admin', team: null, expiresAt: Date.now() + 60_000, createdBy: null });
    expect((await get(e.token)).statusCode).toBe(200);
    advance(61_000);
    const expired = await get(e.token);
    expect([expired.statusCode, expired.json().error.message]).toEqual([401, expect.stringContaining('expired')]);

    await repo.revoke(v.record.id);
    const revoked = await get(v.token);
    expect([revoked.statusCode, revoked.json().error.message]).toEqual([401, expect.stringContaining('revoked')]);
    await api.close();
  });

  it('answers 403 naming the permission and the role, audits token use sampled and every mutation', async () => {
    const { api, repo, audit } = await server('token');
    const v = await repo.create({ name: 'v', role: 'viewer', team: null, expiresAt: null, createdBy: null });
    const auth = { authorization: `Bearer ${v.token}` };
    for (let i = 0; i < 5; i++) expect((await api.app.inject({ method: 'GET', url: '/t/read', headers: auth })).statusCode).toBe(200);
    const denied = await api.app.inject({ method: 'POST', url: '/t/write', headers: auth });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.message).toContain("needs permission 'agents:update'");
    expect(denied.json().error.message).toContain("role 'viewer'");
    // Six requests with one token: one token.use record within the sampling window.
    expect(audit.filter((e) => e.action === 'token.use')).toHaveLength(1);
    expect(audit.filter((e) => e.action === 'api.mutation')).toEqual([
      { actor: `token:${v.record.id}`, action: 'api.mutation', target: '/t/write', detail: { method: 'POST', route: '/t/write', status: 403 } },
    ]);
    await api.close();
  });
});
