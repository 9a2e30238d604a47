// Get-or-create for prom-client metrics on the daemon's registry (never the global one), so two
// subsystems that both touch a family (the core exports openclaw_llm_* at zero before the router
// starts; the router increments them) share one definition. The names and label sets of a family
// must agree wherever it is created: a mismatch is a programming error and throws.
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

type Spec<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

function existing(registry: Registry, name: string, kind: string, labelNames: readonly string[] | undefined): unknown {
  const m = registry.getSingleMetric(name) as unknown as { labelNames?: string[]; constructor: { name: string } } | undefined;
  if (!m) return undefined;
  if (m.constructor.name !== kind) throw new Error(`metric ${name} is already registered as a ${m.constructor.name}, not a ${kind}`);
  const want = [...(labelNames ?? [])].sort().join(',');
  const have = [...(m.labelNames ?? [])].sort().join(',');
  if (want !== have) throw new Error(`metric ${name} is already registered with labels {${have}}, not {${want}}`);
  return m;
}

export function counter<L extends string>(registry: Registry, spec: Spec<L>): Counter<L> {
  return (existing(registry, spec.name, 'Counter', spec.labelNames) as Counter<L>) ??
    new Counter<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [], registers: [registry] });
}

export function gauge<L extends string>(registry: Registry, spec: Spec<L>): Gauge<L> {
  return (existing(registry, spec.name, 'Gauge', spec.labelNames) as Gauge<L>) ??
    new Gauge<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [], registers: [registry] });
}

export function histogram<L extends string>(registry: Registry, spec: Spec<L> & { buckets?: number[] }): Histogram<L> {
  return (existing(registry, spec.name, 'Histogram', spec.labelNames) as Histogram<L>) ??
    new Histogram<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [], ...(spec.buckets ? { buckets: spec.buckets } : {}), registers: [registry] });
}

