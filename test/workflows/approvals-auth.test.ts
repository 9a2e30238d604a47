// Approval gates with REAL tokens: a daemon with `api.auth: token`, the bootstrap admin token it
// writes, and tokens made with `openclaw token create`. `workflows:approve` is admin-only
// (src/security/auth/roles.ts): a developer may start runs but is refused (403) approving through
// the API and through `openclaw approve`; an admin approves through the CLI and the run completes.
// A gate with `approvers: [team:ops]` refuses a team admin of another team (team tokens act only
// within their team), accepts a team admin of ops, and a project-wide admin may always decide.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { run as runCli } from '../../src/cli/main.js';
import type { RunDetail } from '../../src/workflows/routes.js';
import { waitFor } from '../helpers/project.js';

let dir: string;
let daemon: Daemon;
let admin: string;
const tok: Record<'dev' | 'financeAdmin' | 'opsAdmin' | 'opsDev', string> = { dev: '', financeAdmin: '', opsAdmin: '', opsDev: '' };
const idOf = (token: string) => `token:${token.slice(3, 15)}`;

async function cli(token: string, ...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'openclaw', ...args, '--url', daemon.url, '--token', token], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

async function api(token: string, method: string, route: string, body?: unknown) {
  const res = await fetch(daemon.url + route, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function createToken(...args: string[]): Promise<string> {
  const r = await cli(admin, 'token', 'create', ...args);
  expect(r.code, r.err).toBe(0);
  return r.out.trim();
}

const detail = async (runId: string) => (await api(admin, 'GET', `/api/workflow-runs/${runId}`)).body as RunDetail;
const stepOf = async (runId: string, key: string) => (await detail(runId)).steps.find((s) => s.key === key)!;
const waiting = (runId: string, key: string) => waitFor(`${key} waiting`, async () => (await stepOf(runId, key)).status === 'waiting');
const finished = (runId: string) =>
  waitFor(`run ${runId} finished`, async () => {
    const d = await detail(runId);
    return d.run.status === 'running' ? null : d;
  });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-wf-auth-'));
  const yaml = `project: wf-auth
api:
  port: 0
  auth: token
agents: {}
workflows:
  release:
    steps:
      - { id: build, type: shell, command: 'echo built' }
      - { id: signoff, type: approval, needs: build, message: 'Ship it?' }
      - { id: ship, type: shell, needs: signoff, command: 'echo shipped' }
  ops-change:
    steps:
      - { id: gate, type: approval, approvers: ['team:ops'], message: 'Apply the change?' }
      - { id: apply, type: shell, needs: gate, command: 'echo applied' }
`;
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml);
  daemon = await Daemon.start(await loadConfig(path.join(dir, 'openclaw.yaml')));
  admin = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim();
  tok.dev = await createToken('--role', 'developer', '--name', 'dev');
  tok.financeAdmin = await createToken('--role', 'admin', '--team', 'finance', '--name', 'finance-admin');
  tok.opsAdmin = await createToken('--role', 'admin', '--team', 'ops', '--name', 'ops-admin');
  tok.opsDev = await createToken('--role', 'developer', '--team', 'ops', '--name', 'ops-dev');
}, 60_000);

