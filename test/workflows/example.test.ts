// examples/end-of-day runs offline to its approval gate and, once approved, to a published report:
// parallel modules, a flaky step retried, a fan-out per desk, a TypeScript workflow definition —
// through a real daemon and the CLI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunDetail } from '../../src/workflows/routes.js';
import { waitFor } from '../helpers/project.js';
import { cleanup, openclaw, readDaemonJson, REPO, trackPid, trackProject } from '../e2e/helpers.js';

afterAll(cleanup);
let dir = '';

async function cli(...args: string[]) {
  const r = await openclaw(args, { cwd: dir });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

describe('examples/end-of-day', () => {
  it('runs to the approval gate, and after approval publishes the report', { timeout: 120_000 }, async () => {
    dir = trackProject(fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-eod-')));
    fs.cpSync(path.join(REPO, 'examples', 'end-of-day'), dir, { recursive: true });
    const start = await cli('daemon', 'start', '--port', '0');
    expect(start.code, start.err).toBe(0);
    const info = readDaemonJson(dir)!;
    trackPid(info.pid);

    const list = await cli('workflow', 'list');
    expect(list.out).toMatch(/end-of-day\s+│\s+7 │ schedule daily 18:00/);

    const started = await cli('workflow', 'run', 'end-of-day', '--input', '{"day":"2026-04-18"}', '--wait');
    expect(started.code).toBe(0);
    expect(started.out).toMatch(/⏸ publish-approval\s+waiting/);
    expect(started.out).toMatch(/✓ ledger\s+succeeded.*attempt 3\/4/);
    const runId = /Run (\S+)/.exec(started.out)![1];
    expect(fs.existsSync(path.join(dir, 'reports', 'end-of-day.md'))).toBe(false);

    const detail = async () => JSON.parse((await cli('workflow', 'show', runId, '--json')).out) as RunDetail;
    const before = await detail();
    const step = (d: RunDetail, key: string) => d.steps.find((s) => s.key === key)!;
    expect(step(before, 'desk-check').output).toHaveLength(3);
    expect(before.steps.filter((s) => s.step === 'desk-check' && s.itemIndex !== null).map((s) => (s.output as { json: { desk: string } }).json.desk)).toEqual(['equities', 'fx', 'rates']);
    expect((step(before, 'compile').output as { json: unknown }).json).toEqual({ draft: 'reports/draft.md', sales: 5000, balanced: true });
    // The modules overlapped in time: each started before the others finished.
    const [s, i, l] = ['sales', 'inventory', 'ledger'].map((k) => step(before, k));
    expect(s.startedAt! < i.finishedAt! && i.startedAt! < s.finishedAt!).toBe(true);
    expect(l.attempt).toBe(3);

    const approved = await cli('approve', runId, 'publish-approval', '--comment', 'numbers checked');
    expect(approved.code).toBe(0);
    await waitFor('the run finished', async () => (await detail()).run.status !== 'running');
    const after = await detail();
    expect(after.run.status).toBe('succeeded');
    expect(step(after, 'notify-failure').status).toBe('not_started');
    const report = fs.readFileSync(path.join(dir, 'reports', 'end-of-day.md'), 'utf8');
    expect(report).toContain('# End of day 2026-04-18');
    expect(report).toContain('- Desk checks: equities ok, fx ok, rates ok');
    // `daemon start` uses token auth; the CLI sent the bootstrap admin token from .openclaw/token.
    const bootstrapId = fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim().slice(3, 15);
    expect(report).toContain(`Approved by token:${bootstrapId}`);
    expect(step(after, 'publish-approval').decidedBy).toBe(`token:${bootstrapId}`);

    expect((await cli('daemon', 'stop')).code).toBe(0);
  });
});
