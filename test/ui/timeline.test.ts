// The agent page's run detail (GET /api/ui/agents/:name/runs/:run) on SQLite and PostgreSQL: a real
// agent run that calls the LLM twice (a fake upstream), emits an event and writes state, and the
// timeline that ONE request returns — started, each LLM call with model, tokens, cost and latency
// (llm_usage.run_id), the event with its id (events.run_id), the state version with its keys
// (state_versions.run_id), finished — equal to what the ledger, the event log and the state say.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeProject, waitFor } from '../helpers/project.js';
import { backends, llmProject, provider, startDaemon, useFakeOpenAI } from '../llm/helpers.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

const fake = useFakeOpenAI();

describe.each(backends)('run timeline on %s', (backend) => {
  it('one request shows the run started, its LLM calls, its emit, its state version and its end', async () => {
    fake.setDefault({ usage: { input: 21, output: 7 } });
    const llm = `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini'])}  defaults:\n    primary: gpt-4o-mini\n    max_retries: 0\n`;
    const { configFile } = llmProject({ llm, backend, agents: `  bot:\n    source: ${path.join(FIX, 'timeline-agent.ts')}\n  other:\n    source: ${path.join(FIX, 'timeline-agent.ts')}\n` });
    const d = await startDaemon(configFile);
    await waitFor('bot running', async () => (await d.getAgent('bot')).status === 'running');
    const get = async (route: string) => {
      const res = await fetch(d.url + route);
      return { status: res.status, body: (await res.json()) as any };
    };

    const { runId } = await d.trigger('bot', { go: 1 });
    const t = await waitFor('the run to be recorded', async () => {
      const r = await get(`/api/ui/agents/bot/runs/${encodeURIComponent(runId)}`);
      return r.body.run?.status === 'succeeded' ? r.body : null;
    });
    expect(t.items.map((i: any) => i.kind)).toEqual(['started', 'llm', 'llm', 'emit', 'state', 'finished']);
    const calls = t.items.filter((i: any) => i.kind === 'llm');
    for (const c of calls) expect(c).toMatchObject({ model: 'gpt-4o-mini', provider: 'openai', status: 'ok', inputTokens: 21, outputTokens: 7, cacheHit: false });
    expect(calls.every((c: any) => c.latencyMs >= 0 && c.costNusd >= 0)).toBe(true);
    // The same rows as the usage ledger, to the nano-dollar.
    const usage = (await get('/api/ui/spend?days=1')).body.byAgent.find((g: any) => g.group === 'bot');
    expect(t.llm).toEqual({ calls: 2, inputTokens: 42, outputTokens: 14, costNusd: usage.costNusd });

    const emit = t.items.find((i: any) => i.kind === 'emit');
    expect(emit.name).toBe('report.ready');
    // The timeline links the event to the events search by its id.
    const found = (await get(`/api/ui/search?kind=events&id=${encodeURIComponent(emit.id)}`)).body.rows;
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ id: emit.id, name: 'report.ready', source: 'bot', seq: emit.seq });

    const state = t.items.find((i: any) => i.kind === 'state');
    const versions = (await get('/api/agents/bot/state/versions')).body;
    const v = (versions.versions ?? versions).find((x: any) => x.runId === runId);
    expect(state).toMatchObject({ namespace: 'bot', version: v.version, keys: ['last', 'runs'] });
    expect(t.items.at(-1)).toMatchObject({ kind: 'finished', status: 'succeeded', error: null });

    // Another agent's path shows nothing of this run (each part is limited to the named agent).
    await waitFor('other running', async () => (await d.getAgent('other')).status === 'running');
    expect((await get(`/api/ui/agents/other/runs/${encodeURIComponent(runId)}`)).body).toMatchObject({ run: null, items: [], llm: { calls: 0 } });
    // A second run has its own timeline.
    const second = await d.trigger('bot', { go: 2 });
    const t2 = await waitFor('the second run', async () => {
      const r = await get(`/api/ui/agents/bot/runs/${encodeURIComponent(second.runId)}`);
      return r.body.run ? r.body : null;
    });
    expect(t2.items.filter((i: any) => i.kind === 'llm').map((i: any) => i.id)).not.toContain(calls[0].id);
    expect(t2.items.filter((i: any) => i.kind === 'emit')).toHaveLength(1);
  }, 60_000);
});

describe('the agent page live channel', () => {
  it('reports a new run that only emitted (no state write) without a reload', async () => {
    const { configFile } = makeProject({ agents: `  quiet:\n    source: ${path.join(FIX, 'emit-only.ts')}\n` });
    const d = await startDaemon(configFile);
    await waitFor('quiet running', async () => (await d.getAgent('quiet')).status === 'running');
    const frames: Array<{ type: string; kinds?: string[] }> = [];
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}/api/ui/live?view=agent&agent=quiet`);
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (m) => {
        const f = JSON.parse(String(m));
        frames.push(f);
        if (f.type === 'hello') resolve();
      });
      ws.on('error', reject);
    });
    try {
      const { runId } = await d.trigger('quiet');
      await waitFor('the run recorded', async () => (await fetch(`${d.url}/api/ui/agents/quiet/runs/${runId}`).then((r) => r.json()) as any).run);
      await waitFor('a "runs changed" frame', () => frames.some((f) => f.type === 'changed' && f.kinds?.includes('runs')));
    } finally {
      ws.close();
    }
  }, 60_000);
});
