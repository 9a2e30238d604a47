// The workflow API and CLI against a real Fastify server on loopback: approvals through the API
// and through `openclaw approve|reject`, a caller that may not approve refused (by permission, and
// by the step's approvers), and webhooks refused for a bad signature, a replay, a stale timestamp
// and an oversize body — each a clear 4xx that starts no run.
//
// Principals are injected through createApiServer's `authorize` seam (over a FakeControlPlane, so
// no agents are needed), checked against the REAL role table (src/security/auth/roles.ts): the
// approvers check of the engine and the CLI's rendering, for principals of every kind. The same
// flow with real tokens on a real daemon is test/workflows/approvals-auth.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyRequest } from 'fastify';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import type { Permission, Principal } from '../../src/api/route.js';
import { OpenClawError } from '../../src/util/errors.js';
import { roleAllows } from '../../src/security/auth/roles.js';
import { run as runCli } from '../../src/cli/main.js';
import { workflowRoutes, type RunDetail } from '../../src/workflows/routes.js';
import { sign } from '../../src/workflows/webhook.js';
import { systemClock } from '../../src/scheduler/types.js';
import { waitFor } from '../helpers/project.js';
import { FakeControlPlane } from '../api/fake-control.js';
import { dropSchemas, finished, makeHarness, type Harness } from './harness.js';

const PRINCIPALS: Record<string, Principal> = {
  admin: { id: 'token:admin', role: 'admin', team: null },
  // workflows:approve is admin-only: the approvers list then decides among team admins.
  finance: { id: 'token:fin', role: 'admin', team: 'finance' },
  dev: { id: 'token:dev', role: 'admin', team: 'eng' },
  viewer: { id: 'token:view', role: 'viewer', team: null },
};
let cliAs: Principal = PRINCIPALS.admin;

function authorize(req: FastifyRequest, permission: Permission): void {
  const bearer = /^Bearer (\w+)$/.exec(req.headers.authorization ?? '')?.[1];
  const p = bearer ? PRINCIPALS[bearer] : cliAs;
  if (!p) throw new OpenClawError('unauthorized', 'unknown token', { status: 401 });
  if (!roleAllows(p.role, permission)) throw new OpenClawError('forbidden', `role ${p.role} lacks ${permission}`, { status: 403 });
  req.principal = p;
}

const SECRET = 'whsec_test_0123456789';
let h: Harness;
let api: ApiServer;
let url: string;

beforeAll(async () => {
  h = await makeHarness('sqlite', `
  eod:
    steps:
      - { id: build, type: shell, command: 'echo report' }
      - { id: signoff, type: approval, needs: build, approvers: [finance], message: 'Publish the report?' }
      - { id: publish, type: shell, needs: signoff, command: 'echo published' }
  hooked:
    triggers:
      - webhook: { secret: '\${secret:HOOK_SECRET}', max_body: 1kb }
    steps:
      - { id: got, type: shell, env: { ORDER: '\${{ inputs.order }}' }, command: 'echo $ORDER' }
`, { services: { secrets: { get: async () => SECRET, expand: async (t: string) => t.replace('${secret:HOOK_SECRET}', SECRET), values: () => [SECRET] } } });
  api = createApiServer(new FakeControlPlane(), { host: '127.0.0.1', port: 0, authorize, routes: [workflowRoutes({ engine: h.engine, defs: () => h.defs, clock: systemClock, secrets: () => h.services.secrets })] });
  url = (await api.listen()).url;
});

afterAll(async () => {
  await api?.close();
  await h?.close();
  await dropSchemas();
});

