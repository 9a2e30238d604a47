// kill -9 of a real detached daemon (`openclaw daemon start`) while a workflow's parallel branches
// run: after `daemon start` again, the run resumes and finishes, and no step that had completed
// before the kill runs again. Steps that were running at the kill run again (at-least-once for
// them), after their orphaned process groups are killed. On SQLite and on PostgreSQL.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeProject, waitFor } from '../helpers/project.js';
import { havePostgres, PG_URL, uniqueSchema, dropSchemas } from '../helpers/services.js';
import { alive, apiGet, cleanup, openclawJson, openclawOk, readDaemonJson, trackPid, trackProject, waitGone } from '../e2e/helpers.js';
import type { RunDetail } from '../../src/workflows/routes.js';

const backends = (await havePostgres()) ? ['sqlite', 'postgres'] : ['sqlite'];
const schemas: string[] = [];

afterAll(async () => {
  await cleanup();
  await dropSchemas(schemas);
});

// start → four branches of two steps each, run in parallel → join. Each step appends its name to
// steps.log when it begins, then takes a while.
const BRANCHES = ['b1', 'b2', 'b3', 'b4'];
const step = (id: string, needs: string[], sleep: string) => `      - { id: ${id}, type: shell, needs: [${needs.join(', ')}], command: 'echo ${id} >> steps.log; sleep ${sleep}' }\n`;
const WORKFLOW =
  'workflows:\n  fanout:\n    steps:\n' +
  step('start', [], '0.1') +
  BRANCHES.map((b, i) => step(`${b}_one`, ['start'], `0.${3 + i}`) + step(`${b}_two`, [`${b}_one`], '1.5')).join('') +
  step('join', BRANCHES.map((b) => `${b}_two`), '0');

describe.each(backends)('kill -9 of the daemon during a workflow on %s', (backend) => {
  it('resumes the run after a restart; no completed step runs again', { timeout: 180_000 }, async () => {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      store = { kind: 'postgres', url: PG_URL, schema: uniqueSchema('oc_wfcrash') };
      schemas.push(store.schema);
    }
    const { dir } = makeProject({ store, agents: '', extra: WORKFLOW });
    trackProject(dir);
    const cli = (...args: string[]) => openclawOk(args, { cwd: dir });
    const log = () => (fs.existsSync(path.join(dir, 'steps.log')) ? fs.readFileSync(path.join(dir, 'steps.log'), 'utf8').split('\n').filter(Boolean) : []);

    await cli('daemon', 'start', '--port', '0');
    const first = readDaemonJson(dir)!;
    trackPid(first.pid);
    const { runId } = await openclawJson<{ runId: string }>(['workflow', 'run', 'fanout'], { cwd: dir });

    // Kill while some branch steps are done and others are still running.
    const before = await waitFor('some steps done, some running', async () => {
      const d = await apiGet<RunDetail>(dir, `/api/workflow-runs/${runId}`);
      const done = d.steps.filter((s) => s.status === 'succeeded').map((s) => s.key);
      const running = d.steps.filter((s) => s.status === 'running');
      return done.length >= 3 && running.length >= 2 ? done : null;
    }, 60_000, 20);
    process.kill(first.pid, 'SIGKILL');
    await waitGone(first.pid, 'killed daemon');
    // Reaped too (a zombie still answers kill(pid, 0), and `daemon start` would take it for a live daemon).
    await waitFor('killed daemon reaped', () => {
      try {
        process.kill(first.pid, 0);
        return false;
      } catch {
        return true;
      }
    });

    await cli('daemon', 'start', '--port', '0');
    const second = readDaemonJson(dir)!;
    trackPid(second.pid);
    expect(second.pid).not.toBe(first.pid);
    const done = await waitFor('the run finished after the restart', async () => {
      const d = await apiGet<RunDetail>(dir, `/api/workflow-runs/${runId}`);
      return d.run.status !== 'running' ? d : null;
    }, 90_000, 100);
    expect(done.run.status).toBe('succeeded');
    expect(done.steps.every((s) => s.status === 'succeeded')).toBe(true);

    const lines = log();
    // Every completed-before-the-kill step appears exactly once: it never ran again.
    for (const key of before) expect(lines.filter((l) => l === key), `${key} ran again`).toHaveLength(1);
    // Every step ran; only those interrupted by the kill may have run twice.
    const all = done.steps.map((s) => s.key);
    for (const key of all) expect(lines.filter((l) => l === key).length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeGreaterThanOrEqual(all.length);

    // `workflow show` renders the finished DAG.
    const show = await cli('workflow', 'show', runId);
    expect(show.stdout).toContain(`Run ${runId}  workflow fanout  succeeded`);
    expect(show.stdout).toMatch(/✓ join\s+succeeded/);
    expect(show.stdout).toContain('← b1_two, b2_two, b3_two, b4_two');

    await cli('daemon', 'stop');
    await waitGone(second.pid, 'stopped daemon');
    expect(alive(second.pid)).toBe(false);
  });
});
