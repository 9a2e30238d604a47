// Tracing off (no OPENCLAW_OTEL_ENDPOINT): the run path makes no span at all — not even no-op ones
// from the OpenTelemetry API, which cost a span object and a context switch per run, per commit and
// per state RPC. A counting tracer provider installed globally (without initTracing) sees every
// span the daemon would ask for; a daemon running, emitting and handling events asks for none.
import { afterAll, describe, expect, it } from 'vitest';
import { INVALID_SPAN_CONTEXT, trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { tracingEnabled } from '../../src/observability/tracing.js';
import { fixture, makeProject, waitFor } from '../helpers/project.js';

const asked: string[] = [];
const counting: TracerProvider = {
  getTracer(): Tracer {
    const span = () => trace.wrapSpanContext(INVALID_SPAN_CONTEXT); // what the no-op tracer gives
    return {
      startSpan(name: string) {
        asked.push(name);
        return span();
      },
      startActiveSpan(name: string, ...rest: unknown[]) {
        asked.push(name);
        const fn = rest[rest.length - 1] as (s: unknown) => unknown;
        return fn(span());
      },
    } as Tracer;
  },
};

let daemon: Daemon | null = null;
afterAll(async () => {
  await daemon?.shutdown('test end');
  trace.disable();
});

describe('tracing off', () => {
  it('runs, commits, emits and handles events without asking for a single span', async () => {
    trace.setGlobalTracerProvider(counting);
    // The provider answers (so a span asked for would be counted), but tracing is not enabled.
    trace.getTracer('probe').startSpan('probe');
    expect(asked).toEqual(['probe']);
    asked.length = 0;
    expect(tracingEnabled()).toBe(false);
    const { configFile } = makeProject({
      agents: `  producer:\n    source: ${fixture('producer.ts')}\n  relay:\n    source: ${fixture('relay.ts')}\n`,
    });
    daemon = await Daemon.start(await loadConfig(configFile), { listen: false });
    const d = daemon;
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));
    const { runId } = await d.trigger('producer', { n: 5 });
    await waitFor('the run recorded', async () => (await d.listRuns('producer')).find((r) => r.id === runId)?.status === 'succeeded');
    const events = await d.listEvents({ name: 'tick' });
    expect(events).toHaveLength(5);
    expect(events.every((e) => !e.traceparent)).toBe(true);
    await waitFor('relay handled them', async () => (await d.listRuns('relay', { limit: 100 })).filter((r) => r.trigger === 'event' && r.status === 'succeeded').length >= 5);
    expect(asked).toEqual([]);
  });
});
