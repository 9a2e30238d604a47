// RBAC on a real daemon with token auth: every route of the assembled API (core and modules,
// collected as they register) × every role, allowed or denied exactly as the role table declares;
// team tokens only reach their team's agents; a real command agent's OPENCLAW_TOKEN reaches only
// its own agent and dies with its instance and with the daemon.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import type { DaemonModule } from '../../src/daemon/modules.js';
import { defineRoute } from '../../src/api/route.js';
import { roleAllows, TOKEN_ROLES, type TokenRole } from '../../src/security/auth/roles.js';
import { fixture, waitFor } from '../helpers/project.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROBER = path.join(HERE, 'fixtures', 'token-prober.mjs');

/** A module added after the core: its routes must be enumerated and checked like the rest. */
const lateModule: DaemonModule = {
  name: 'late-test-module',
  async start(ctx) {
    ctx.routes((app) => {
      defineRoute(app, { method: 'GET', url: '/api/late/:name', permission: 'jobs:read', params: z.object({ name: z.string() }), handler: () => ({ ok: true }) });
      defineRoute(app, { method: 'POST', url: '/api/late', permission: 'workflows:approve', body: z.object({ x: z.number() }).strict(), handler: () => ({ ok: true }) });
    });
  },
};

let dir: string;
let daemon: Daemon;
let adminToken: string;
const tokens: Partial<Record<TokenRole, string>> = {};
const teamTokens: Record<string, string> = {};
const tokenOut = () => path.join(dir, 'prober-token');

async function call(method: string, route: string, token?: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(daemon.url + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: { error?: { code: string; message: string } } & Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, headers: res.headers };
}

async function createToken(role: TokenRole, team?: string): Promise<string> {
  const r = await call('POST', '/api/tokens', adminToken, { role, ...(team ? { team } : {}), name: `${role}-${team ?? 'all'}` });
  expect(r.status).toBe(201);
  return (r.json as unknown as { token: string }).token;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-rbac-'));
  const yaml = [
    'project: rbac',
    'api:',
    '  port: 0',
    '  auth: token',
    'agents:',
    '  alpha:',
    `    source: ${fixture('ticker.ts')}`,
    '    owner: team-a',
    '  beta:',
    `    source: ${fixture('ticker.ts')}`,
    '    owner: team-b',
    // Event scoping: fail-a (team-a) and fail-b (team-b) both take `boom` and dead-letter it;
    // relay (team-b) takes `tick` and emits `tock`.
    '  fail-a:',
    `    source: ${fixture('throw-in-handler.ts')}`,
    '    owner: team-a',
    '    events: { max_attempts: 1, initial_delay: 50ms, max_delay: 100ms }',
    '  fail-b:',
    `    source: ${fixture('throw-in-handler.ts')}`,
    '    owner: team-b',
    '    events: { max_attempts: 1, initial_delay: 50ms, max_delay: 100ms }',
    '  relay:',
    `    source: ${fixture('relay.ts')}`,
    '    owner: team-b',
    '  prober:',
    `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(PROBER)}]`,
    `    env: { TOKEN_OUT: ${JSON.stringify(path.join(dir, 'prober-token'))}, OTHER_AGENT: alpha }`,
    '    owner: team-b',
    '    restart_policy: { backoff: immediate, initial_delay: 100ms }',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml);
  const config = await loadConfig(path.join(dir, 'openclaw.yaml'));
  daemon = await Daemon.start(config, { modules: [...createModules(), lateModule] });
  // Bootstrap: the daemon wrote an admin token for the CLI, readable by the owner only.
  const file = path.join(dir, '.openclaw', 'token');
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  adminToken = fs.readFileSync(file, 'utf8').trim();
  tokens.admin = adminToken;
  tokens.developer = await createToken('developer');
  tokens.viewer = await createToken('viewer');
  tokens.ingest = await createToken('ingest');
  tokens.metrics = await createToken('metrics');
  teamTokens.devA = await createToken('developer', 'team-a');
  teamTokens.adminA = await createToken('admin', 'team-a');
}, 60_000);