/** The LLM families of seed 003 §9, shared by the core export and the router (same labels everywhere). */
export function llmMetrics(registry: Registry) {
  return {
    tokens: counter(registry, { name: 'openclaw_llm_tokens_total', help: 'LLM tokens consumed', labelNames: ['agent', 'model', 'direction'] as const }),
    cost: counter(registry, { name: 'openclaw_llm_cost_usd_total', help: 'Cumulative LLM API cost in USD', labelNames: ['agent', 'model'] as const }),
    latency: histogram(registry, {
      name: 'openclaw_llm_latency_seconds',
      help: 'LLM API call latency',
      labelNames: ['provider', 'model'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    }),
  };
}

// ---- the core families ---------------------------------------------------------------------------

/** Why an instance was restarted: a fixed vocabulary (never a free-form message) keeps labels bounded. */
export const RESTART_REASONS = [
  'crashed',
  'exited',
  'oom',
  'memory_soft_limit',
  'unresponsive',
  'killed',
  'host_died',
  'run_failed',
  'setup_failed',
  'liveness',
  'requested',
  'other',
] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

export function restartReason(kind: string): RestartReason {
  return (RESTART_REASONS as readonly string[]).includes(kind) ? (kind as RestartReason) : 'other';
}

const AGENT_STATES = ['initializing', 'running', 'paused', 'error', 'stopped', 'crash_loop'] as const;

/** What the daemon shows the collect()-time gauges: read at scrape time, no timers. */
export interface CoreMetricsSource {
  now(): number;
  agents(): Array<{
    name: string;
    status: string;
    instances: Array<{ status: string; startedAt: number | null; ready: boolean; memory: { heapUsed: number; external: number; hostRss: number; elu?: number } | null }>;
  }>;
  pendingCounts(): Promise<Record<string, number>>;
  /** Age in ms of the oldest unacknowledged event of each agent's consumer group (Bus.stats lag). */
  eventLagMs?(agent: string): Promise<number>;
  stateSize(agent: string): Promise<number>;
  logDrops(): { follower: number; file: number; agent: number };
  /** Bytes held for log followers (queues and unsent socket data). */
  logBufferedBytes(): number;
}

/** Counters the daemon's run path increments (run-transaction.ts, agent-controller.ts). */
export interface CoreMetrics {
  run(agent: string, ok: boolean, seconds: number): void;
  emitted(agent: string, n: number): void;
  consumed(agent: string): void;
  restart(agent: string, reason: RestartReason): void;
  probeFailure(agent: string, probe: 'liveness' | 'readiness'): void;
  /** A module instance started in the host's pre-loaded spare worker (`spare`) or a new one. */
  workerStart?(agent: string, spare: boolean): void;
}

/**
 * Registers every core family of seed 003 §9 (and ours) on the daemon registry. Gauges read the
 * daemon when Prometheus scrapes (collect()), so nothing here runs on a timer. Labels are the
 * agent name (from the config, so bounded) and small fixed vocabularies.
 */
export function coreMetrics(registry: Registry, src: CoreMetricsSource, agentNames: string[]): CoreMetrics {
  const A = ['agent'] as const;
  const runs = counter(registry, { name: 'openclaw_agent_runs_total', help: 'run() invocations and event handler runs, finished', labelNames: A });
  const failed = counter(registry, { name: 'openclaw_agent_runs_failed_total', help: 'run() invocations and event handler runs that failed', labelNames: A });
  const duration = histogram(registry, {
    name: 'openclaw_agent_run_duration_seconds',
    help: 'Duration of each run() cycle or event handler run',
    labelNames: A,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  });
  const emitted = counter(registry, { name: 'openclaw_events_emitted_total', help: 'Events published to the bus by an agent', labelNames: A });
  const consumed = counter(registry, { name: 'openclaw_events_consumed_total', help: 'Events consumed (handled and acknowledged) by an agent', labelNames: A });
  const restarts = counter(registry, { name: 'openclaw_restarts_total', help: 'Agent instance restarts, by reason', labelNames: ['agent', 'reason'] as const });
  const probes = counter(registry, { name: 'openclaw_probe_failures_total', help: 'Failed liveness and readiness probes', labelNames: ['agent', 'probe'] as const });
  const workerStarts = counter(registry, {
    name: 'openclaw_agent_worker_starts_total',
    help: "Module instance starts by worker: 'spare' (handed the host's pre-loaded worker) or 'new' (spawned on the start path)",
    labelNames: ['agent', 'worker'] as const,
  });
  llmMetrics(registry);
  for (const agent of agentNames) {
    for (const c of [runs, failed, emitted, consumed]) c.inc({ agent }, 0);
    for (const probe of ['liveness', 'readiness'] as const) probes.inc({ agent, probe }, 0);
  }

  const each = (fn: (a: ReturnType<CoreMetricsSource['agents']>[number]) => number, g: Gauge<'agent'>) => {
    g.reset();
    for (const a of src.agents()) g.set({ agent: a.name }, fn(a));
  };
  const running = (s: string) => s === 'running' || s === 'paused';
  gaugeCollect(registry, 'openclaw_agent_uptime_seconds', 'Seconds since the agent last started (0 while it is not running)', A, function () {
    const now = src.now();
    each((a) => {
      const started = a.instances.filter((i) => running(i.status) && i.startedAt != null).map((i) => i.startedAt!);
      return started.length > 0 ? Math.max(0, (now - Math.min(...started)) / 1000) : 0;
    }, this);
  });
  gaugeCollect(registry, 'openclaw_agent_up', '1 while at least one instance of the agent runs (or is paused), else 0', A, function () {
    each((a) => (a.instances.some((i) => running(i.status)) ? 1 : 0), this);
  });
  gaugeCollect(registry, 'openclaw_agent_ready', '1 while at least one running instance passes its readiness probe', A, function () {
    each((a) => (a.instances.some((i) => i.status === 'running' && i.ready) ? 1 : 0), this);
  });
  gaugeCollect(registry, 'openclaw_agent_state', 'The agent status, one series per state (1 = current)', ['agent', 'state'], function () {
    this.reset();
    for (const a of src.agents()) for (const state of AGENT_STATES) this.set({ agent: a.name, state }, a.status === state ? 1 : 0);
  });
  gaugeCollect(registry, 'openclaw_agent_heap_bytes', 'V8 heap used by the agent (sum over its instances)', A, function () {
    each((a) => a.instances.reduce((n, i) => n + (i.memory?.heapUsed ?? 0), 0), this);
  });
  gaugeCollect(registry, 'openclaw_agent_external_bytes', 'Memory outside the V8 heap (buffers) held by the agent (sum over its instances)', A, function () {
    each((a) => a.instances.reduce((n, i) => n + (i.memory?.external ?? 0), 0), this);
  });
  gaugeCollect(registry, 'openclaw_agent_host_rss_bytes', 'RSS of the host process running the agent (largest over its instances; a shared host counts for every agent in it)', A, function () {
    each((a) => a.instances.reduce((n, i) => Math.max(n, i.memory?.hostRss ?? 0), 0), this);
  });
  gaugeCollect(registry, 'openclaw_agent_event_loop_utilization', "Event-loop utilisation of the agent's worker thread(s) over the last sample period, 0..1 (largest over its instances)", A, function () {
    each((a) => a.instances.reduce((n, i) => Math.max(n, i.memory?.elu ?? 0), 0), this);
  });
  gaugeCollect(registry, 'openclaw_events_pending', 'Events waiting for delivery to the agent', A, async function () {
    const counts = await src.pendingCounts();
    this.reset();
    for (const a of src.agents()) this.set({ agent: a.name }, counts[a.name] ?? 0);
  });
  gaugeCollect(registry, 'openclaw_events_lag_seconds', "Age of the oldest event not yet acknowledged by the agent's consumer group (0 when none is pending)", A, async function () {
    const agents = src.agents();
    const lags = await Promise.all(agents.map((a) => (src.eventLagMs ? src.eventLagMs(a.name).catch(() => 0) : 0)));
    this.reset();
    agents.forEach((a, i) => this.set({ agent: a.name }, lags[i]! / 1000));
  });
  gaugeCollect(registry, 'openclaw_agent_state_size_bytes', 'Current size of the agent persistent state', A, async function () {
    const agents = src.agents();
    const sizes = await Promise.all(agents.map((a) => src.stateSize(a.name).catch(() => 0)));
    this.reset();
    agents.forEach((a, i) => this.set({ agent: a.name }, sizes[i]));
  });
  let elu = performance.eventLoopUtilization();
  gaugeCollect(registry, 'openclaw_daemon_event_loop_utilization', "Event-loop utilisation of the daemon's main thread since the previous scrape, 0..1", [], function () {
    const now = performance.eventLoopUtilization();
    this.set(performance.eventLoopUtilization(now, elu).utilization);
    elu = now;
  });
  gaugeCollect(registry, 'openclaw_log_follower_buffered_bytes', 'Bytes held for log followers (their queues and unsent socket data); bounded per follower', [], function () {
    this.set(src.logBufferedBytes());
  });
  registry.removeSingleMetric('openclaw_log_dropped_lines_total');
  new Counter<'where'>({
    name: 'openclaw_log_dropped_lines_total',
    help: 'Log lines dropped: a slow follower, a congested log file, or an agent over its log rate',
    labelNames: ['where'],
    registers: [registry],
    collect() {
      const d = src.logDrops();
      this.reset();
      for (const where of ['follower', 'file', 'agent'] as const) this.inc({ where }, d[where]);
    },
  });

  return {
    run(agent, ok, seconds) {
      runs.inc({ agent });
      if (!ok) failed.inc({ agent });
      duration.observe({ agent }, seconds);
    },
    emitted: (agent, n) => n > 0 && emitted.inc({ agent }, n),
    consumed: (agent) => consumed.inc({ agent }),
    restart: (agent, reason) => restarts.inc({ agent, reason }),
    probeFailure: (agent, probe) => probes.inc({ agent, probe }),
    workerStart: (agent, spare) => workerStarts.inc({ agent, worker: spare ? 'spare' : 'new' }),
  };
}

function gaugeCollect<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], collect: (this: Gauge<L>) => void | Promise<void>): Gauge<L> {
  existing(registry, name, 'Gauge', labelNames);
  registry.removeSingleMetric(name);
  return new Gauge<L>({ name, help, labelNames, registers: [registry], collect });
}

