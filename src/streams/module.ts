// DaemonModule 'streams': the `streams:` section brought to life — the store module, the ingester
// (HTTP, files, agents' this.streams.append), one QueryProcessor per window, the routes, the
// `streams.append` run intent and the metrics.
import type { DaemonModule, ModuleContext } from '../daemon/modules.js';
import { counter, gauge, histogram } from '../observability/metrics.js';
import { BadRequestError, OpenClawError } from '../util/errors.js';
import { Aggregator } from './aggregates.js';
import { windowSchema, type StreamsSection, type WindowSection } from './config.js';
import { checkLines, Ingester, newAjv, streamDef, type Line, type StreamDef } from './ingest.js';
import { QueryProcessor, resultEventName } from './processor.js';
import { StreamStore, streamsStoreModule, type AppendResult } from './store.js';
import { FileWatcher } from './files.js';
import { streamRoutes } from './routes.js';
import type { QuerySpec } from './windows.js';

export interface StreamsService {
  store: StreamStore;
  ingester: Ingester;
  defs: Map<string, StreamDef>;
  queries: Map<string, QueryProcessor>;
  /** Validates and appends (durably, group-committed); bad lines go to the DLQ. */
  ingest(stream: string, lines: Line[], source: string): Promise<{ checked: ReturnType<typeof checkLines>; done: Promise<AppendResult> }>;
  def(stream: string): StreamDef;
  now(): number;
}

export interface StreamsModuleOptions {
  /** Poll interval of the processors (default 100 ms). */
  intervalMs?: number;
  batchSize?: number;
}

export function querySpec(name: string, stream: string, w: WindowSection): QuerySpec {
  const agg = new Aggregator(w.aggregate ?? {}, w.reduce, `streams.${stream}.windows.${name}`);
  const size = w.size ?? 0;
  return {
    name,
    stream,
    type: w.type,
    sizeMs: size,
    slideMs: w.type === 'hopping' ? w.slide! : size,
    gapMs: w.gap ?? 0,
    latenessMs: w.allowed_lateness ?? 0,
    graceMs: w.grace ?? 0,
    idleMs: w.idle_timeout ?? null,
    emit: w.emit ?? 'on_window_close',
    agg,
  };
}

/** Windows declared in TypeScript with @window(name, spec) on an agent method. */
function agentWindows(ctx: ModuleContext, cfg: StreamsSection, taken: Set<string>): Array<{ name: string; stream: string; w: WindowSection }> {
  const out: Array<{ name: string; stream: string; w: WindowSection }> = [];
  for (const agent of ctx.agentNames()) {
    const c = ctx.agent(agent);
    if (!c || !c.cfg.enabled) continue;
    for (const decl of c.description?.windows ?? []) {
      const where = `agent '${agent}': @window('${decl.name}') on ${decl.method}()`;
      const bad = (msg: string) => new OpenClawError('config_invalid', `${where}: ${msg}`, { exitCode: 78 });
      if (taken.has(decl.name)) throw bad(`a window '${decl.name}' is already declared (window names are global)`);
      const { stream, allowedLateness, idleTimeout, ...rest } = decl.spec as Record<string, unknown>;
      if (typeof stream !== 'string' || !cfg[stream]) throw bad(`stream ${JSON.stringify(stream)} is not declared under streams: in openclaw.yaml (streams are ${Object.keys(cfg).join(', ') || 'none'})`);
      const parsed = windowSchema.safeParse({ ...rest, ...(allowedLateness !== undefined ? { allowed_lateness: allowedLateness } : {}), ...(idleTimeout !== undefined ? { idle_timeout: idleTimeout } : {}) });
      if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; '));
      taken.add(decl.name);
      out.push({ name: decl.name, stream, w: parsed.data });
    }
  }
  return out;
}

