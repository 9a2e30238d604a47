// DaemonModule 'jobs': the job queue's tables, its workers (one JobRunner), the `jobs.enqueue` run
// intent (this.jobs.enqueue commits with the run), the API routes and the metrics.
import type pg from 'pg';
import type { CheckContext, DaemonModule, ModuleContext } from '../contracts/modules.js';
import { counter, gauge, histogram } from '../observability/metrics.js';
import { traceparent } from '../observability/tracing.js';
import { BadRequestError, OpenClawError, type ConfigIssue } from '../util/errors.js';
import { DEFAULT_GLOBAL_CONCURRENCY, formatRateLimit, resolvePolicy, type JobsSection, type QueuePolicy } from './config.js';
import { normalizeEnqueue, QUEUE_NAME, type NormalizedEnqueue } from './options.js';
import { JobRunner, type QueueBinding } from './runner.js';
import { JobStore, jobsStoreModule } from './store.js';
import { jobRoutes } from './routes.js';

export type { JobsService, QueueView } from './service.js';
import type { JobsService } from './service.js';

export interface JobsModuleOptions {
  /** Safety poll interval (default 5 s). */
  pollMs?: number;
  /** Test hook: false freezes lease renewals (a stand-in for a paused or partitioned worker). */
  heartbeat?: boolean;
}

const rateText = (r: { count: number; windowMs: number } | null) => (r ? formatRateLimit(r) : null);

/** What an enqueue to a queue that no agent serves answers (the job is kept, and waits). */
export function unservedWarning(queue: string): string {
  return `no agent serves queue '${queue}': the job waits until an agent with @job('${queue}') is configured and enabled`;
}

/** A run intent from a worker: re-checked here, the daemon does not trust the worker's shapes. */
function checkIntent(d: unknown): NormalizedEnqueue {
  const j = d as NormalizedEnqueue;
  if (!j || typeof j !== 'object' || typeof j.id !== 'string' || typeof j.queue !== 'string' || !QUEUE_NAME.test(j.queue) || typeof j.priority !== 'number' || typeof j.delayMs !== 'number') {
    throw new BadRequestError('this.jobs.enqueue: a malformed job reached the daemon', 'invalid_job');
  }
  return j;
}

export class JobsModule implements DaemonModule {
  readonly name = 'jobs';
  service: JobsService | null = null;
  private listener: pg.Client | null = null;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(private readonly opts: JobsModuleOptions = {}) {}

