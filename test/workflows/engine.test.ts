// The engine over real stores: DAG order, outputs into dependents, parallel branches, fan-out and
// fan-in, conditions, trigger rules, retries, timeouts, sub-workflows, failure handlers, cancel,
// retry, and a restart in the middle — on SQLite and on PostgreSQL.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { havePostgres } from '../helpers/services.js';
import { waitFor } from '../helpers/project.js';
import { dropSchemas, finished, lines, makeHarness, type Backend, type Harness } from './harness.js';

const backends: Backend[] = (await havePostgres()) ? ['sqlite', 'postgres'] : ['sqlite'];
const open: Harness[] = [];
afterAll(async () => {
  for (const h of open) await h.close().catch(() => undefined);
  await dropSchemas();
});

async function harness(backend: Backend, yaml: string, opts?: Parameters<typeof makeHarness>[2]): Promise<Harness> {
  const h = await makeHarness(backend, yaml, opts);
  open.push(h);
  return h;
}

const stepsOf = async (h: Harness, runId: string) => Object.fromEntries((await h.repo.getSteps(runId)).map((s) => [s.key, s]));

describe.each(backends)('workflow engine on %s', (backend) => {
  it('runs a DAG: outputs flow to dependents, branches run in parallel, for_each fans out and in, if and trigger rules decide', async () => {
    const h = await harness(backend, `
  report:
    inputs: { region: eu }
    steps:
      - id: fetch
        type: shell
        env: { REGION: '\${{ inputs.region }}' }
        command: |
          printf '{"items": [1, 2, 3], "region": "%s"}' "$REGION"
      - { id: left, type: shell, needs: fetch, command: 'echo left >> branches.log' }
      - { id: right, type: shell, needs: fetch, command: 'echo right >> branches.log' }
      - id: square
        type: shell
        needs: fetch
        for_each: steps.fetch.output.json.items
        max_parallel: 2
        env: { SQ: '\${{ item * item }}' }
        command: 'echo $SQ'
      - id: total
        type: shell
        needs: [square, left, right]
        env: { ALL: '\${{ steps.square.output.map(o, o.stdout).join(",") }}' }
        command: 'echo "$ALL" | tr -d "\\n"'
      - { id: never, type: shell, needs: total, if: 'inputs.region == "us"', command: 'echo never' }
      - { id: on_fail, type: shell, needs: total, trigger_rule: one_failed, command: 'echo fail' }
      - { id: after, type: shell, needs: [never, on_fail], trigger_rule: all_done, command: 'echo done' }
`);
    const { runId } = await h.engine.start('report', {});
    const run = await finished(h, runId);
    expect(run.status).toBe('succeeded');
    const s = await stepsOf(h, runId);
    expect((s.fetch.output as { json: unknown }).json).toEqual({ items: [1, 2, 3], region: 'eu' });
    expect(s['square[0]'].status).toBe('succeeded');
    expect((s.square.output as Array<{ stdout: string }>).map((o) => o.stdout.trim())).toEqual(['1', '4', '9']);
    expect((s.total.output as { stdout: string }).stdout).toBe('1,4,9');
    expect(s.never.status).toBe('skipped');
    expect(s.never.error).toContain('is false');
    expect(s.on_fail.status).toBe('skipped');
    expect(s.on_fail.error).toContain('one_failed');
    expect(s.after.status).toBe('succeeded');
    expect(lines(path.join(h.dir, 'branches.log')).sort()).toEqual(['left', 'right']);
    expect(await h.metrics.getSingleMetricAsString('openclaw_workflow_runs_total')).toContain('openclaw_workflow_runs_total{workflow="report",status="succeeded"} 1');
    expect(await h.metrics.getSingleMetricAsString('openclaw_workflow_step_duration_seconds')).toContain('step="square"');
  });

  it('retries a flaky step with backoff, then gives up after its attempts and runs the failure handlers', async () => {
    const h = await harness(backend, `
  flaky:
    steps:
      - id: flaky
        type: shell
        retry: { attempts: 3, delay: 50ms }
        command: 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]'
  hopeless:
    steps:
      - { id: boom, type: shell, retry: { attempts: 2, delay: 10ms, backoff: fixed }, command: 'echo nope >&2; exit 3' }
      - { id: later, type: shell, needs: boom, command: 'echo later' }
    on_failure:
      - { id: alert, type: shell, env: { S: '\${{ steps.boom.status }}', E: '\${{ steps.boom.output.stderr }}' }, command: 'echo "$S: $E" > alert.txt' }
`);
    const ok = await h.engine.start('flaky', {});
    expect((await finished(h, ok.runId)).status).toBe('succeeded');
    expect((await stepsOf(h, ok.runId)).flaky.attempt).toBe(3);
    expect(fs.readFileSync(path.join(h.dir, 'count'), 'utf8').trim()).toBe('3');

    const bad = await h.engine.start('hopeless', {});
    const run = await finished(h, bad.runId);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('boom');
    const s = await stepsOf(h, bad.runId);
    expect(s.boom.attempt).toBe(2);
    expect(s.boom.error).toContain('exited with 3: nope');
    expect(s.later.status).toBe('skipped');
    expect(s.alert.status).toBe('succeeded');
    expect(fs.readFileSync(path.join(h.dir, 'alert.txt'), 'utf8').trim()).toBe('failed: nope');
  });

  it('kills a step that outlives its timeout, with everything it started (process group)', async () => {
    const h = await harness(backend, `
  slow:
    steps:
      - { id: sleepy, type: shell, timeout: 300ms, command: 'sleep 30 & echo $! > child.pid; wait' }
`);
    const { runId } = await h.engine.start('slow', {});
    const run = await finished(h, runId);
    expect(run.status).toBe('failed');
    expect((await stepsOf(h, runId)).sleepy.error).toContain('timed out after 300ms');
    const pid = Number(fs.readFileSync(path.join(h.dir, 'child.pid'), 'utf8'));
    await waitFor('the background sleep killed', () => {
      try {
        process.kill(pid, 0);
        return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
      } catch {
        return true;
      }
    }, 10_000);
  });

  it('runs a sub-workflow as a step and hands its outputs to the parent', async () => {
    const h = await harness(backend, `
  child:
    steps:
      - { id: hello, type: shell, command: [printf, 'hi %s', '\${{ inputs.who }}'] }
  parent:
    steps:
      - { id: sub, type: workflow, workflow: child, input: { who: world } }
      - { id: use, type: shell, needs: sub, command: [printf, '%s!', '\${{ steps.sub.output.steps.hello.stdout }}'] }
`);
    const { runId } = await h.engine.start('parent', {});
    expect((await finished(h, runId)).status).toBe('succeeded');
    const s = await stepsOf(h, runId);
    expect((s.use.output as { stdout: string }).stdout).toBe('hi world!');
    const child = await h.repo.getRun(`${runId}.sub`);
    expect(child).toMatchObject({ workflow: 'child', status: 'succeeded', parentRun: runId });
  });

  it('cancels a running run (its process is killed) and retries only what did not succeed', async () => {
    const h = await harness(backend, `
  job:
    steps:
      - { id: first, type: shell, command: 'echo first >> runs.log' }
      - { id: second, type: shell, needs: first, command: 'echo second >> runs.log; [ -f go ] || sleep 30' }
      - { id: third, type: shell, needs: second, command: 'echo third >> runs.log' }
`);
    const { runId } = await h.engine.start('job', {});
    await waitFor('second running', async () => (await stepsOf(h, runId)).second?.status === 'running' && lines(path.join(h.dir, 'runs.log')).includes('second'));
    const cancelled = await h.engine.cancel(runId);
    expect(cancelled.status).toBe('cancelled');
    const s = await stepsOf(h, runId);
    expect(s.second.status).toBe('cancelled');
    await expect(h.engine.cancel(runId)).rejects.toThrow(/already cancelled/);

    fs.writeFileSync(path.join(h.dir, 'go'), '');
    const r = await h.engine.retry(runId);
    expect(r.steps.sort()).toEqual(['second', 'third']);
    expect((await finished(h, runId)).status).toBe('succeeded');
    expect(lines(path.join(h.dir, 'runs.log'))).toEqual(['first', 'second', 'second', 'third']);
  });

  it('approval gates: approve, reject, and the default outcome when nobody decides in time', async () => {
    const h = await harness(backend, `
  gated:
    steps:
      - { id: prepare, type: shell, command: 'echo ready' }
      - { id: ok, type: approval, needs: prepare, approvers: [finance], message: 'publish?' }
      - { id: publish, type: shell, needs: ok, env: { BY: '\${{ steps.ok.output.by }}' }, command: 'echo published by $BY' }
  auto:
    steps:
      - { id: gate, type: approval, timeout: 200ms, default: approve }
      - { id: go, type: shell, needs: gate, command: 'echo go' }
`);
    const a = await h.engine.start('gated', {});
    await waitFor('waiting', async () => (await stepsOf(h, a.runId)).ok?.status === 'waiting');
    await expect(h.engine.decide(a.runId, 'ok', true, { id: 'token:dev', role: 'developer', team: 'eng' })).rejects.toThrow(/may not decide step 'ok': approvers are finance/);
    expect((await stepsOf(h, a.runId)).ok.status).toBe('waiting');
    await h.engine.decide(a.runId, 'ok', true, { id: 'token:fin', role: 'developer', team: 'finance' }, 'looks right');
    expect((await finished(h, a.runId)).status).toBe('succeeded');
    expect(((await stepsOf(h, a.runId)).publish.output as { stdout: string }).stdout.trim()).toBe('published by token:fin');

    const b = await h.engine.start('gated', {});
    await waitFor('waiting', async () => (await stepsOf(h, b.runId)).ok?.status === 'waiting');
    await h.engine.decide(b.runId, 'ok', false, { id: 'token:boss', role: 'admin', team: null }, 'numbers are off');
    const rb = await finished(h, b.runId);
    expect(rb.status).toBe('failed');
    const sb = await stepsOf(h, b.runId);
    expect(sb.ok.error).toBe('rejected by token:boss: numbers are off');
    expect(sb.publish.status).toBe('skipped');

    const c = await h.engine.start('auto', {});
    expect((await finished(h, c.runId)).status).toBe('succeeded');
    expect((await stepsOf(h, c.runId)).gate.decidedBy).toBe('timeout (default approve)');
  });

  it('a restart mid-run: finished steps never run again, the interrupted one runs again, a waiting approval survives', async () => {
    const h = await harness(backend, `
  long:
    steps:
      - { id: a, type: shell, command: 'echo a >> runs.log' }
      - { id: b, type: shell, needs: a, command: 'echo b >> runs.log; [ -f go ] || sleep 30' }
      - { id: c, type: shell, needs: a, command: 'echo c >> runs.log' }
      - { id: gate, type: approval, needs: c }
      - { id: d, type: shell, needs: [b, gate], command: 'echo d >> runs.log' }
`);
    const { runId } = await h.engine.start('long', {});
    await waitFor('b running and gate waiting', async () => {
      const s = await stepsOf(h, runId);
      return s.b?.status === 'running' && s.b.pid !== null && s.gate?.status === 'waiting';
    });
    const orphan = (await stepsOf(h, runId)).b.pid!;
    fs.writeFileSync(path.join(h.dir, 'go'), '');
    await h.restart();
    // The orphaned process group of b was killed by resume, then b ran again.
    await waitFor('b done again', async () => (await stepsOf(h, runId)).b.status === 'succeeded');
    expect(() => process.kill(orphan, 0)).toThrow();
    expect((await stepsOf(h, runId)).gate.status).toBe('waiting');
    await h.engine.decide(runId, 'gate', true, undefined);
    expect((await finished(h, runId)).status).toBe('succeeded');
    const log = lines(path.join(h.dir, 'runs.log'));
    expect(log.filter((l) => l === 'a')).toHaveLength(1);
    expect(log.filter((l) => l === 'c')).toHaveLength(1);
    expect(log.filter((l) => l === 'd')).toHaveLength(1);
    expect(log.filter((l) => l === 'b').length).toBeGreaterThanOrEqual(1);
  });

  it('an llm step without an llm: section fails with a clear message; with the service it returns its text', async () => {
    const yaml = `
  ask:
    steps:
      - { id: q, type: llm, prompt: 'Summarise \${{ inputs.topic }}' }
`;
    const h = await harness(backend, yaml);
    const { runId } = await h.engine.start('ask', { topic: 'sales' });
    expect((await finished(h, runId)).status).toBe('failed');
    expect((await stepsOf(h, runId)).q.error).toMatch(/^llm not configured/);

    const seen: unknown[] = [];
    const h2 = await harness(backend, yaml, { services: { llm: { complete: async (req) => (seen.push(req), { text: 'short summary', model: 'test', usage: {} }) } } });
    const r2 = await h2.engine.start('ask', { topic: 'sales' });
    expect((await finished(h2, r2.runId)).status).toBe('succeeded');
    expect((await stepsOf(h2, r2.runId)).q.output).toMatchObject({ text: 'short summary' });
    expect(seen[0]).toMatchObject({ messages: [{ role: 'user', content: 'Summarise sales' }] });
  });
});