async function call(method: string, path: string, as: keyof typeof PRINCIPALS, body?: unknown) {
  const res = await fetch(url + path, { method, headers: { authorization: `Bearer ${as}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'openclaw', ...args, '--url', url], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

const waiting = (runId: string) => waitFor('the approval gate waiting', async () => (await call('GET', `/api/workflow-runs/${runId}`, 'viewer')).body.steps?.find((s: { key: string }) => s.key === 'signoff')?.status === 'waiting');

describe('approval gates through the API', () => {
  it('refuses a caller without workflows:approve and one outside the approvers; accepts an approver', async () => {
    const started = await call('POST', '/api/workflows/eod/runs', 'dev', { input: { day: '2026-04-18' } });
    expect(started.status).toBe(202);
    const runId = started.body.runId as string;
    await waiting(runId);

    const listed = await call('GET', '/api/approvals', 'viewer');
    expect(listed.body.approvals).toContainEqual(expect.objectContaining({ runId, step: 'signoff', message: 'Publish the report?', approvers: ['finance'] }));

    const viewer = await call('POST', `/api/workflow-runs/${runId}/steps/signoff/approve`, 'viewer');
    expect(viewer).toEqual({ status: 403, body: { error: { code: 'forbidden', message: 'role viewer lacks workflows:approve' } } });
    const dev = await call('POST', `/api/workflow-runs/${runId}/steps/signoff/approve`, 'dev', { comment: 'lgtm' });
    expect(dev.status).toBe(403);
    expect(dev.body.error.code).toBe('approver_not_allowed');
    expect(dev.body.error.message).toContain('approvers are finance');
    expect((await call('GET', `/api/workflow-runs/${runId}`, 'viewer')).body.steps.find((s: { key: string }) => s.key === 'signoff').status).toBe('waiting');

    const fin = await call('POST', `/api/workflow-runs/${runId}/steps/signoff/approve`, 'finance', { comment: 'numbers checked' });
    expect(fin).toEqual({ status: 200, body: { runId, step: 'signoff', status: 'succeeded', decidedBy: 'token:fin', comment: 'numbers checked' } });
    expect((await finished(h, runId)).status).toBe('succeeded');
    const again = await call('POST', `/api/workflow-runs/${runId}/steps/signoff/approve`, 'finance');
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('not_waiting');
  });
});

describe('approval gates through the CLI', () => {
  it('openclaw approve / reject, with a refused caller getting a clear error and exit 1', async () => {
    cliAs = PRINCIPALS.admin;
    const started = await cli('workflow', 'run', 'eod', '--json');
    expect(started.code).toBe(0);
    const { runId } = JSON.parse(started.out) as { runId: string };
    await waiting(runId);

    const shown = await cli('workflow', 'show', runId.slice(0, 8));
    expect(shown.out).toMatch(/⏸ signoff\s+waiting/);
    expect(shown.out).toContain('waiting for approval by finance');

    cliAs = PRINCIPALS.dev;
    const refused = await cli('approve', runId, 'signoff');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('error: token:dev (role admin, team eng) may not decide step \'signoff\': approvers are finance');

    cliAs = PRINCIPALS.viewer;
    expect((await cli('reject', runId, 'signoff')).err).toContain('role viewer lacks workflows:approve');

    cliAs = PRINCIPALS.finance;
    const rejected = await cli('reject', runId, 'signoff', '--comment', 'totals do not add up');
    expect(rejected.code).toBe(0);
    expect(rejected.out).toContain(`Rejected signoff of run ${runId} (as token:fin)`);
    const run = await finished(h, runId);
    expect(run.status).toBe('failed');
    const shownAfter = await cli('workflow', 'show', runId);
    expect(shownAfter.out).toMatch(/✗ signoff\s+failed.*by token:fin: totals do not add up/);
    expect(shownAfter.out).toMatch(/○ publish\s+skipped/);

    // Retry the rejected gate: it waits again; approve it through the CLI this time.
    cliAs = PRINCIPALS.admin;
    expect((await cli('workflow', 'retry', runId)).out).toContain(`Retrying run ${runId}: signoff, publish`);
    await waiting(runId);
    cliAs = PRINCIPALS.finance;
    expect((await cli('approve', runId, 'signoff')).code).toBe(0);
    expect((await finished(h, runId)).status).toBe('succeeded');
    const runs = await cli('workflow', 'runs', 'eod');
    expect(runs.out).toContain(runId);
    const list = await cli('workflow', 'list');
    expect(list.out).toMatch(/│ hooked\s+│\s+1 │ webhook/);
  });
});

describe('webhooks', () => {
  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${url}/api/hooks/hooked`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));
  const signed = (body: string, ts = Math.floor(Date.now() / 1000), secret = SECRET) => ({ 'x-openclaw-timestamp': String(ts), 'x-openclaw-signature': sign(secret, ts, body) });
  const runCount = async () => (await h.repo.listRuns({ workflow: 'hooked', limit: 1000 })).length;

  it('starts a run for a correctly signed request, with the JSON body as input', async () => {
    const body = JSON.stringify({ order: 'A-17' });
    const r = await post(body, signed(body));
    expect(r.status).toBe(202);
    const run = await finished(h, r.body.runId);
    expect(run.status).toBe('succeeded');
    expect(run.trigger.type).toBe('webhook');
    expect(((await h.repo.getSteps(run.id))[0].output as { stdout: string }).stdout.trim()).toBe('A-17');
  });

  it('refuses a bad signature, a replay, a stale timestamp, a missing signature and an oversize body, starting nothing', async () => {
    const before = await runCount();
    const body = JSON.stringify({ order: 'B-2' });

    const wrongKey = await post(body, signed(body, undefined, 'not-the-secret'));
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.error.code).toBe('webhook_bad_signature');
    const tampered = await post(JSON.stringify({ order: 'B-3' }), signed(body));
    expect(tampered.body.error.code).toBe('webhook_bad_signature');

    const unsigned = await post(body, {});
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.error.message).toContain('X-OpenClaw-Signature');

    const old = Math.floor(Date.now() / 1000) - 3600;
    const stale = await post(body, signed(body, old));
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('webhook_stale');

    const big = JSON.stringify({ order: 'x'.repeat(2000) });
    const oversize = await post(big, signed(big));
    expect(oversize.status).toBe(413);
    expect(oversize.body.error.message).toContain('max_body');
    const huge = JSON.stringify({ order: 'x'.repeat(2 * 1024 * 1024) });
    expect((await post(huge, signed(huge))).status).toBe(413);

    const ok = signed(body);
    expect((await post(body, ok)).status).toBe(202);
    const replay = await post(body, ok);
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('webhook_replayed');

    const unknown = await fetch(`${url}/api/hooks/eod`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...signed('{}') } });
    expect(unknown.status).toBe(404);

    expect(await runCount()).toBe(before + 1); // only the one good delivery
  });
});