// ---- agent metrics (this.metrics) ----------------------------------------------------------------

/** Series one agent may create through this.metrics; samples beyond are dropped and counted. */
export const MAX_CUSTOM_SERIES_PER_AGENT = 200;
const MAX_CUSTOM_LABELS = 8;
const MAX_LABEL_VALUE = 128;
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface CustomSeries {
  labels: Record<string, string>;
  value: number;
  buckets?: number[];
  sum?: number;
  count?: number;
}

/** One family of agent-defined metrics, shaped like a prom-client metric for the registry. */
class CustomFamily {
  readonly series = new Map<string, CustomSeries>();
  readonly help: string;
  constructor(
    readonly name: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    source: string,
  ) {
    this.help = `Agent metric '${source}' (this.metrics.${type}), labelled by agent`;
  }

  get() {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }> = [];
    for (const s of this.series.values()) {
      if (this.type !== 'histogram') {
        values.push({ value: s.value, labels: s.labels });
        continue;
      }
      DEFAULT_BUCKETS.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: s.buckets![i] }));
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count! });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum! });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count! });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' as const };
  }

  reset(): void {
    this.series.clear();
  }
}

export function customMetricName(name: string, kind: 'counter' | 'gauge' | 'histogram'): string {
  let n = name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^_+/, '');
  // Prometheus keeps `_total` for counters: a counter gets it, a gauge or histogram loses it.
  if (kind === 'counter' && !n.endsWith('_total')) n += '_total';
  else if (kind !== 'counter' && n.endsWith('_total')) n = n.slice(0, -'_total'.length);
  return `openclaw_custom_${n}`;
}

/**
 * Metrics agents record with this.metrics, exported as `openclaw_custom_<name>{agent="…",…}`
 * (counters get a `_total` suffix, gauges and histograms lose one). Bounded: at most MAX_CUSTOM_SERIES_PER_AGENT series per agent
 * and MAX_CUSTOM_LABELS labels per sample; label values are cut at 128 characters. The first
 * refusal of each kind per agent is reported through `warn`, every one is counted in
 * openclaw_custom_metric_samples_dropped_total{agent}.
 */
