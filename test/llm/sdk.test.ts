// The agent path end to end: real worker threads call this.llm.complete / this.llm.stream and an
// SDK LLMRouter over RPC through the daemon's router to the fake upstream; the seed's Reporter
// agent's tokens and cost show in the metrics and in `openclaw usage`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { waitFor } from '../helpers/project.js';
import { runCli, REPO } from '../cli/run-cli.js';
import { llmProject, provider, startDaemon, useFakeOpenAI } from './helpers.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

const fake = useFakeOpenAI();

const llm = () => `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o', 'gpt-4o-mini'])}  defaults:\n    primary: gpt-4o-mini\n    max_retries: 0\n`;

async function run(d: Daemon, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
  const before = (await d.getState('bot')).version;
  await d.trigger('bot', payload);
  const s = await waitFor('the run to store its result', async () => {
    const st = await d.getState('bot');
    return st.version > before ? st : null;
  });
  return s.state.result as Record<string, unknown>;
}

describe('agents calling the LLM', () => {
  it('this.llm.complete, JSON, stream, stream cancelled early, and an LLMRouter with its own budget', async () => {
    const { configFile } = llmProject({ llm: llm(), agents: `  bot:\n    source: ${path.join(FIX, 'llm-agent.ts')}\n` });
    const d = await startDaemon(configFile);
    await waitFor('bot running', async () => (await d.getAgent('bot')).status === 'running');

    const r1 = await run(d, { mode: 'complete', prompt: 'how are you' });
    expect(r1.text).toBe('fake openai reply to: how are you');
    expect(r1).toMatchObject({ model: 'gpt-4o-mini', provider: 'openai' });
    const usage = r1.usage as { input_tokens: number; output_tokens: number; total_tokens: number; cost_usd: number };
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    expect(usage.cost_usd).toBeGreaterThan(0);
    const sent = fake.chatRequests.at(-1)!.body;
    expect(sent.temperature).toBe(0.3);
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'be brief' });

    expect(await run(d, { mode: 'json' })).toEqual({ json: { reply: 'fake', echo: 'give me json' } });

    fake.script([{ reply: 'alpha beta gamma delta' }]);
    const r3 = await run(d, { mode: 'stream' });
    expect((r3.parts as string[]).join('')).toBe('alpha beta gamma delta');
    expect((r3.parts as string[]).length).toBeGreaterThan(1);

    // Breaking out of the loop cancels the upstream call: the fake sees the connection closed.
    fake.script([{ reply: 'one two three four five six', chunkDelayMs: 300 }]);
    const r4 = await run(d, { mode: 'stream-break', n: 1 });
    expect(r4.parts).toEqual(['one']);
    const usageRows = await waitFor('the cancelled stream recorded', async () => {
      const res = (await (await fetch(`${d.url}/api/llm/usage?by=agent&since=1h`)).json()) as { rows: Array<{ group: string; requests: number; errors: number }> };
      return res.rows.find((r) => r.group === 'bot' && r.requests === 4) ? res.rows : null;
    });
    expect(usageRows[0]!.errors).toBe(1); // status 'cancelled'

    // The LLMRouter's own budget ($0.015, gpt-4o, max_tokens 1000 → up to ~$0.01 each) admits one call.
    fake.setDefault({ usage: { input: 10, output: 1000 } });
    const r5 = await run(d, { mode: 'router' });
    expect(r5).toMatchObject({ text: 'fake openai reply to: via router', model: 'gpt-4o' });
    const r6 = await run(d, { mode: 'router' });
    expect(r6.error).toBe('budget_exceeded');
    expect(r6.message).toMatch(/LLMRouter 'bot\/cheap'.*resets at/);
  });

  it('the seed Reporter agent: its tokens and cost show in the metrics and in `openclaw usage`', async () => {
    const reporter = path.join(REPO, 'examples', 'pipeline', 'agents', 'reporter.ts');
    const { configFile, dir } = llmProject({ llm: llm(), agents: `  reporter:\n    source: ${reporter}\n` });
    const d = await startDaemon(configFile);
    await waitFor('reporter running', async () => (await d.getAgent('reporter')).status === 'running');
    await d.publishEvent({ name: 'analysis_complete', data: { batch_id: 'b1', anomalies: [{ metric: 'cpu', value: 99 }] } });
    const report = await waitFor('report_ready', async () => (await d.listEvents({ name: 'report_ready' }))[0]);
    expect((report.payload as { summary: string }).summary).toMatch(/^fake openai reply to: Summarize these anomalies/);

    const text = await d.metrics.metrics();
    expect(text).toMatch(/openclaw_llm_tokens_total\{agent="reporter",model="gpt-4o-mini",direction="input"\} [1-9]/);
    expect(text).toMatch(/openclaw_llm_tokens_total\{agent="reporter",model="gpt-4o-mini",direction="output"\} [1-9]/);
    expect(text).toMatch(/openclaw_llm_cost_usd_total\{agent="reporter",model="gpt-4o-mini"\} [0-9.e-]+/);
    expect(text).toMatch(/openclaw_llm_requests_total\{provider="openai",model="gpt-4o-mini",status="ok"\} 1/);
    expect(text).toMatch(/openclaw_llm_latency_seconds_count\{provider="openai",model="gpt-4o-mini"\} 1/);

    const table = await runCli(['usage', '--by', 'agent', '--since', '1h'], { cwd: dir, env: { OPENCLAW_URL: d.url } });
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/│ reporter\s+│\s+1 │\s+[1-9][\d,]* │\s+[1-9][\d,]* │/);
    const json = await runCli(['usage', '--by', 'model', '--since', '7d', '--json'], { cwd: dir, env: { OPENCLAW_URL: d.url } });
    const body = JSON.parse(json.stdout) as { rows: Array<{ group: string; requests: number; costUsd: number }> };
    expect(body.rows).toEqual([expect.objectContaining({ group: 'gpt-4o-mini', requests: 1 })]);
    expect(body.rows[0]!.costUsd).toBeGreaterThan(0);
  });

  it('keeps a clear llm_not_configured error when there is no llm: section', async () => {
    const { configFile } = (await import('../helpers/project.js')).makeProject({ agents: `  bot:\n    source: ${path.join(FIX, 'llm-agent.ts')}\n` });
    const d = await startDaemon(configFile);
    await waitFor('bot running', async () => (await d.getAgent('bot')).status === 'running');
    const r = await run(d, { mode: 'complete' });
    expect(r.error).toBe('llm_not_configured');
    expect(r.message).toMatch(/add an llm: section/);
  });
});