  /** One agent per queue: two @job handlers of one queue is a config error before anything starts. */
  check(ctx: CheckContext): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    const first = new Map<string, { agent: string; method: string }>();
    for (const a of ctx.config.agents) {
      if (!a.enabled) continue;
      for (const j of ctx.agents.get(a.name)?.jobs ?? []) {
        const prev = first.get(j.name);
        if (!prev) first.set(j.name, { agent: a.name, method: j.method });
        else issues.push(ctx.locate.issue(['agents', a.name, 'source'], `job queue '${j.name}' has two handlers: ${prev.agent}.${prev.method}() and ${a.name}.${j.method}(); a queue is served by one agent (use replicas to scale it)`));
      }
    }
    return issues;
  }

  async start(ctx: ModuleContext): Promise<void> {
    const cfg = (ctx.config.extensions?.jobs ?? {}) as JobsSection;
    await ctx.store.migrateModule(jobsStoreModule);
    const store = new JobStore(ctx.store.handle(), () => ctx.clock.now(), (v) => ctx.services.secrets.redact(v));

    // Handlers: @job / static jobs of every module agent. One agent per queue.
    const bindings = new Map<string, QueueBinding>();
    for (const agent of ctx.agentNames()) {
      const c = ctx.agent(agent);
      if (!c || !c.cfg.enabled) continue;
      for (const j of c.description?.jobs ?? []) {
        const prev = bindings.get(j.name);
        if (prev) {
          throw new OpenClawError('jobs_handler_conflict', `job queue '${j.name}' has two handlers: ${prev.agent}.${prev.method}() and ${agent}.${j.method}(); a queue is served by one agent (use replicas to scale it)`, { exitCode: 78 });
        }
        bindings.set(j.name, { queue: j.name, agent, method: j.method, policy: resolvePolicy(j.options, cfg.queues?.[j.name]) });
      }
    }
    const policies = new Map<string, QueuePolicy>();
    const policyOf = (queue: string): QueuePolicy => {
      const b = bindings.get(queue);
      if (b) return b.policy;
      let p = policies.get(queue);
      if (!p) policies.set(queue, (p = resolvePolicy(undefined, cfg.queues?.[queue])));
      return p;
    };

    const unserved = counter(ctx.metrics, { name: 'openclaw_jobs_unserved_enqueued_total', help: 'Jobs enqueued to a queue that no agent serves', labelNames: ['queue'] as const });
    const warnedUnserved = new Set<string>();
    /** Counts jobs sent to unserved queues and logs each such queue once; returns the warning per queue. */
    const noteUnserved = (queues: string[]): Map<string, string> => {
      const out = new Map<string, string>();
      for (const q of queues) {
        if (bindings.has(q)) continue;
        unserved.inc({ queue: label(q) });
        out.set(q, unservedWarning(q));
        if (!warnedUnserved.has(q)) {
          warnedUnserved.add(q);
          ctx.log('warning', `jobs: ${unservedWarning(q)}`);
        }
      }
      return out;
    };
    const total = counter(ctx.metrics, { name: 'openclaw_jobs_total', help: 'Job attempts by outcome (completed, retried, dead, lease_lost, released)', labelNames: ['queue', 'status'] as const });
    const pending = gauge(ctx.metrics, { name: 'openclaw_jobs_pending', help: 'Jobs waiting (due or delayed) per queue', labelNames: ['queue'] as const });
    const duration = histogram(ctx.metrics, {
      name: 'openclaw_job_duration_seconds',
      help: 'Job handler duration, start to commit',
      labelNames: ['queue'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    });
    // Queue names come from code and config, not from requests, so the label set stays bounded —
    // except for API enqueues to arbitrary names: those are labelled 'other' until a handler or a
    // config entry names them.
    const label = (q: string) => (bindings.has(q) || cfg.queues?.[q] ? q : 'other');

    const outcomeOf = new Map<string, { inc(): void }>();
    const durationOf = new Map<string, { observe(v: number): void }>();
    const debugAgents = new Set(ctx.config.agents.filter((a) => a.logging.level === 'debug').map((a) => a.name));
    const runner = new JobRunner({
      jobs: store,
      controller: (a) => ctx.agent(a),
      globalConcurrency: cfg.concurrency ?? DEFAULT_GLOBAL_CONCURRENCY,
      now: () => ctx.clock.now(),
      setTimer: (fn, ms) => ctx.clock.setTimer(fn, ms),
      log: (line) => ctx.logs.write({ time: ctx.clock.now(), ...line }),
      // The per-job "completed" line only for agents logging at debug (a line per job is CPU per job).
      debug: (a) => debugAgents.has(a),
      // Label children resolved once per queue (and outcome), not per job: prom-client hashes the
      // label set on every inc/observe otherwise.
      metrics: {
        outcome: (q, status) => {
          const k = `${q}\u0000${status}`;
          let c = outcomeOf.get(k);
          if (!c) outcomeOf.set(k, (c = total.labels({ queue: label(q), status })));
          c.inc();
        },
        duration: (q, s) => {
          let h = durationOf.get(q);
          if (!h) durationOf.set(q, (h = duration.labels({ queue: label(q) })));
          h.observe(s);
        },
      },
      ...(this.opts.pollMs !== undefined ? { pollMs: this.opts.pollMs } : {}),
      ...(this.opts.heartbeat !== undefined ? { heartbeat: this.opts.heartbeat } : {}),
    });

    const svc: JobsService = {
      store,
      runner,
      policyOf,
      handlerOf: (queue) => bindings.get(queue)?.agent ?? null,
      ownerOf: (agent) => ctx.agent(agent)?.cfg.owner,
      enqueue: async (reqs, o) => {
        const tp = o?.traceparent ?? traceparent() ?? null;
        const jobs = reqs.map((r, i) => ({ ...normalizeEnqueue(r, reqs.length > 1 ? `jobs[${i}]` : 'job'), traceparent: tp }));
        const res = await store.enqueue(jobs, policyOf);
        for (const q of new Set(jobs.map((j) => j.queue))) runner.wake(q);
        const warnings = noteUnserved(jobs.map((j) => j.queue));
        return res.map((r, i) => (warnings.has(jobs[i]!.queue) ? { ...r, warning: warnings.get(jobs[i]!.queue)! } : r));
      },
      redrive: async (o) => {
        const r = await store.redrive(o);
        for (const q of r.queues) runner.wake(q);
        return { redriven: r.redriven };
      },
      queues: async () => {
        const stats = new Map((await store.stats()).map((s) => [s.queue, s]));
        const names = new Set([...stats.keys(), ...bindings.keys(), ...Object.keys(cfg.queues ?? {})]);
        return [...names].sort().map((q) => {
          const p = policyOf(q);
          const b = bindings.get(q);
          return {
            ...(stats.get(q) ?? { queue: q, waiting: 0, delayed: 0, active: 0, completed: 0, dead: 0, cancelled: 0 }),
            agent: b?.agent ?? null,
            method: b?.method ?? null,
            served: b !== undefined,
            running: runner.inflight(q),
            policy: { concurrency: p.concurrency, keyConcurrency: p.keyConcurrency, rateLimit: rateText(p.rateLimit), keyRateLimit: rateText(p.keyRateLimit), maxAttempts: p.maxAttempts, backoff: p.backoff, timeoutMs: p.timeoutMs, retentionMs: p.retentionMs, leaseMs: p.leaseMs },
          };
        });
      },
    };
    this.service = svc;

    ctx.intent('jobs.enqueue', {
      // In the run's commit: the jobs carry the run's trace (never a value the worker sent).
      effects: (data) => {
        const tp = traceparent() ?? null;
        return [store.enqueueEffect(data.map((d) => ({ ...checkIntent(d), traceparent: tp })), policyOf)];
      },
      committed: (data) => {
        noteUnserved(data.map((d) => (d as NormalizedEnqueue).queue));
        for (const q of new Set(data.map((d) => (d as NormalizedEnqueue).queue))) runner.wake(q);
      },
    });
    ctx.routes((app) => jobRoutes(app, svc));

    const h = ctx.store.handle();
    if (h.dialect === 'postgres') await this.listen(h.url, store.channel, (q) => runner.wake(q), ctx);

    const refreshPending = async () => {
      const counts = await store.pending().catch(() => null);
      if (!counts) return;
      pending.reset();
      for (const q of new Set([...bindings.keys(), ...Object.keys(cfg.queues ?? {})])) pending.set({ queue: q }, 0);
      const other = Object.entries(counts).filter(([q]) => label(q) === 'other').reduce((n, [, v]) => n + v, 0);
      for (const [q, n] of Object.entries(counts)) if (label(q) !== 'other') pending.set({ queue: q }, n);
      if (other > 0) pending.set({ queue: 'other' }, other);
    };
    await refreshPending();
    const sweepMs = cfg.sweep_interval ?? 60_000;
    this.timers.push(
      setInterval(() => void refreshPending(), 5000),
      setInterval(() => void store.sweep((q) => policyOf(q).retentionMs).catch((err: Error) => ctx.log('warning', `jobs: retention sweep failed: ${err.message}`)), sweepMs),
    );
    for (const t of this.timers) t.unref();
    runner.start([...bindings.values()]);
    if (bindings.size > 0) ctx.log('info', `jobs: ${bindings.size} queue(s) served: ${[...bindings.values()].map((b) => `${b.queue} → ${b.agent}.${b.method}()`).join(', ')}`);
  }

  /** A dedicated LISTEN connection; reconnects with backoff. Wake-ups are hints: the poll is the net. */
  private async listen(url: string, channel: string, wake: (queue: string) => void, ctx: ModuleContext, delay = 500): Promise<void> {
    if (this.closed) return;
    // Loaded here, not at import: a daemon on SQLite never pays for `pg` (idle-memory target).
    const { default: pgm } = await import('pg');
    if (this.closed) return;
    const client = new pgm.Client({ connectionString: url });
    const retry = () => {
      if (this.closed || this.listener !== client) return;
      this.listener = null;
      client.end().catch(() => undefined);
      const t = setTimeout(() => void this.listen(url, channel, wake, ctx, Math.min(delay * 2, 30_000)).catch(() => undefined), delay);
      t.unref();
    };
    client.on('error', (err) => {
      ctx.log('warning', `jobs: LISTEN connection lost (${err.message}); reconnecting`);
      retry();
    });
    client.on('end', retry);
    client.on('notification', (n) => {
      if (n.payload) wake(n.payload);
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
      this.service?.runner.wakeAll();
    } catch (err) {
      ctx.log('warning', `jobs: cannot LISTEN for job wake-ups (${(err as Error).message}); relying on the poll and retrying`);
      retry();
    }
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.service?.runner.stop();
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => undefined);
  }
}

export function createJobsModule(opts: JobsModuleOptions = {}): JobsModule {
  return new JobsModule(opts);
}