export class AgentCustomMetrics {
  private readonly families = new Map<string, CustomFamily>();
  private readonly seriesCount = new Map<string, number>();
  private readonly warned = new Set<string>();
  private readonly dropped: Counter<'agent'>;

  constructor(
    private readonly registry: Registry,
    private readonly warn: (agent: string, msg: string) => void,
  ) {
    this.dropped = counter(registry, { name: 'openclaw_custom_metric_samples_dropped_total', help: 'Agent metric samples refused (series cap, bad name or labels, kind mismatch)', labelNames: ['agent'] as const });
  }

  record(agent: string, samples: Array<{ kind: 'counter' | 'gauge' | 'histogram'; name: string; value: number; labels?: Record<string, string> }>): void {
    for (const s of samples) {
      const why = this.recordOne(agent, s);
      if (why === null) continue;
      this.dropped.inc({ agent });
      const key = `${agent}\u0000${why.key}`;
      if (!this.warned.has(key)) {
        this.warned.add(key);
        this.warn(agent, why.msg);
      }
    }
  }

  private recordOne(agent: string, s: { kind: 'counter' | 'gauge' | 'histogram'; name: string; value: number; labels?: Record<string, string> }): { key: string; msg: string } | null {
    if (typeof s.value !== 'number' || !Number.isFinite(s.value)) return { key: `value:${s.name}`, msg: `metric '${s.name}': value must be a finite number` };
    if (s.kind === 'counter' && s.value < 0) return { key: `neg:${s.name}`, msg: `metric '${s.name}': a counter only goes up; use a gauge for values that go down` };
    if (typeof s.name !== 'string' || !/[a-zA-Z]/.test(s.name)) return { key: `name:${s.name}`, msg: `metric name '${s.name}' needs at least one letter` };
    const name = customMetricName(s.name, s.kind);
    let fam = this.families.get(name);
    if (!fam) {
      if (this.registry.getSingleMetric(name)) return { key: `taken:${name}`, msg: `metric '${s.name}' (${name}) is already a daemon metric; choose another name` };
      fam = new CustomFamily(name, s.kind, s.name);
      this.families.set(name, fam);
      this.registry.registerMetric(fam as unknown as Parameters<Registry['registerMetric']>[0]);
    }
    if (fam.type !== s.kind) return { key: `kind:${name}`, msg: `metric '${s.name}' is a ${fam.type} (first recorded so); it cannot also be a ${s.kind}` };
    const labels: Record<string, string> = { agent };
    const entries = Object.entries(s.labels ?? {});
    if (entries.length > MAX_CUSTOM_LABELS) return { key: `labels:${name}`, msg: `metric '${s.name}': at most ${MAX_CUSTOM_LABELS} labels` };
    for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : 1))) {
      const key = k.replace(/[^a-zA-Z0-9_]/g, '_');
      if (!/^[a-zA-Z_]/.test(key) || key.startsWith('__') || key === 'agent' || key === 'le') {
        return { key: `label:${name}:${key}`, msg: `metric '${s.name}': label '${k}' is reserved or invalid` };
      }
      labels[key] = String(v).slice(0, MAX_LABEL_VALUE);
    }
    const id = JSON.stringify(labels);
    let series = fam.series.get(id);
    if (!series) {
      const n = this.seriesCount.get(agent) ?? 0;
      if (n >= MAX_CUSTOM_SERIES_PER_AGENT) {
        return { key: 'cap', msg: `agent metrics: over ${MAX_CUSTOM_SERIES_PER_AGENT} series; new label combinations are dropped (keep label values to a small fixed set, never ids)` };
      }
      this.seriesCount.set(agent, n + 1);
      series = { labels, value: 0 };
      if (s.kind === 'histogram') Object.assign(series, { buckets: DEFAULT_BUCKETS.map(() => 0), sum: 0, count: 0 });
      fam.series.set(id, series);
    }
    if (s.kind === 'counter') series.value += s.value;
    else if (s.kind === 'gauge') series.value = s.value;
    else {
      DEFAULT_BUCKETS.forEach((le, i) => {
        if (s.value <= le) series!.buckets![i]++;
      });
      series.sum! += s.value;
      series.count!++;
    }
    return null;
  }
}

/**
 * The daemon's own process metrics (prom-client's defaults: CPU, RSS, heap, GC, event-loop lag,
 * handles). The three `nodejs_active_*_total` gauges are left out: a gauge named `_total` fails
 * `promtool check metrics`, and `nodejs_active_handles`/`_requests`/`_resources` carry the same counts.
 */
export function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
}
