// promtool (Debian package `prometheus`) for the metrics and alert-rule tests. Missing locally:
// the tests skip with a message; under CI=true a missing promtool is a failure.
import { execFileSync, spawnSync } from 'node:child_process';

function find(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export const PROMTOOL = find();
export const CI = process.env.CI === 'true';
if (!PROMTOOL && !CI) console.warn('promtool not found (apt-get install prometheus): skipping the promtool checks');

/** True when promtool tests should run (or fail under CI). */
export const runPromtool = PROMTOOL !== null || CI;

export function promtool(args: string[], input?: string): { code: number; out: string } {
  if (!PROMTOOL) throw new Error('promtool is not installed: apt-get install prometheus (CI installs it in .ci/run)');
  const r = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** `promtool check metrics` on a scrape: its output lists every lint problem (empty = clean). */
export function checkMetrics(text: string): { code: number; out: string } {
  return promtool(['check', 'metrics'], text);
}

/** Metric names of seed 003 §9, with their types. */
export const SEED_METRICS: Record<string, string> = {
  openclaw_agent_uptime_seconds: 'gauge',
  openclaw_agent_runs_total: 'counter',
  openclaw_agent_runs_failed_total: 'counter',
  openclaw_agent_run_duration_seconds: 'histogram',
  openclaw_agent_state_size_bytes: 'gauge',
  openclaw_llm_tokens_total: 'counter',
  openclaw_llm_cost_usd_total: 'counter',
  openclaw_llm_latency_seconds: 'histogram',
  openclaw_events_emitted_total: 'counter',
  openclaw_events_consumed_total: 'counter',
  openclaw_restarts_total: 'counter',
};

/** Ours beyond the seed (issue 3 item 1). */
export const EXTRA_METRICS: Record<string, string> = {
  openclaw_agent_up: 'gauge',
  openclaw_agent_ready: 'gauge',
  openclaw_agent_state: 'gauge',
  openclaw_probe_failures_total: 'counter',
  openclaw_agent_worker_starts_total: 'counter',
  openclaw_events_pending: 'gauge',
  openclaw_events_lag_seconds: 'gauge',
  openclaw_agent_event_loop_utilization: 'gauge',
  openclaw_agent_heap_bytes: 'gauge',
  openclaw_agent_host_rss_bytes: 'gauge',
  openclaw_log_dropped_lines_total: 'counter',
  openclaw_daemon_event_loop_utilization: 'gauge',
  process_resident_memory_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
};

/** `# TYPE name type` lines of a scrape. */
export function types(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1], m[2]);
  return out;
}

/** The value of one sample, e.g. sample(text, 'openclaw_agent_up', { agent: 'busy' }). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]] = l[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}
