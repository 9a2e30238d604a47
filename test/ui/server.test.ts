// The dashboard's server side without a browser, on SQLite and PostgreSQL: the 503 page when the UI
// was not built, sign-in to an HttpOnly SameSite=Strict session, CSRF and Origin refusals, bulk
// actions with a dry run (audited), spend totals that reconcile with the ledger and survive deletes,
// and full-text search with keyset pagination.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { uiModule } from '../../src/api/ui/module.js';
import { havePostgres, dropSchemas } from '../helpers/services.js';
import { waitFor } from '../helpers/project.js';
import { createToken, seedLedger, startUiDaemon, type Backend, type UiDaemon } from './harness.js';

const backends: Backend[] = ['sqlite', 'postgres'];
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

function cookieOf(res: Response): string {
  const set = res.headers.get('set-cookie') ?? '';
  return set.split(';')[0]!;
}

describe.each(backends)('dashboard server on %s', (backend) => {
  let d: UiDaemon;
  let skip = false;
  let emptyDir: string;

  beforeAll(async () => {
    if (backend === 'postgres' && !(await havePostgres())) {
      skip = true;
      return;
    }
    emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ui-empty-'));
    // A UI directory without a build: the daemon must still start and explain at /ui.
    d = await startUiDaemon(backend, { modules: (m) => [...m.filter((x) => x.name !== 'ui'), uiModule({ dir: emptyDir })] });
    if (d.schema) schemas.push(d.schema);
  }, 60_000);

  afterAll(async () => {
    await d?.close();
    if (emptyDir) fs.rmSync(emptyDir, { recursive: true, force: true });
  });

  it('serves a clear 503 page when the dashboard was not built, with security headers', async () => {
    if (skip) return;
    const res = await fetch(`${d.url}/ui`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('dashboard not built: run npm run build');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('signs in with a token into an HttpOnly SameSite=Strict cookie; a bad token is refused', async () => {
    if (skip) return;
    const bad = await fetch(`${d.url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'oc_nope' }) });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as any).error.message).toContain('sign-in refused');
    const res = await fetch(`${d.url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: d.viewer }) });
    expect(res.status).toBe(200);
    const set = res.headers.get('set-cookie') ?? '';
    expect(set).toMatch(/HttpOnly/i);
    expect(set).toMatch(/SameSite=Strict/i);
    expect(set).not.toContain(d.viewer.slice(16)); // the cookie holds a session id, never the token
    const session = (await (await fetch(`${d.url}/api/ui/session`, { headers: { cookie: cookieOf(res) } })).json()) as any;
    expect(session.principal.role).toBe('viewer');
    expect(session.permissions).not.toContain('agents:update');
    expect(session.csrf).toEqual(expect.any(String));
  });

  it('refuses a state-changing request signed in by the cookie without the CSRF token, and one from another origin', async () => {
    if (skip) return;
    const login = await fetch(`${d.url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: d.admin }) });
    const cookie = cookieOf(login);
    const { csrf } = (await login.json()) as { csrf: string };
    const forged = await fetch(`${d.url}/api/agents/bravo/pause`, { method: 'POST', headers: { cookie } });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as any).error.code).toBe('csrf_required');
    const foreign = await fetch(`${d.url}/api/agents/bravo/pause`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as any).error.code).toBe('origin_refused');
    expect((await d.api(d.admin, 'GET', '/api/agents/bravo')).body.desired).toBe('running');
    const ok = await fetch(`${d.url}/api/agents/bravo/pause`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, origin: d.url } });
    expect(ok.status).toBe(200);
    expect((await d.api(d.admin, 'GET', '/api/agents/bravo')).body.desired).toBe('paused');
    await d.api(d.admin, 'POST', '/api/agents/bravo/resume');
  });

  it('refuses the live WebSocket from another origin when it rides on the session cookie, and serves it to our own', async () => {
    if (skip) return;
    const login = await fetch(`${d.url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: d.viewer }) });
    const cookie = cookieOf(login);
    const ws = (origin: string) =>
      new Promise<string>((resolve) => {
        const s = new WebSocket(`${d.url.replace('http', 'ws')}/api/ui/live?view=fleet`, { headers: { cookie, origin } });
        s.on('message', (m) => {
          resolve(String(m));
          s.close();
        });
        s.on('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
        s.on('error', () => undefined);
      });
    expect(await ws('http://evil.example')).toBe('status 403');
    expect(JSON.parse(await ws(d.url))).toMatchObject({ type: 'hello', view: 'fleet' });
    // A caller with its own bearer token carries no ambient credential: no Origin rule applies.
    const sdk = await fetch(`${d.url}/api/events`, { method: 'POST', headers: { authorization: `Bearer ${d.admin}`, origin: 'http://app.example', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'from-a-browser-app' }) });
    expect(sdk.status).toBe(202);
  });

  it("a team token reads its own agents' detail and run timelines, not another team's", async () => {
    if (skip) return;
    const payments = await createToken(d.url, d.admin, '--role', 'viewer', '--team', 'payments', '--name', `payments-detail-${backend}`);
    const search = await createToken(d.url, d.admin, '--role', 'viewer', '--team', 'search', '--name', `search-detail-${backend}`);
    expect((await d.api(payments, 'GET', '/api/ui/agents/alpha')).status).toBe(200);
    expect((await d.api(payments, 'GET', '/api/ui/agents/alpha/runs/some-run')).body).toMatchObject({ run: null, items: [] });
    for (const route of ['/api/ui/agents/alpha', '/api/ui/agents/alpha/runs/some-run']) {
      const r = await d.api(search, 'GET', route);
      expect([route, r.status]).toEqual([route, 403]);
    }
  });

  it("a team token naming its own agent and another team's run id sees none of that run's __shared writes", async () => {
    if (skip) return;
    // Two finished runs that each wrote a version of the shared namespace: one of alpha (team payments),
    // one of bravo (team search), as a run's commit records them (runs row + state_versions.run_id).
    const now = Date.now();
    const run = (id: string, agent: string) =>
      d.sql.all(`INSERT INTO {p}runs (id, agent, instance, trigger, status, scheduled_at, started_at, finished_at, error, reason, event_id)
        VALUES (?, ?, NULL, 'manual', 'succeeded', NULL, ?, ?, NULL, NULL, NULL)`, id, agent, now, now + 5);
    const shared = (runId: string, version: number, key: string) =>
      d.sql.all(`INSERT INTO {p}state_versions (namespace, version, created_at, size_bytes, key_count, changed_keys, run_id, reason)
        VALUES ('__shared', ?, ?, 10, 1, ?, ?, 'commit')`, version, now + 1, JSON.stringify([key]), runId);
    await run(`alpha-shared-${backend}`, 'alpha');
    await shared(`alpha-shared-${backend}`, 9001, 'payments-key');
    await run(`bravo-shared-${backend}`, 'bravo');
    await shared(`bravo-shared-${backend}`, 9002, 'search-secret-plan');
    const payments = await createToken(d.url, d.admin, '--role', 'developer', '--team', 'payments', '--name', `payments-shared-${backend}`);

    const own = await d.api(payments, 'GET', `/api/ui/agents/alpha/runs/alpha-shared-${backend}`);
    expect(own.status).toBe(200);
    expect(own.body.items.filter((i: any) => i.kind === 'state')).toEqual([expect.objectContaining({ namespace: '__shared', version: 9001, keys: ['payments-key'] })]);

    const foreign = await d.api(payments, 'GET', `/api/ui/agents/alpha/runs/bravo-shared-${backend}`);
    expect(foreign.body).toMatchObject({ run: null, items: [] });
    expect(JSON.stringify(foreign.body)).not.toContain('search-secret-plan');
    // The owner of the run still sees it through its own agent.
    const bravo = await d.api(d.admin, 'GET', `/api/ui/agents/bravo/runs/bravo-shared-${backend}`);
    expect(bravo.body.items.filter((i: any) => i.kind === 'state').map((i: any) => i.keys)).toEqual([['search-secret-plan']]);
  });

  it('bulk actions: a dry run counts "all matching" without acting; the real one acts, audited', async () => {
    if (skip) return;
    const dry = await d.api(d.admin, 'POST', '/api/ui/agents/bulk/pause', { filter: { q: 'search' }, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, count: 2, names: ['bravo', 'delta'] });
    expect((await d.api(d.admin, 'GET', '/api/agents/delta')).body.desired).toBe('running');
    const viewer = await d.api(d.viewer, 'POST', '/api/ui/agents/bulk/pause', { filter: { q: 'search' }, dryRun: false });
    expect(viewer.status).toBe(403);
    const done = await d.api(d.admin, 'POST', '/api/ui/agents/bulk/pause', { filter: { q: 'search' }, dryRun: false });
    expect(done.body).toMatchObject({ count: 2, succeeded: 2 });
    expect((await d.api(d.admin, 'GET', '/api/agents/delta')).body.desired).toBe('paused');
    const audit = await waitFor('ui.bulk audited', async () => {
      const r = await d.api(d.admin, 'GET', '/api/audit?action=ui.bulk');
      return r.body.records?.length ? r.body.records : r.body.entries?.length ? r.body.entries : null;
    });
    expect(JSON.stringify(audit)).toContain('"count":2');
    await d.api(d.admin, 'POST', '/api/ui/agents/bulk/resume', { names: ['bravo', 'delta'], dryRun: false });
    const bad = await d.api(d.admin, 'POST', '/api/ui/agents/bulk/pause', { names: ['nope'], dryRun: true });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'unknown_agents']);
  });

  it('spend totals equal the usage ledger to the nano-dollar, per group too, and survive deleted usage rows', async () => {
    if (skip) return;
    await seedLedger(d, 200);
    const spend = (await d.api(d.admin, 'GET', '/api/ui/spend?days=7')).body;
    const ledger = await d.ledgerNusd(7);
    expect(ledger).toBeGreaterThan(0);
    expect(spend.total.costNusd).toBe(ledger);
    for (const g of ['byDay', 'byAgent', 'byModel', 'byKey']) expect(spend[g].reduce((t: number, r: any) => t + r.costNusd, 0)).toBe(ledger);
    expect(spend.total.requests).toBe(200);
    await d.sql.all(`DELETE FROM {p}llm_usage WHERE id IN ('seed-1', 'seed-2')`);
    expect((await d.api(d.admin, 'GET', '/api/ui/spend?days=7')).body.total.costNusd).toBe(ledger);
  });

  it('searches event payloads by full text with keyset pagination, and runs by the payload of their event', async () => {
    if (skip) return;
    for (let i = 0; i < 5; i++) await d.api(d.admin, 'POST', '/api/events', { name: 'tock', data: { note: `invoice zebra${i % 2 ? 'odd' : 'even'} ${i}` } });
    await d.api(d.admin, 'POST', '/api/events', { name: 'other', data: { note: 'nothing here' } });
    const p1 = (await d.api(d.admin, 'GET', '/api/ui/search?kind=events&q=invoice&limit=2')).body;
    expect(p1.rows).toHaveLength(2);
    expect(p1.next).toEqual(expect.any(Number));
    const p2 = (await d.api(d.admin, 'GET', `/api/ui/search?kind=events&q=invoice&limit=2&before=${p1.next}`)).body;
    const p3 = (await d.api(d.admin, 'GET', `/api/ui/search?kind=events&q=invoice&limit=2&before=${p2.next}`)).body;
    expect(p3.next).toBeNull();
    const seqs = [...p1.rows, ...p2.rows, ...p3.rows].map((r: any) => r.seq);
    expect(seqs).toHaveLength(5);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);
    const odd = (await d.api(d.admin, 'GET', '/api/ui/search?kind=events&q=zebraodd')).body.rows;
    expect(odd.map((r: any) => JSON.parse(r.payload).note)).toEqual(['invoice zebraodd 3', 'invoice zebraodd 1']);
    // alpha (counter) handles tock: its runs are found by their event's payload.
    const runs = await waitFor('runs of zebraodd events', async () => {
      const r = (await d.api(d.admin, 'GET', '/api/ui/search?kind=runs&q=zebraodd&agent=alpha')).body.rows;
      return r.length === 2 ? r : null;
    });
    expect(runs.every((r: any) => r.agent === 'alpha' && r.event_name === 'tock')).toBe(true);

    // A team token searches its team's runs only (alpha belongs to team payments, not search).
    const searchTeam = await createToken(d.url, d.admin, '--role', 'viewer', '--team', 'search', '--name', `search-viewer-${backend}`);
    expect((await d.api(searchTeam, 'GET', '/api/ui/search?kind=runs&q=zebraodd')).body.rows).toEqual([]);
    const payments = await createToken(d.url, d.admin, '--role', 'viewer', '--team', 'payments', '--name', `payments-viewer-${backend}`);
    expect((await d.api(payments, 'GET', '/api/ui/search?kind=runs&q=zebraodd')).body.rows).toHaveLength(2);
    // Events: those its agents emitted or subscribe to (alpha subscribes to tock).
    expect((await d.api(searchTeam, 'GET', '/api/ui/search?kind=events&q=zebraodd')).body.rows).toEqual([]);
    expect((await d.api(payments, 'GET', '/api/ui/search?kind=events&q=zebraodd')).body.rows).toHaveLength(2);
  });
});
