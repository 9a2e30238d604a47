// OpenTelemetry tracing, on when OPENCLAW_OTEL_ENDPOINT is set: spans for run cycles, event
// handling, emits and state operations, exported as OTLP/HTTP JSON to `${endpoint}/v1/traces`
// in batches. Off, the helpers here make no span at all (not even the API's no-op ones).
//
// Other subsystems create spans with `withSpan(name, attrs, fn)` or with
// `trace.getTracer('openclaw')` (the LLM router); both join the active context, which an
// AsyncLocalStorage context manager carries across awaits. Agent code runs in other threads and
// processes: the daemon passes the run span as a W3C `traceparent` in the Invocation, the worker
// stamps its trace id on log lines and sends it back on state RPCs (parent of their spans).
import { context, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { VERSION } from '../version.js';

export const TRACER_NAME = 'openclaw';
export const OTEL_ENDPOINT_ENV = 'OPENCLAW_OTEL_ENDPOINT';

interface Active {
  provider: BasicTracerProvider;
  contextManager: AsyncLocalStorageContextManager;
  endpoint: string;
  users: number;
}

let active: Active | null = null;

/** What withSpan hands its function while tracing is off: records nothing, allocated once. */
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const sdkRequire = createRequire(import.meta.url);

export interface TracingOptions {
  /** Base URL of an OTLP/HTTP receiver (the collector's :4318); spans go to `${endpoint}/v1/traces`. */
  endpoint: string;
  project?: string;
  /** Batch delay (default 1 s, so a short-lived daemon's spans leave soon). */
  scheduledDelayMillis?: number;
}

/**
 * Installs the global tracer provider and context manager. Several daemons in one process (tests)
 * share one provider; each start is paired with a `shutdownTracing()`.
 */
export function initTracing(opts: TracingOptions): void {
  const endpoint = opts.endpoint.replace(/\/+$/, '');
  if (active) {
    active.users++;
    return;
  }
  // The SDK, the exporter and their dependencies (~20 MB) load only when tracing is on: an idle
  // daemon without OPENCLAW_OTEL_ENDPOINT keeps just @opentelemetry/api (the no-op tracer).
  const { AsyncLocalStorageContextManager } = sdkRequire('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor } = sdkRequire('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = sdkRequire('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = sdkRequire('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'openclaw',
      'service.version': VERSION,
      ...(opts.project ? { 'openclaw.project': opts.project } : {}),
    }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: opts.scheduledDelayMillis ?? 1000, maxQueueSize: 4096 })],
  });
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  active = { provider, contextManager, endpoint, users: 1 };
}

/** Tracing from the environment: on when OPENCLAW_OTEL_ENDPOINT is set. Returns whether it is on. */
export function initTracingFromEnv(project?: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const endpoint = env[OTEL_ENDPOINT_ENV]?.trim();
  if (!endpoint) return false;
  initTracing({ endpoint, project });
  return true;
}

export function tracingEnabled(): boolean {
  return active !== null;
}

/** Exports what is buffered and, for the last user, uninstalls the provider. Never throws. */
export async function shutdownTracing(): Promise<void> {
  const a = active;
  if (!a) return;
  if (--a.users > 0) {
    await a.provider.forceFlush().catch(() => undefined);
    return;
  }
  active = null;
  await a.provider.shutdown().catch(() => undefined);
  trace.disable();
  context.disable();
}

export function tracer() {
  return trace.getTracer(TRACER_NAME, VERSION);
}

/**
 * Runs fn in a new span (a child of the active one, or of `parent`), ends it, and marks it as an
 * error when fn throws. `fn` may set the status itself for outcomes that are not exceptions.
 */
export function withSpan<T>(name: string, attrs: Attributes, fn: (span: Span) => Promise<T> | T, opts: { parent?: Context } = {}): Promise<T> {
  // Tracing off: no span object, no context switch — fn gets a shared non-recording span.
  if (!active) {
    try {
      return Promise.resolve(fn(NOOP_SPAN));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const parent = opts.parent ?? context.active();
  return tracer().startActiveSpan(name, { attributes: attrs }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Opens and ends a span now — a child of the span `parent` names, else of the active one — and
 * returns its traceparent: the parent of later work that is not one call, such as the steps of a
 * workflow run (stored with the run, so steps after a restart join the same trace). Undefined when
 * tracing is off.
 */
export function markSpan(name: string, attrs: Attributes, parent?: string | null): string | undefined {
  if (!active) return undefined;
  const span = tracer().startSpan(name, { attributes: attrs }, parent ? contextFromTraceparent(parent) : context.active());
  const tp = traceparent(span);
  span.end();
  return tp;
}

/** The trace and span id of the active span, when tracing records one. */
export function activeTraceIds(): { traceId: string; spanId: string } | null {
  if (!active) return null;
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return null;
  return { traceId: sc.traceId, spanId: sc.spanId };
}

/** W3C traceparent of a span (or the active one): `00-<trace id>-<span id>-<flags>`. */
export function traceparent(span?: Span): string | undefined {
  if (!active) return undefined;
  const sc = (span ?? trace.getActiveSpan())?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses a traceparent; null when absent or malformed. */
export function parseTraceparent(tp: string | undefined | null): { traceId: string; spanId: string; flags: number } | null {
  const m = tp ? TRACEPARENT.exec(tp) : null;
  return m ? { traceId: m[1], spanId: m[2], flags: parseInt(m[3], 16) } : null;
}

/** A context whose parent is the remote span a traceparent names (the root context if none). */
export function contextFromTraceparent(tp: string | undefined | null): Context {
  const p = parseTraceparent(tp);
  if (!p) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: p.traceId, spanId: p.spanId, traceFlags: p.flags, isRemote: true });
}
