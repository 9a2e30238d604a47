// Get-or-create for prom-client metrics on the daemon's registry (never the global one), so two
// subsystems that both touch a family (the core exports openclaw_llm_* at zero before the router
// starts; the router increments them) share one definition. The names and label sets of a family
// must agree wherever it is created: a mismatch is a programming error and throws.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
    new Histogram<L>({ name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [], buckets: spec.buckets, registers: [registry] });
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