afterAll(async () => {
  await daemon?.shutdown('test end');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('approvals with real tokens', () => {
  it('a developer starts the run but may not approve (API 403, CLI error); an admin approves through the CLI and the run completes', async () => {
    const started = await cli(tok.dev, 'workflow', 'run', 'release', '--json');
    expect(started.code, started.err).toBe(0);
    const { runId } = JSON.parse(started.out) as { runId: string };
    expect((await detail(runId)).run.trigger).toMatchObject({ type: 'api', by: idOf(tok.dev) });
    await waiting(runId, 'signoff');

    // Without a token: 401; with the developer's: 403 naming the permission and the role.
    expect((await fetch(`${daemon.url}/api/workflow-runs/${runId}/steps/signoff/approve`, { method: 'POST' })).status).toBe(401);
    const refused = await api(tok.dev, 'POST', `/api/workflow-runs/${runId}/steps/signoff/approve`, { comment: 'lgtm' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');
    expect(refused.body.error.message).toContain("needs permission 'workflows:approve', which role 'developer' does not grant");

    const viaCli = await cli(tok.dev, 'approve', runId, 'signoff');
    expect(viaCli.code).toBe(1);
    expect(viaCli.err).toContain("needs permission 'workflows:approve', which role 'developer' does not grant");
    expect(viaCli.err).toContain('see docs/api.md, Roles');
    expect((await cli(tok.dev, 'reject', runId, 'signoff')).code).toBe(1);
    expect((await stepOf(runId, 'signoff')).status).toBe('waiting');

    const approved = await cli(admin, 'approve', runId.slice(0, 8), 'signoff', '--comment', 'ship it');
    expect(approved.code, approved.err).toBe(0);
    expect(approved.out.trim()).toBe(`Approved signoff of run ${runId} (as ${idOf(admin)})`);
    const done = await finished(runId);
    expect(done.run.status).toBe('succeeded');
    expect(done.steps.find((s) => s.key === 'signoff')).toMatchObject({ status: 'succeeded', decidedBy: idOf(admin), comment: 'ship it' });
    expect((done.steps.find((s) => s.key === 'ship')!.output as { stdout: string }).stdout.trim()).toBe('shipped');
  });

  it('approvers: [team:ops] refuses an admin of another team, accepts an admin of ops; a project-wide admin may always decide', async () => {
    // Workflows have no owner team: a team token may not start one (its steps may call any agent).
    const teamRun = await api(tok.opsDev, 'POST', '/api/workflows/ops-change/runs', {});
    expect([teamRun.status, teamRun.body.error?.message]).toEqual([403, expect.stringContaining('reaches beyond any one team')]);
    const first = (await api(admin, 'POST', '/api/workflows/ops-change/runs', {})).body.runId as string;
    await waiting(first, 'gate');
    // Team tokens list only the approvals they may decide.
    const runsOf = async (t: string) => ((await api(t, 'GET', '/api/approvals')).body.approvals as { runId: string }[]).map((a) => a.runId);
    expect(await runsOf(tok.opsAdmin)).toContain(first);
    expect(await runsOf(tok.financeAdmin)).not.toContain(first);
    expect(await runsOf(admin)).toContain(first);

    // A developer of ops: the role lacks workflows:approve, whatever the team.
    expect((await api(tok.opsDev, 'POST', `/api/workflow-runs/${first}/steps/gate/approve`)).status).toBe(403);
    // An admin of finance: has the permission, but is not among the gate's approvers.
    const other = await api(tok.financeAdmin, 'POST', `/api/workflow-runs/${first}/steps/gate/approve`);
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('approver_not_allowed');
    expect(other.body.error.message).toBe(`${idOf(tok.financeAdmin)} (role admin, team finance) may not decide step 'gate': approvers are team:ops`);
    const otherCli = await cli(tok.financeAdmin, 'approve', first, 'gate');
    expect(otherCli.code).toBe(1);
    expect(otherCli.err).toContain("(role admin, team finance) may not decide step 'gate': approvers are team:ops");
    expect((await stepOf(first, 'gate')).status).toBe('waiting');

    const ops = await cli(tok.opsAdmin, 'approve', first, 'gate');
    expect(ops.code, ops.err).toBe(0);
    expect(ops.out).toContain(`(as ${idOf(tok.opsAdmin)})`);
    expect((await finished(first)).run.status).toBe('succeeded');

    // The bootstrap admin has no team: it may decide any gate (here: reject).
    const second = (await api(admin, 'POST', '/api/workflows/ops-change/runs', {})).body.runId as string;
    await waiting(second, 'gate');
    const rejected = await cli(admin, 'reject', second, 'gate', '--comment', 'not today');
    expect(rejected.code, rejected.err).toBe(0);
    const after = await finished(second);
    expect(after.run.status).toBe('failed');
    expect(after.steps.find((s) => s.key === 'gate')).toMatchObject({ status: 'failed', decidedBy: idOf(admin), error: `rejected by ${idOf(admin)}: not today` });
    expect(after.steps.find((s) => s.key === 'apply')!.status).toBe('skipped');
  });
});