export class StreamsModule implements DaemonModule {
  readonly name = 'streams';
  service: StreamsService | null = null;
  private processors: QueryProcessor[] = [];
  private watchers: FileWatcher[] = [];
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: StreamsModuleOptions = {}) {}

  async start(ctx: ModuleContext): Promise<void> {
    const cfg = (ctx.config.extensions?.streams ?? {}) as StreamsSection;
    if (Object.keys(cfg).length === 0) return;
    await ctx.store.migrateModule(streamsStoreModule);
    const store = new StreamStore(ctx.store.handle());
    const ajv = newAjv();
    const defs = new Map<string, StreamDef>();
    for (const [name, s] of Object.entries(cfg)) defs.set(name, streamDef(name, s, ajv));

    const events = counter(ctx.metrics, { name: 'openclaw_stream_events_total', help: 'Stream events by result (accepted, rejected, duplicate, throttled, failed)', labelNames: ['stream', 'result'] as const });
    const late = counter(ctx.metrics, { name: 'openclaw_stream_late_events_total', help: 'Events that arrived after their windows closed (sent to the late side stream)', labelNames: ['window'] as const });
    const commitSeconds = histogram(ctx.metrics, { name: 'openclaw_stream_ingest_commit_seconds', help: 'Time from buffering an append to its durable commit', labelNames: ['stream'] as const, buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
    const lagEvents = gauge(ctx.metrics, { name: 'openclaw_stream_ingest_lag_events', help: 'Events appended to the stream and not yet aggregated by the window', labelNames: ['window'] as const });
    const lagSeconds = gauge(ctx.metrics, { name: 'openclaw_stream_ingest_lag_seconds', help: 'Age of the oldest appended event the window has not aggregated yet (0 when caught up)', labelNames: ['window'] as const });
    const wmLag = gauge(ctx.metrics, { name: 'openclaw_stream_watermark_lag_seconds', help: 'Processing time minus the lowest partition watermark of the window', labelNames: ['window'] as const });
    const stateSize = gauge(ctx.metrics, { name: 'openclaw_stream_window_state', help: 'Open windows held (window state size)', labelNames: ['window'] as const });
    const dlqDepth = gauge(ctx.metrics, { name: 'openclaw_stream_dlq_depth', help: 'Dead-lettered lines kept for the stream', labelNames: ['stream'] as const });
    const results = counter(ctx.metrics, { name: 'openclaw_stream_window_results_total', help: 'Window results emitted (final or update)', labelNames: ['window', 'final'] as const });

    const byStream = new Map<string, QueryProcessor[]>();
    const subscribers = (q: string) => ctx.agentNames().filter((a) => ctx.agent(a)?.description?.handlers?.some((h) => h.event === resultEventName(q) || h.event === '*'));
    const ingester = new Ingester(store, ctx.clock, defs, {
      committed: (stream, r) => {
        if (r.appended) events.inc({ stream, result: 'accepted' }, r.appended);
        if (r.duplicates) events.inc({ stream, result: 'duplicate' }, r.duplicates);
        for (const p of byStream.get(stream) ?? []) p.wake();
      },
      failed: (stream, n, err) => {
        events.inc({ stream, result: 'failed' }, n);
        ctx.log('error', `streams: appending ${n} event(s) to '${stream}' failed: ${err.message}`);
      },
    });

    const svc: StreamsService = {
      store,
      ingester,
      defs,
      queries: new Map(),
      now: () => ctx.clock.now(),
      def: (stream) => {
        const d = defs.get(stream);
        if (!d) throw new OpenClawError('stream_not_found', `no stream '${stream}'; declare it under streams: in openclaw.yaml (streams are ${[...defs.keys()].join(', ') || 'none'})`, { status: 404 });
        return d;
      },
      ingest: async (stream, lines, source) => {
        const def = svc.def(stream);
        const checked = checkLines(def, lines, source, ctx.clock.now());
        if (checked.errors.length) events.inc({ stream, result: 'rejected' }, checked.errors.length);
        const t0 = performance.now();
        const done = ingester.append(stream, checked.events, checked.dlq).then((r) => {
          commitSeconds.observe({ stream }, (performance.now() - t0) / 1000);
          return r;
        });
        return { checked, done };
      },
    };
    this.service = svc;

    const resultRetention = new Map<string, number>();
    const declared: Array<{ name: string; stream: string; w: WindowSection }> = [];
    for (const [stream, s] of Object.entries(cfg)) for (const [name, w] of Object.entries(s.windows ?? {})) declared.push({ name, stream, w });
    declared.push(...agentWindows(ctx, cfg, new Set(declared.map((x) => x.name))));
    {
      for (const { name, stream, w } of declared) {
        const spec = querySpec(name, stream, w);
        if (w.retention !== undefined) resultRetention.set(name, w.retention);
        const p = new QueryProcessor(spec, store, ctx.store, ctx.clock, {
          committed: (q, r) => {
            if (r.late) late.inc({ window: q }, r.late);
            for (const x of r.results) results.inc({ window: q, final: String(x.final) });
            stateSize.set({ window: q }, p.engine.size);
            if (r.results.length) for (const a of subscribers(q)) ctx.agent(a)?.wakeConsumer();
          },
          error: (q, err) => ctx.log('warning', `streams: window '${q}' batch failed (${err.message}); state reloaded, retrying`),
        }, { ...(this.opts.intervalMs ? { intervalMs: this.opts.intervalMs } : {}), ...(this.opts.batchSize ? { batchSize: this.opts.batchSize } : {}) });
        svc.queries.set(name, p);
        (byStream.get(stream) ?? byStream.set(stream, []).get(stream)!).push(p);
        this.processors.push(p);
      }
    }

    // Agents: this.streams.append(name, events) commits with the run (a run intent).
    ctx.intent('streams.append', {
      effects: (data, caller) =>
        data.map((d) => {
          const { stream, events: evs } = d as { stream: string; events: unknown[] };
          const def = svc.def(stream);
          if (!Array.isArray(evs)) throw new BadRequestError('this.streams.append(name, events): events must be an array', 'invalid_request');
          const checked = checkLines(def, evs.map((value, i) => ({ line: i + 1, raw: '', value })), `agent:${caller.agent}`, ctx.clock.now());
          if (checked.errors.length) events.inc({ stream, result: 'rejected' }, checked.errors.length);
          if (checked.events.length) events.inc({ stream, result: 'accepted' }, checked.events.length);
          return store.appendEffect(stream, checked.events, def.dlq ? checked.dlq : [], def.dedupeMs);
        }),
      committed: (data) => {
        for (const d of data) for (const p of byStream.get((d as { stream: string }).stream) ?? []) p.wake();
      },
    });
    ctx.routes((app) => streamRoutes(app, svc));

    for (const p of this.processors) await p.start();
    for (const [stream, s] of Object.entries(cfg)) {
      if (!s.files) continue;
      const w = new FileWatcher(stream, s.files, ctx.config.root, svc, (msg) => ctx.log('warning', msg));
      this.watchers.push(w);
      w.start();
    }

    const refresh = async () => {
      const now = ctx.clock.now();
      const depths = await store.dlqDepths().catch(() => null);
      if (depths) for (const s of defs.keys()) dlqDepth.set({ stream: s }, depths[s] ?? 0);
      for (const p of this.processors) {
        const q = p.spec.name;
        const head = await store.head(p.spec.stream).catch(() => null);
        if (head !== null) lagEvents.set({ window: q }, Math.max(0, head - p.position));
        const next = head !== null && head > p.position ? (await store.readAfter(p.spec.stream, p.position, 1).catch(() => []))[0] : undefined;
        lagSeconds.set({ window: q }, next ? Math.max(0, (now - next.ingestedAt) / 1000) : 0);
        const wm = p.engine.lowWatermark();
        if (wm !== null) wmLag.set({ window: q }, Math.max(0, (now - wm) / 1000));
        stateSize.set({ window: q }, p.engine.size);
      }
    };
    const sweep = async () => {
      const now = ctx.clock.now();
      for (const def of defs.values()) {
        const ps = byStream.get(def.name) ?? [];
        const consumedUpTo = ps.length ? Math.min(...ps.map((p) => p.position)) : Number.MAX_SAFE_INTEGER;
        const res = ps.map((p) => ({ query: p.spec.name, retentionMs: resultRetention.get(p.spec.name) ?? def.retentionMs }));
        await store.sweep({ stream: def.name, retentionMs: def.retentionMs, dedupeMs: def.dedupeMs, dlqRetentionMs: def.dlqRetentionMs, consumedUpTo }, res, now);
      }
    };
    await refresh();
    this.timers.push(
      setInterval(() => void refresh().catch(() => undefined), 5000),
      setInterval(() => void sweep().catch((err: Error) => ctx.log('warning', `streams: retention sweep failed: ${err.message}`)), 60_000),
    );
    for (const t of this.timers) t.unref();
    ctx.log('info', `streams: ${defs.size} stream(s), ${this.processors.length} window(s)`);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const w of this.watchers) await w.stop();
    await this.service?.ingester.drain();
    for (const p of this.processors) await p.stop();
  }
}

export function createStreamsModule(opts: StreamsModuleOptions = {}): StreamsModule {
  return new StreamsModule(opts);
}
