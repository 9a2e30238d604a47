// GET /api/metrics on a real daemon (real agents in worker threads, real SQLite): every family of
// seed 003 §9 and ours, values that follow what the agents did, agent metrics with an agent label
// and a series cap, and a scrape that `promtool check metrics` finds clean.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { checkMetrics, EXTRA_METRICS, runPromtool, sample, SEED_METRICS, types } from './promtool.js';
import { MAX_CUSTOM_SERIES_PER_AGENT } from '../../src/observability/metrics.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const daemons: Daemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.shutdown('test end')));
});

async function scrape(d: Daemon): Promise<{ text: string; type: string | null }> {
  const res = await fetch(`${d.url}/api/metrics`);
  expect(res.status).toBe(200);
  return { text: await res.text(), type: res.headers.get('content-type') };
}

describe('GET /api/metrics', () => {
  it('exports every core family, counts runs, events and restarts, and labels agent metrics by agent', { timeout: 60_000 }, async () => {
    const { configFile } = makeProject({
      agents: [
        `  busy:\n    source: ${path.join(FIX, 'busy.ts')}\n    restart_policy: { backoff: immediate, initial_delay: 50ms, max_retries: 50 }\n`,
        `  sink:\n    source: ${path.join(FIX, 'sink.ts')}\n`,
      ].join(''),
    });
    const d = await Daemon.start(await loadConfig(configFile));
    daemons.push(d);
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));

    const first = await scrape(d);
    expect(first.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const t = types(first.text);
    for (const [name, type] of Object.entries({ ...SEED_METRICS, ...EXTRA_METRICS })) expect([name, t.get(name)]).toEqual([name, type]);
    // Present at zero before anything ran, so rate() and the alerts work from the first scrape.
    expect(sample(first.text, 'openclaw_agent_runs_total', { agent: 'busy' })).toBe(0);
    expect(sample(first.text, 'openclaw_agent_up', { agent: 'busy' })).toBe(1);
    expect(sample(first.text, 'openclaw_agent_state', { agent: 'busy', state: 'running' })).toBe(1);
    expect(sample(first.text, 'openclaw_agent_state', { agent: 'busy', state: 'crash_loop' })).toBe(0);

    await d.trigger('busy');
    await waitFor('sink handled the event', async () => (await d.getState('sink')).state.last === 1);
    await d.trigger('busy', { fail: true });
    await waitFor('the failed run restarted busy', async () => sample((await scrape(d)).text, 'openclaw_restarts_total', { agent: 'busy', reason: 'run_failed' }) === 1);
    await waitFor('busy running again', async () => (await d.getAgent('busy')).status === 'running');

    const { text } = await scrape(d);
    expect(sample(text, 'openclaw_agent_runs_total', { agent: 'busy' })).toBe(2);
    expect(sample(text, 'openclaw_agent_runs_failed_total', { agent: 'busy' })).toBe(1);
    expect(sample(text, 'openclaw_agent_run_duration_seconds_count', { agent: 'busy' })).toBe(2);
    expect(sample(text, 'openclaw_events_emitted_total', { agent: 'busy' })).toBe(1); // the failed run's emit was discarded
    expect(sample(text, 'openclaw_events_consumed_total', { agent: 'sink' })).toBe(1);
    expect(sample(text, 'openclaw_events_pending', { agent: 'sink' })).toBe(0);
    expect(sample(text, 'openclaw_events_lag_seconds', { agent: 'sink' })).toBe(0);
    expect(sample(text, 'openclaw_agent_state_size_bytes', { agent: 'busy' })).toBeGreaterThan(0);
    expect(sample(text, 'openclaw_agent_uptime_seconds', { agent: 'sink' })).toBeGreaterThan(0);
    // Agent metrics: prefixed, an agent label, counters with _total; a bad label name refused.
    expect(sample(text, 'openclaw_custom_items_processed_total', { agent: 'busy' })).toBe(6);
    expect(sample(text, 'openclaw_custom_queue_depth', { agent: 'busy' })).toBe(7);
    expect(sample(text, 'openclaw_custom_item_seconds_count', { agent: 'busy' })).toBe(2);
    expect(sample(text, 'openclaw_custom_item_seconds_bucket', { agent: 'busy', le: '0.25' })).toBe(2);
    expect(sample(text, 'openclaw_custom_requests_total', { agent: 'busy', route: 'a', bad_name: 'x' })).toBe(2);
    // Lag: an event the paused sink has not acknowledged ages in its consumer group.
    await d.action('sink', 'pause');
    await d.trigger('busy');
    await waitFor('sink lag', async () => (sample((await scrape(d)).text, 'openclaw_events_lag_seconds', { agent: 'sink' }) ?? 0) > 0);
    expect(sample((await scrape(d)).text, 'openclaw_events_pending', { agent: 'sink' })).toBe(1);
    await d.action('sink', 'resume');
    await waitFor('sink caught up', async () => sample((await scrape(d)).text, 'openclaw_events_lag_seconds', { agent: 'sink' }) === 0);
    await waitFor('busy running again after its run', async () => (await d.getAgent('busy')).status === 'running');
    await waitFor('memory samples', async () => (sample((await scrape(d)).text, 'openclaw_agent_heap_bytes', { agent: 'busy' }) ?? 0) > 0);

    // Series cap: an agent cannot grow the registry without bound.
    await d.trigger('busy', { series: MAX_CUSTOM_SERIES_PER_AGENT + 50 });
    await waitFor('dropped samples counted', async () => (sample((await scrape(d)).text, 'openclaw_custom_metric_samples_dropped_total', { agent: 'busy' }) ?? 0) >= 50);
    const capped = (await scrape(d)).text;
    const series = capped.split('\n').filter((l) => l.startsWith('openclaw_custom_') && l.includes('agent="busy"') && !l.startsWith('openclaw_custom_metric_samples'));
    // histogram series are counted once but print as buckets + sum + count
    expect(series.filter((l) => !/_bucket|_sum|_count/.test(l)).length + 1).toBeLessThanOrEqual(MAX_CUSTOM_SERIES_PER_AGENT);
    expect((await d.recentLogs('busy', { level: 'warning' })).some((l) => /over 200 series/.test(l.msg))).toBe(true);

    if (runPromtool) {
      const lint = checkMetrics(capped);
      expect(lint.out).toBe('');
      expect(lint.code).toBe(0);
    }
  });
});