afterAll(async () => {
  await daemon?.shutdown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('every route × every role', () => {
  it('allows or denies each request exactly as the role table declares', async () => {
    const routes = daemon.apiRoutes();
    // The matrix covers what was registered, not a list kept by hand: core, auth and late routes.
    const urls = routes.map((r) => `${r.method} ${r.url}`);
    for (const must of ['GET /api/agents', 'PUT /api/agents/:name/state', 'POST /api/daemon/stop', 'POST /api/tokens', 'DELETE /api/tokens/:id', 'GET /api/late/:name', 'POST /api/late', 'GET /healthz']) {
      expect(urls).toContain(must);
    }
    const undeclared = routes.filter((r) => r.permission === undefined);
    expect(undeclared, 'every route declares a permission').toEqual([]);

    const failures: string[] = [];
    let checked = 0;
    for (const r of routes) {
      // Concrete values that pass authorization but change nothing: an unknown agent, an unknown
      // token id, and a body every strict schema rejects (400 after the permission check).
      const url = r.url.replace(':name', 'no-such-agent').replace(':id', '000000000000').replace(/:[A-Za-z]+/g, 'x');
      const body = r.method === 'POST' || r.method === 'PUT' ? { __matrixProbe: true } : undefined;
      for (const role of [...TOKEN_ROLES, 'anonymous'] as const) {
        const res = await call(r.method, url, role === 'anonymous' ? null : tokens[role], body);
        checked++;
        const p = r.permission!;
        let ok: boolean;
        if (p === 'public') ok = res.status !== 401 && res.status !== 403;
        else if (role === 'anonymous') ok = res.status === 401 && (res.headers.get('www-authenticate') ?? '').startsWith('Bearer');
        else if (roleAllows(role, p)) ok = res.status !== 401 && res.status !== 403;
        else ok = res.status === 403 && (res.json.error?.message ?? '').includes(`'${p}'`) && (res.json.error?.message ?? '').includes(`role '${role}'`);
        if (!ok) failures.push(`${r.method} ${r.url} [${p}] as ${role}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(routes.length * (TOKEN_ROLES.length + 1));
    // Nothing above changed the daemon: still healthy, agents untouched.
    expect((await call('GET', '/api/health', adminToken)).status).toBe(200);
  });
});

describe('teams', () => {
  it("a team-a token sees and manages team-a's agents only", async () => {
    const dev = teamTokens.devA!;
    const list = await call('GET', '/api/agents', dev);
    expect((list.json.agents as { name: string }[]).map((a) => a.name).sort()).toEqual(['alpha', 'fail-a']);
    expect((await call('GET', '/api/agents/alpha', dev)).status).toBe(200);
    expect((await call('GET', '/api/agents/alpha/state', dev)).status).toBe(200);

    for (const [method, route] of [
      ['GET', '/api/agents/beta'],
      ['GET', '/api/agents/beta/state'],
      ['GET', '/api/agents/beta/logs'],
      ['GET', '/api/agents/beta/runs'],
      ['POST', '/api/agents/beta/restart'],
      ['POST', '/api/agents/beta/trigger'],
    ] as const) {
      const r = await call(method, route, dev);
      expect([route, r.status]).toEqual([route, 403]);
      expect(r.json.error!.message).toContain("belongs to team 'team-b'");
    }
    // Even a team admin: state of another team's agent stays out of reach, its own is writable.
    const admin = teamTokens.adminA!;
    expect((await call('PUT', '/api/agents/beta/state', admin, { writes: [{ key: 'x', value: 1 }] })).status).toBe(403);
    expect((await call('PUT', '/api/agents/alpha/state', admin, { writes: [{ key: 'x', value: 1 }] })).status).toBe(200);
    expect((await call('GET', '/api/dead-letters?agent=beta', admin)).status).toBe(403);
    // A cross-team token reaches both.
    expect((await call('GET', '/api/agents/beta/state', tokens.developer)).status).toBe(200);
  });

  it("a team token sees only its agents' events and dead letters, and never the daemon's log", async () => {
    const admin = adminToken;
    await waitFor('the event agents to run', async () => {
      const agents = (await call('GET', '/api/agents', admin)).json.agents as { name: string; status: string }[];
      return ['fail-a', 'fail-b', 'relay'].every((n) => agents.find((a) => a.name === n)?.status === 'running');
    }, 30_000);
    expect((await call('POST', '/api/events', admin, { name: 'boom', data: { n: 1 } })).status).toBe(202);
    expect((await call('POST', '/api/events', admin, { name: 'tick', data: { seq: 7 } })).status).toBe(202);
    const all = await waitFor('both dead letters and the relayed tock', async () => {
      const dl = (await call('GET', '/api/dead-letters', admin)).json.deadLetters as { consumer: string }[];
      const ev = (await call('GET', '/api/events', admin)).json.events as { name: string; source: string | null }[];
      return dl.length >= 2 && ev.some((e) => e.name === 'tock') ? { dl, ev } : null;
    }, 30_000);
    // The team-less token sees everything: the scoping below is a filter, not an empty log.
    expect(all.dl.map((d) => d.consumer).sort()).toEqual(['fail-a', 'fail-b']);
    expect(all.ev.map((e) => e.name)).toEqual(expect.arrayContaining(['boom', 'tick', 'tock']));

    for (const tok of [teamTokens.devA!, teamTokens.adminA!]) {
      const ev = await call('GET', '/api/events', tok);
      expect(ev.status).toBe(200);
      // boom is delivered to fail-a; tick (to relay) and tock (from relay) are team-b's only.
      expect((ev.json.events as { name: string }[]).map((e) => e.name)).toEqual(['boom']);
      expect(((await call('GET', '/api/events?name=tock', tok)).json.events as unknown[]).length).toBe(0);
      const dl = await call('GET', '/api/dead-letters', tok);
      expect((dl.json.deadLetters as { consumer: string }[]).map((d) => d.consumer)).toEqual(['fail-a']);
      expect((await call('GET', '/api/dead-letters?agent=fail-a', tok)).status).toBe(200);
      const other = await call('GET', '/api/dead-letters?agent=fail-b', tok);
      expect([other.status, other.json.error?.message]).toEqual([403, expect.stringContaining("belongs to team 'team-b'")]);
      const daemonLog = await call('GET', '/api/agents/daemon/logs', tok);
      expect([daemonLog.status, daemonLog.json.error?.message]).toEqual([403, expect.stringContaining("'daemon' is not one of them")]);
      expect(daemonLog.json).not.toHaveProperty('lines');
    }
    // The daemon's log: a token without a team reads it.
    const log = await call('GET', '/api/agents/daemon/logs', tokens.viewer);
    expect(log.status).toBe(200);
    expect((log.json.lines as unknown[]).length).toBeGreaterThan(0);

    // Redrive: a team admin only by naming its own agent.
    const adminA = teamTokens.adminA!;
    const all1 = await call('POST', '/api/dead-letters/redrive', adminA, { all: true });
    expect([all1.status, all1.json.error?.message]).toEqual([403, expect.stringContaining('naming it')]);
    expect((await call('POST', '/api/dead-letters/redrive', adminA, { agent: 'fail-b' })).status).toBe(403);
    const ids = (await call('POST', '/api/dead-letters/redrive', adminA, { ids: [1, 2, 3] }));
    expect(ids.status).toBe(403);
    const own = await call('POST', '/api/dead-letters/redrive', adminA, { agent: 'fail-a' });
    expect([own.status, own.json.redriven]).toEqual([200, 1]);
    // fail-b's dead letter is still there.
    const left = (await call('GET', '/api/dead-letters?agent=fail-b', admin)).json.deadLetters as unknown[];
    expect(left.length).toBe(1);
  });

  it('a team token may not use the routes that reach every team; a team-less one may', async () => {
    const adminA = teamTokens.adminA!;
    for (const [method, route, body] of [
      ['POST', '/api/daemon/stop', {}],
      ['GET', '/api/audit', undefined],
      ['PUT', '/api/secrets/X', { value: 'v' }],
      ['POST', '/api/jobs/dead/redrive', { all: true }], // its own queues' jobs it may use (authz-matrix.test.ts)
      ['GET', '/api/workflows', undefined],
      ['GET', '/api/workflow-runs', undefined],
    ] as const) {
      const r = await call(method, route, adminA, body);
      expect([route, r.status, r.json.error?.message]).toEqual([route, 403, expect.stringContaining('reaches beyond any one team')]);
    }
    // Still allowed: approvals it may decide, secret names, health, its own agents.
    expect((await call('GET', '/api/approvals', adminA)).status).toBe(200);
    expect((await call('GET', '/api/secrets', adminA)).status).toBe(200);
    expect((await call('GET', '/api/health', adminA)).status).toBe(200);
    // The daemon is still up, and a team-less admin may read the audit log.
    expect((await call('GET', '/api/audit', adminToken)).status).toBe(200);
  });

  it('a team admin manages only its team’s tokens', async () => {
    const admin = teamTokens.adminA!;
    expect((await call('POST', '/api/tokens', admin, { role: 'viewer', team: 'team-b' })).status).toBe(403);
    const own = await call('POST', '/api/tokens', admin, { role: 'viewer' });
    expect(own.status).toBe(201);
    expect((own.json as unknown as { record: { team: string } }).record.team).toBe('team-a');
    const listed = await call('GET', '/api/tokens', admin);
    const teams = new Set((listed.json.tokens as { team: string }[]).map((t) => t.team));
    expect([...teams]).toEqual(['team-a']);
    expect(JSON.stringify(listed.json)).not.toMatch(/oc_[0-9a-f]{12}_/);
  });
});

describe("a command agent's own token", () => {
  it('reaches its own state, logs and status and publishes events, and nothing else', async () => {
    const r = await waitFor(
      'the prober to report',
      async () => ((await call('GET', '/api/agents/prober/state', adminToken)).json.state as { results?: Record<string, unknown> } | undefined)?.results,
      30_000,
    );
    expect(r).toMatchObject({ ownStateRead: 200, ownStatus: 200, ownLogs: 200, publish: 202, list: ['prober'] });
    expect((r.otherStateRead as { status: number }).status).toBe(403);
    expect((r.otherStateRead as { body: { error: { message: string } } }).body.error.message).toContain("scoped to agent 'prober'");
    expect((r.otherStateRead as { body: unknown }).body).not.toHaveProperty('state');
    expect(r).toMatchObject({ otherStateWrite: 403, otherStatus: 403, otherLogs: 403, restartSelf: 403, eventsRead: 403, tokens: 403, health: 403 });
    expect((await call('GET', '/api/agents/alpha/state', adminToken)).json.state).not.toHaveProperty('pwned');
    expect(fs.readFileSync(tokenOut(), 'utf8')).toMatch(/^oca_[0-9a-f]{12}_/);
  });

  it('stops working when its instance ends; the next instance gets a fresh one', async () => {
    const old = fs.readFileSync(tokenOut(), 'utf8');
    expect((await call('GET', '/api/agents/prober/state', old)).status).toBe(200);
    const oldPid = ((await call('GET', '/api/agents/prober/state', adminToken)).json.state as { pid: number }).pid;
    fs.rmSync(tokenOut());
    expect((await call('POST', '/api/agents/prober/restart', adminToken)).status).toBe(200);
    await waitFor('a new prober instance', async () => fs.existsSync(tokenOut()) && ((await call('GET', '/api/agents/prober/state', adminToken)).json.state as { pid: number }).pid !== oldPid, 30_000);
    const fresh = fs.readFileSync(tokenOut(), 'utf8');
    expect(fresh).not.toBe(old);
    const stale = await call('GET', '/api/agents/prober/state', old);
    expect([stale.status, stale.json.error?.message]).toEqual([401, expect.stringContaining('no longer valid')]);
    expect((await call('GET', '/api/agents/prober/state', fresh)).status).toBe(200);
    // Stopped: the token of the stopped instance is refused too.
    expect((await call('POST', '/api/agents/prober/stop', adminToken)).status).toBe(200);
    expect((await call('GET', '/api/agents/prober/state', fresh)).status).toBe(401);
  });

  it('is refused by a restarted daemon, even while an instance of the same name runs', async () => {
    fs.rmSync(tokenOut(), { force: true });
    expect((await call('POST', '/api/agents/prober/start', adminToken)).status).toBe(200);
    await waitFor('the prober token', () => fs.existsSync(tokenOut()), 30_000);
    const before = fs.readFileSync(tokenOut(), 'utf8');
    expect((await call('GET', '/api/agents/prober/state', before)).status).toBe(200);
    await daemon.shutdown();
    fs.rmSync(tokenOut());
    daemon = await Daemon.start(await loadConfig(path.join(dir, 'openclaw.yaml')), { modules: [...createModules(), lateModule] });
    await waitFor('the new prober token', () => fs.existsSync(tokenOut()), 30_000);
    const after = fs.readFileSync(tokenOut(), 'utf8');
    expect((await call('GET', '/api/agents/prober/state', before)).status).toBe(401);
    expect((await call('GET', '/api/agents/prober/state', after)).status).toBe(200);
    // API tokens survive the restart (they are in the store); no second bootstrap token.
    expect((await call('GET', '/api/agents', adminToken)).status).toBe(200);
    expect(fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim()).toBe(adminToken);
  }, 60_000);
});

describe('stopping the daemon', () => {
  it('a team admin may not; an admin without a team may', async () => {
    const refused = await call('POST', '/api/daemon/stop', teamTokens.adminA!, { reason: 'team admin' });
    expect([refused.status, refused.json.error?.message]).toEqual([403, expect.stringContaining("team 'team-a'")]);
    expect((await call('GET', '/api/health', adminToken)).status).toBe(200);
    const ok = await call('POST', '/api/daemon/stop', adminToken, { reason: 'rbac test' });
    expect([ok.status, ok.json.stopping]).toEqual([202, true]);
    await waitFor('the daemon to stop serving', async () => {
      try {
        await fetch(daemon.url + '/healthz');
        return false;
      } catch {
        return true;
      }
    }, 30_000);
  });
});
