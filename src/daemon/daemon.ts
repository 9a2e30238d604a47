// The composition root: builds the store, runtime, bus, scheduler, agent controllers and the
// control API from a ProjectConfig, and implements the ControlPlane the API serves.
//
// Start order: store (migrations) → validate every agent module (nothing starts if one is bad:
// exit 78) → subscriptions → control API (up before agents, so a crash-looping fleet stays
// observable) → agents → schedules (with the missed-run policy applied to the downtime).
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ProjectConfig, AgentConfig } from '../config/types.js';
import { systemClock, type Clock } from '../scheduler/types.js';
import { describeSchedule } from '../scheduler/schedule.js';
import { FireLedger, fireLedgerStoreModule } from '../scheduler/fire-ledger.js';
import { Schedules } from './schedules.js';
import { openStore } from '../store/index.js';
import { SHARED_NAMESPACE, type Store, type StoredEvent, type RunRecord, type StateVersionInfo, type Transition, type DeadLetter } from '../store/types.js';
import { createRuntime } from '../runtime/index.js';
import { sandboxFor } from '../runtime/sandbox.js';
import { startEgressProxy, type EgressProxy } from '../security/egress.js';
import type { Runtime, RuntimeListener } from '../runtime/types.js';
import type { LogLine, RpcRequest, RpcTrace } from '../runtime/protocol.js';
import { context } from '@opentelemetry/api';
import { LogHub } from '../observability/log-hub.js';
import { openBus, OutboxBus, type Bus, type OpenedBus } from '../bus/index.js';
import { DEFAULT_MAX_EVENT_BYTES, NamespaceVersions, commitBuffer, type RunContext } from './run-transaction.js';
import { AgentController } from './agent-controller.js';
import { Placement, applyAction } from './placement.js';
import { Counter } from 'prom-client';
import type { AgentAction, AgentView, ControlPlane, HealthView, NodeView } from './control.js';
import { BadRequestError, ConfigError, NotFoundError, OpenClawError } from '../util/errors.js';
import { createApiServer, type RouteInfo } from '../api/server.js';
import { checkBind, resolveAuthMode } from '../security/auth/mode.js';
import fs from 'node:fs';
import { VERSION } from '../version.js';
import { Registry } from 'prom-client';
import { AgentCustomMetrics, coreMetrics, processMetrics, type CoreMetrics } from '../observability/metrics.js';
import { contextFromTraceparent, initTracingFromEnv, shutdownTracing, activeTraceIds, tracingEnabled, withSpan } from '../observability/tracing.js';
import type { FastifyInstance } from 'fastify';
import { noAudit, noSecrets, type DaemonModule, type DaemonServices, type IntentHandler, type ModuleContext, type RpcHandler } from './modules.js';
import type { RunIntent } from '../runtime/protocol.js';
import { createModules } from './module-list.js';
import { preflight } from './preflight.js';
import { workerGuardrails } from '../security/guardrails/worker-spec.js';
import { expandSecrets } from '../security/redact.js';
import { commitAuditEntries } from '../security/audit/commit.js';

export interface DaemonOptions {
  dev?: boolean;
  clock?: Clock;
  /** Mirror agent log lines (the foreground terminal). */
  echo?: (line: LogLine) => void;
  /** Inject for tests; by default built from the config. */
  store?: Store;
  runtime?: Runtime;
  /** Serve the control API (default true). */
  listen?: boolean;
  /** Subsystems to start (default: createModules()). */
  modules?: DaemonModule[];
}

const DAEMON_LOG = 'daemon';

export class Daemon implements ControlPlane {
  readonly config: ProjectConfig;
  private readonly clock: Clock;
  private store!: Store;
  private fires!: FireLedger;
  /** Cluster placement: which agent instances run on this daemon (all of them on SQLite). */
  private placement: Placement | null = null;
  private runtime!: Runtime;
  /** Relays command agents' HTTP(S) under the network policy (security/egress.ts). */
  private egress: EgressProxy | null = null;
  readonly logs: LogHub;
  private bus!: Bus;
  private openedBus: OpenedBus | null = null;
  private versions!: NamespaceVersions;
  private schedules!: Schedules;
  private readonly controllers = new Map<string, AgentController>();
  private api: Awaited<ReturnType<typeof createApiServer>> | null = null;
  private startedAt = 0;
  private started = false;
  private shuttingDown: Promise<void> | null = null;
  private readonly shutdownHooks: Array<() => void> = [];
  private resolveStopped!: () => void;
  /** Resolves when the daemon has fully stopped. */
  readonly stopped: Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  url = '';
  port = 0;
  /** The registry served at /api/metrics. */
  readonly metrics = new Registry();
  readonly services: DaemonServices = { audit: noAudit, secrets: noSecrets };
  private modules: DaemonModule[] = [];
  private readonly startedModules: DaemonModule[] = [];
  private readonly moduleRoutes: Array<(app: FastifyInstance) => void> = [];
  private readonly rpcHandlers = new Map<string, RpcHandler>();
  private readonly core: CoreMetrics;
  private readonly customMetrics: AgentCustomMetrics;
  private tracing = false;
  private readonly intentHandlers = new Map<string, IntentHandler>();

  private constructor(config: ProjectConfig, private readonly opts: DaemonOptions) {
    this.config = config;
    this.clock = opts.clock ?? systemClock;
    // Secret values never reach a log ring, file or follower (services.secrets: security module).
    this.logs = new LogHub({
      dir: path.join(config.dataDir, 'logs'),
      echo: opts.echo,
      redact: (line) => this.services.secrets.redact(line),
      retentionMs: (agent) => this.config.agents.find((a) => a.name === agent)?.logging.retentionMs,
    });
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    processMetrics(this.metrics);
    this.core = coreMetrics(this.metrics, this.metricsSource(), config.agents.map((a) => a.name));
    this.customMetrics = new AgentCustomMetrics(this.metrics, (agent, msg) => this.log('warning', msg, undefined, agent));
  }

  /** What the collect()-time gauges read at scrape time. */
  private metricsSource() {
    return {
      now: () => this.clock.now(),
      agents: () => [...this.controllers.values()].map((c) => ({ name: c.name, status: c.status(), instances: c.instanceViews() })),
      pendingCounts: async () => (this.store ? this.pendingCounts() : {}),
      eventLagMs: async (agent: string) => (this.bus && this.controllers.get(agent)?.subscriptions.length ? (await this.bus.stats(agent)).lagMs : 0),
      stateSize: async (agent: string) => (this.store ? this.store.stateSize(agent) : 0),
      logDrops: () => ({ follower: this.logs.followerDrops, file: this.logs.fileDrops(), agent: this.logs.agentDrops }),
      logBufferedBytes: () => this.logs.bufferedBytes(),
    };
  }

  static async start(config: ProjectConfig, opts: DaemonOptions = {}): Promise<Daemon> {
    const d = new Daemon(config, opts);
    try {
      await d.boot();
    } catch (err) {
      await d.abortBoot();
      throw err;
    }
    return d;
  }

  private log(level: LogLine['level'], msg: string, fields?: Record<string, unknown>, agent = DAEMON_LOG, instance?: string): void {
    const line: LogLine = { time: this.clock.now(), level, agent, instance: instance ?? (agent === DAEMON_LOG ? DAEMON_LOG : `${agent}#0`), msg, fields };
    const ids = activeTraceIds();
    if (ids) Object.assign(line, ids);
    this.logs.write(line);
  }

  private async boot(): Promise<void> {
    this.startedAt = this.clock.now();
    this.tracing = initTracingFromEnv(this.config.project);
    this.modules = this.opts.modules ?? createModules();
    // Before anything starts: never serve a non-loopback address without token auth (exit 78).
    if (this.opts.listen !== false) checkBind(this.config, resolveAuthMode(this.config, this.opts.dev === true), this.modules.some((m) => m.name === 'auth'));
    const tls = this.config.api.tls ? readTls(this.config.api.tls, this.config.file) : undefined;
    this.runtime = this.opts.runtime ?? createRuntime(this.listener(), { compileCacheDir: path.join(this.config.dataDir, 'cache', 'agents'), sandbox: sandboxFor(this.config) });
    if (this.config.agents.some((a) => a.kind === 'command')) this.egress = await startEgressProxy(workerGuardrails(this.config, this.config.agents[0]!).network);

    // Every check (agent modules, each module's section) before anything is created on disk. Loading
    // the agents compiles them into .openclaw/cache and gives their hosts a data directory: a refused
    // configuration takes back what it created ("nothing was started" stays true).
    const hadDataDir = fs.existsSync(this.config.dataDir);
    let descriptions: Awaited<ReturnType<typeof preflight>>;
    try {
      descriptions = await preflight(this.config, this.runtime, this.modules);
    } catch (err) {
      if (!hadDataDir && err instanceof ConfigError) {
        fs.rmSync(this.config.dataDir, { recursive: true, force: true });
      }
      throw err;
    }
    this.store = this.opts.store ?? (await openStore(this.config.store, { clock: this.clock }));
    await this.store.migrateModule(fireLedgerStoreModule);
    this.fires = new FireLedger(this.store.handle(), () => this.clock.now());
    const placement = (this.placement = await Placement.open(this.config, this.store, this.placementHooks()));
    this.schedules = new Schedules({
      store: this.store,
      fires: this.fires,
      clock: this.clock,
      controllers: this.controllers,
      placement: () => this.placement,
      log: (level, msg, fields, agent) => this.log(level, msg, fields, agent),
    });

    this.versions = new NamespaceVersions(this.store);
    this.openedBus = await openBus(this.config.bus, this.store, this.clock, {
      project: this.config.project,
      nodeId: placement.nodeId ?? undefined,
      onError: (err) => this.log('warning', `bus relay: ${err.message}`),
    });
    this.bus = this.openedBus.bus;
    for (const a of this.config.agents) {
      const c = new AgentController(a, descriptions.get(a.name) ?? null, {
        store: this.store,
        runtime: this.runtime,
        clock: this.clock,
        bus: this.bus,
        runContext: this.runContext(a),
        guardrails: workerGuardrails(this.config, a),
        log: (level, msg, fields, instance) => this.log(level, msg, fields, a.name, instance),
        metrics: this.core,
        fires: this.fires,
        placed: (instanceId) => placement.placed(instanceId),
        commandEnv: (agent, instance) => ({
          ...(this.egress?.env(this.url) ?? {}),
          OPENCLAW_URL: this.url,
          OPENCLAW_AGENT: agent,
          OPENCLAW_INSTANCE: instance,
          // Scoped to this agent and valid while this instance runs (auth module); a placeholder without it.
          OPENCLAW_TOKEN: this.services.auth?.agentToken(agent, instance) ?? `agent:${agent}`,
        }),
        expandSecrets: (value, reader) => expandSecrets(value, (text) => this.services.secrets.expand(text, reader)),
        onTransition: (agent, instance, from, to, reason) =>
          this.services.audit.record({ actor: 'supervisor', action: 'agent.transition', target: agent, detail: { instance, from, to, reason } }),
      });
      this.controllers.set(a.name, c);
      await this.bus.subscribe(a.name, c.subscriptions);
      this.bus.onWake(a.name, () => c.wakeConsumer());
    }
    // Consumers no longer in the config keep their rows but get no new deliveries. With an external
    // bus no group takes delivery rows in the store (its subscriptions live on the bus); its groups
    // that nothing here subscribes are retired once the modules have started (below).
    const persisted = await this.store.getSubscriptions();
    for (const consumer of Object.keys(persisted)) {
      if (!this.controllers.has(consumer) || this.bus.kind !== 'embedded') await this.store.setSubscriptions(consumer, []);
    }

    // Whatever this daemon's previous boot had claimed is free again now: every delivery on a single
    // daemon, only this node's (lease tokens carry the node id) in a cluster — never another live node's.
    await this.store.releaseDeliveries(undefined, placement.nodeId ?? undefined);
    await this.versions.load([...this.controllers.keys(), SHARED_NAMESPACE]);

    // Cluster: a live node before the modules start (workflow runs it resumes are not orphans).
    await placement.register();
    const ctx = this.moduleContext();
    for (const m of this.modules) {
      await m.start(ctx);
      this.startedModules.push(m);
    }
    // A bus group that neither an agent nor a module of this daemon subscribes (an agent removed
    // from the config) stops holding the external bus's log.
    if (this.bus instanceof OutboxBus) await this.bus.retireOthers();

    if (this.opts.listen !== false) {
      const auth = this.services.auth;
      this.api = await createApiServer(this, {
        host: this.config.api.host,
        port: this.config.api.port,
        routes: this.moduleRoutes,
        redact: (body) => this.services.secrets.redact(body),
        metrics: this.metrics,
        logFollow: { onDropped: (n) => this.logs.countFollowerDropped(n), track: (b) => this.logs.trackFollowerBuffer(b) },
        authorize: auth?.authorize,
        onResponse: auth ? (req, reply) => auth.onResponse(req, reply) : undefined,
        tls,
      });
      const { url } = await this.api.listen();
      this.url = url;
      this.port = Number(new URL(url).port);
    }

    // Cluster: register the node and adopt the leases its previous boot held; the loop below starts
    // only the instances this node holds (placement.placed), the others come as leases are taken.
    await placement.join(this.url || null);
    for (const c of this.controllers.values()) {
      if (!c.cfg.enabled) continue;
      const desired = (await this.store.getDesired(c.name)) ?? 'running';
      if (desired === 'stopped') {
        this.log('info', `agent '${c.name}' left stopped (stopped by a user; start it with \`openclaw start ${c.name}\`)`);
        continue;
      }
      await c.start({ paused: desired === 'paused' });
    }
    await this.schedules.start();
    placement.start();
    this.timers.push(
      setInterval(() => void this.store.purgeExpired().catch(() => undefined), 60_000),
      setInterval(() => void this.store.setMeta('heartbeat', String(this.clock.now())).catch(() => undefined), 5_000),
    );
    for (const t of this.timers) t.unref();
    this.started = true;
    this.log('info', `daemon started: ${this.controllers.size} agent(s), store ${this.store.dialect}, API ${this.url || 'off'}`);
  }

  private moduleContext(): ModuleContext {
    return {
      config: this.config,
      store: this.store,
      bus: this.bus,
      clock: this.clock,
      dataDir: this.config.dataDir,
      dev: this.opts.dev === true,
      control: this,
      logs: this.logs,
      metrics: this.metrics,
      services: this.services,
      agent: (name) => this.controllers.get(name),
      agentNames: () => [...this.controllers.keys()],
      node: this.placement?.leases ? { id: this.placement.leases.nodeId, leaseMs: this.placement.leases.leaseMs } : null,
      log: (level, msg, fields) => this.log(level, msg, fields),
      routes: (register) => void this.moduleRoutes.push(register),
      intent: (kind, handler) => {
        if (this.intentHandlers.has(kind)) throw new Error(`intent '${kind}' is registered twice`);
        this.intentHandlers.set(kind, handler);
      },
      rpc: (op, handler) => {
        if (this.rpcHandlers.has(op)) throw new Error(`RPC op '${op}' is registered twice`);
        this.rpcHandlers.set(op, handler);
      },
      apiUrl: () => this.url,
    };
  }

  private async stopModules(): Promise<void> {
    for (const m of this.startedModules.splice(0).reverse()) {
      await m.stop?.().catch((err: Error) => this.log('warning', `module '${m.name}' did not stop cleanly: ${err.message}`));
    }
  }

  private async abortBoot(): Promise<void> {
    this.placement?.close();
    await this.runtime?.shutdown().catch(() => undefined);
    await this.egress?.close();
    await this.stopModules();
    await this.api?.close().catch(() => undefined);
    await this.openedBus?.close().catch(() => undefined);
    if (!this.opts.store) await this.store?.close().catch(() => undefined);
    await this.logs.close();
    if (this.tracing) await shutdownTracing();
  }

  private runContext(a: AgentConfig): RunContext {
    return {
      store: this.store,
      versions: this.versions,
      now: () => this.clock.now(),
      agent: a.name,
      maxStateSizeBytes: a.resources.maxStateSizeBytes,
      maxValueBytes: a.resources.maxStateValueBytes,
      maxEventBytes: a.resources.maxEventBytes,
      onPublished: (names) => this.bus.published(names),
      beforeCommit: (agent, buf) => this.services.guardrails?.beforeCommit(agent, buf) ?? buf,
      redact: (value) => this.services.secrets.redact(value),
      onCommitted: (info) => this.auditCommit(a.name, info),
      metrics: this.core,
      fence: this.placement?.fence(),
      intents: (intents, caller) => {
        const effects = [];
        for (const [kind, data] of groupIntents(intents)) {
          const h = this.intentHandlers.get(kind);
          if (!h) throw new OpenClawError('intent_unsupported', `agent '${a.name}' used '${kind}', which no daemon module serves (is its section configured?)`);
          effects.push(...h.effects(data, caller));
        }
        return effects;
      },
      onIntentsCommitted: (intents) => {
        for (const [kind, data] of groupIntents(intents)) this.intentHandlers.get(kind)?.committed?.(data);
      },
    };
  }

  /** One audit record per namespace changed (keys, never values) and one summarising the events emitted. */
  private auditCommit(agent: string, info: Parameters<NonNullable<RunContext['onCommitted']>>[0]): void {
    if (info.writes.length === 0 && info.emits.length === 0) return;
    const audit = this.services.audit;
    for (const e of commitAuditEntries(agent, { writes: info.writes, emits: info.emits, versions: info.result.versions, runId: info.runId, reason: info.reason })) audit.record(e);
  }

  private listener(): RuntimeListener {
    return {
      rpc: (instanceId, agent, req) => this.handleRpc(agent, req, instanceId),
      log: (line) => this.logs.write(line),
      metrics: (_instanceId, agent, samples) => this.customMetrics.record(agent, samples),
      // Memory samples are read at scrape time from each instance's latest (InstanceHandle.memory).
      memory: () => undefined,
      memorySoftLimit: (instanceId, agent, sample) => void this.controllers.get(agent)?.onMemorySoftLimit(instanceId, sample.heapUsed + sample.external),
      logsDropped: (_i, _a, count) => this.logs.countDropped(count),
    };
  }

  private handleRpc(agent: string, req: RpcRequest, instanceId: string): Promise<unknown> {
    if (!tracingEnabled()) return this.serveRpc(agent, req, instanceId);
    // State operations get a span, a child of the run that asked (its traceparent); others (LLM,
    // jobs) make their own spans with withSpan/trace.getTracer('openclaw') under this context.
    const parent = contextFromTraceparent((req as RpcRequest & RpcTrace).traceparent);
    if (!req.op.startsWith('state.')) return context.with(parent, () => this.serveRpc(agent, req, instanceId));
    const attrs: Record<string, string> = { 'openclaw.agent': agent, 'openclaw.instance': instanceId };
    if ('namespace' in req) attrs['openclaw.state.namespace'] = req.namespace;
    return withSpan(`openclaw.rpc.${req.op}`, attrs, () => this.serveRpc(agent, req, instanceId), { parent });
  }

  private async serveRpc(agent: string, req: RpcRequest, instanceId: string): Promise<unknown> {
    const handler = this.rpcHandlers.get(req.op);
    if (handler) return handler(req as unknown as { op: string } & Record<string, unknown>, { agent, instanceId });
    switch (req.op) {
      case 'state.get': {
        const e = await this.store.getState(req.namespace, req.key);
        return e ? { value: e.value, version: e.version, expiresAt: e.expiresAt } : null;
      }
      case 'state.list': {
        const entries = await this.store.listState(req.namespace, req.prefix);
        return entries.map((e) => ({ key: e.key, value: e.value, version: e.version }));
      }
      case 'state.checkpoint': {
        const c = this.controllers.get(agent);
        if (!c) throw new NotFoundError('agent', agent);
        const result = await commitBuffer(this.runContext(c.cfg), req, { reason: 'checkpoint', runId: req.runId, fenceInstance: instanceId });
        return { versions: result.versions };
      }
      default:
        throw new BadRequestError(`unknown RPC '${(req as { op: string }).op}'`);
    }
  }

  private placementHooks(): Parameters<typeof Placement.open>[2] {
    const commits = new Counter({ name: 'openclaw_cluster_commits_total', help: 'Run commits conditional on a cluster lease, by result (fenced: refused, the lease had moved on)', labelNames: ['result'], registers: [this.metrics] });
    return {
      controller: (agent) => this.controllers.get(agent),
      desired: async (agent) => (await this.store.getDesired(agent)) ?? 'running',
      // The agent's schedule moves here: fires claimed by a node that is gone are run (or recorded
      // missed) and the times nobody fired during the handover are caught up by the missed-run policy.
      scheduleTakenOver: async (agent) => this.schedules.takeOver(agent),
      log: (level, msg) => this.log(level, msg),
      counted: (result) => commits.inc({ result }),
    };
  }

  async reloadAgent(name: string, reason: string): Promise<void> {
    const c = this.get(name);
    this.log('info', `reloading: ${reason}`, undefined, name);
    try {
      await this.runtime.describe(c.cfg.source!, c.cfg.exportName);
    } catch (err) {
      this.log('error', `not reloaded, the new source does not load: ${(err as Error).message}`, undefined, name);
      return;
    }
    await c.restart(reason);
  }

  /** Every route of the control API with its declared permission (empty when the API is off). */
  apiRoutes(): RouteInfo[] {
    return [...(this.api?.routes ?? [])];
  }

  onShutdown(fn: () => void): void {
    this.shutdownHooks.push(fn);
  }

  // ---- ControlPlane ----------------------------------------------------------------------

  private get(name: string): AgentController {
    const c = this.controllers.get(name);
    if (!c) throw new NotFoundError('agent', name, `known agents: ${[...this.controllers.keys()].join(', ') || 'none'}`);
    return c;
  }

  /** Unacknowledged events per consumer group: the store's rows, or the external bus's groups. */
  private async pendingCounts(): Promise<Record<string, number>> {
    if (!this.bus || this.bus.kind === 'embedded') return this.store.pendingCounts();
    const out: Record<string, number> = {};
    for (const c of this.controllers.values()) {
      if (c.subscriptions.length > 0) out[c.name] = (await this.bus.stats(c.name).catch(() => ({ depth: 0 }))).depth;
    }
    return out;
  }

  async listAgents(): Promise<AgentView[]> {
    const stats = new Map((await this.store.agentStats()).map((s) => [s.agent, s]));
    const pending = await this.pendingCounts();
    const owners = await this.owners();
    const out: AgentView[] = [];
    for (const c of this.controllers.values()) out.push(await this.view(c, stats.get(c.name), pending[c.name] ?? 0, owners));
    return out;
  }

  async getAgent(name: string): Promise<AgentView> {
    const c = this.get(name);
    const [s] = await this.store.agentStats(name);
    const pending = this.bus.kind === 'embedded' ? await this.store.pendingCount(name) : (await this.pendingCounts())[name] ?? 0;
    return this.view(c, s, pending, await this.owners());
  }

  /** instance → the node running it (cluster); null on a single daemon. */
  private async owners(): Promise<Map<string, string> | null> {
    return this.placement?.nodeId ? this.placement.owners() : null;
  }

  private async view(c: AgentController, s: { runsTotal: number; runsFailed: number; lastRunAt: number | null } | undefined, pending: number, owners: Map<string, string> | null): Promise<AgentView> {
    const instances = owners ? c.instanceViews().map((i) => ({ ...i, node: owners.get(i.instanceId) ?? null })) : c.instanceViews();
    const status = c.status();
    const started = instances.map((i) => i.startedAt).filter((t): t is number => t != null);
    const now = this.clock.now();
    const runsTotal = s?.runsTotal ?? 0;
    const runsFailed = s?.runsFailed ?? 0;
    return {
      name: c.name,
      kind: c.cfg.kind,
      status,
      desired: (await this.store.getDesired(c.name)) ?? (c.cfg.enabled ? 'running' : 'stopped'),
      reason: c.reason,
      replicas: c.cfg.replicas,
      instances,
      schedule: c.scheduleSpec ? describeSchedule(c.scheduleSpec) : null,
      subscriptions: c.subscriptions,
      // A paused agent has no uptime (as in `openclaw status`: "paused │ -").
      uptimeMs: started.length > 0 && status !== 'paused' ? now - Math.min(...started) : null,
      lastRunAt: s?.lastRunAt ?? null,
      nextRunAt: this.schedules?.nextFire(c.name) ?? null,
      runsTotal,
      runsFailed,
      successRate: runsTotal > 0 ? (runsTotal - runsFailed) / runsTotal : null,
      restarts: c.restartCount,
      pendingEvents: pending,
      stateVersion: this.versions.get(c.name),
      stateSizeBytes: await this.store.stateSize(c.name),
      owner: c.cfg.owner,
    };
  }

  async action(name: string, action: AgentAction): Promise<AgentView> {
    const c = this.get(name);
    this.services.audit.record({ actor: 'api', action: 'agent.lifecycle', target: name, detail: { action } });
    // Cluster: this node acts on the instances it runs; the others are told (Placement.announce).
    const here = this.placement?.actsHere(name) ?? true;
    if (action === 'start' || action === 'stop' || action === 'restart') await this.store.setDesired(name, action === 'stop' ? 'stopped' : 'running');
    if (here) await applyAction(c, action);
    if (action === 'pause' || action === 'resume') await this.store.setDesired(name, action === 'pause' ? 'paused' : 'running');
    await this.placement?.announce(name, action);
    return this.getAgent(name);
  }

  async trigger(name: string, payload?: unknown): Promise<{ runId: string }> {
    const c = this.get(name);
    if (c.cfg.kind !== 'module') throw new BadRequestError(`agent '${name}' is a command agent; it has no run() to trigger`);
    const r = await c.admit({ fireAt: null, payload, manual: true });
    if (r.admitted === 'missed' || r.admitted === 'skipped') {
      throw new OpenClawError('not_runnable', `agent '${name}' cannot run now: ${r.reason}`, { status: 409 });
    }
    return { runId: r.runId };
  }

  async getState(name: string, opts: { version?: number } = {}): Promise<{ agent: string; version: number; state: Record<string, unknown> }> {
    this.get(name);
    if (opts.version != null) {
      const current = await this.store.namespaceVersion(name);
      if (opts.version < 0 || opts.version > current) throw new NotFoundError('state_version', `v${opts.version}`, `versions of '${name}' go from v1 to v${current}`);
      return { agent: name, version: opts.version, state: await this.store.stateAt(name, opts.version) };
    }
    const entries = await this.store.listState(name);
    return { agent: name, version: await this.store.namespaceVersion(name), state: Object.fromEntries(entries.map((e) => [e.key, e.value])) };
  }

  async listStateVersions(name: string, opts: { limit?: number } = {}): Promise<StateVersionInfo[]> {
    this.get(name);
    return this.store.listVersions(name, { limit: opts.limit ?? 20 });
  }

  async rollbackState(name: string, version: number): Promise<{ version: number }> {
    this.get(name);
    const current = await this.store.namespaceVersion(name);
    if (version < 1 || version > current) throw new NotFoundError('state_version', `v${version}`, `versions of '${name}' go from v1 to v${current}`);
    const v = await this.store.rollback(name, version, `rollback to v${version}`);
    this.versions.set(name, v);
    this.log('warning', `state rolled back to v${version} (now v${v})`, undefined, name);
    return { version: v };
  }

  async writeState(name: string, writes: Array<{ key: string; value?: unknown; deleted?: boolean; ttlMs?: number }>): Promise<{ version: number }> {
    const c = this.get(name);
    const now = this.clock.now();
    const result = await commitBuffer(
      this.runContext(c.cfg),
      {
        writes: writes.map((w) => ({ namespace: name, key: w.key, value: w.value, deleted: w.deleted, expiresAt: w.ttlMs ? now + w.ttlMs : null })),
        reads: [],
        emits: [],
      },
      { reason: 'api' },
    );
    return { version: result.versions[name] ?? this.versions.get(name) };
  }

  async recentLogs(name: string, opts: { limit?: number; sinceMs?: number; level?: LogLine['level'] } = {}): Promise<LogLine[]> {
    if (name !== DAEMON_LOG) this.get(name);
    const mem = this.logs.recent(name, opts);
    if (mem.length >= (opts.limit ?? 100)) return mem;
    const files = this.logs.fromFiles(name, opts);
    return files.length > mem.length ? files : mem;
  }

  followLogs(name: string, onLine: (line: LogLine) => void, onDrop?: (dropped: number) => void): () => void {
    if (name !== DAEMON_LOG) this.get(name);
    return this.logs.follow(name, onLine, onDrop);
  }

  async publishEvent(e: { name: string; data?: unknown; id?: string }): Promise<{ id: string; published: boolean }> {
    if (typeof e.name !== 'string' || e.name.length === 0) throw new BadRequestError('event name must be a non-empty string', 'invalid_request');
    const id = e.id ?? randomUUID();
    // The HTTP body limit bounds this already; the event limit is the same as agents' default.
    const bytes = Buffer.byteLength(JSON.stringify(e.data ?? null));
    if (bytes > DEFAULT_MAX_EVENT_BYTES) throw new OpenClawError('event_too_large', `event '${e.name}' is ${bytes} bytes as JSON, over the limit of ${DEFAULT_MAX_EVENT_BYTES}; send a reference instead`, { status: 413 });
    const n = await this.bus.append([{ id, name: e.name, payload: this.services.secrets.redact(e.data ?? null), source: null, createdAt: this.clock.now() }]);
    return { id, published: n > 0 };
  }

  listRuns(name: string, opts: { limit?: number } = {}): Promise<RunRecord[]> {
    this.get(name);
    return this.store.listRuns(name, { limit: opts.limit ?? 50 });
  }

  async listTransitions(name: string, opts: { limit?: number } = {}): Promise<Transition[]> {
    await this.get(name).transitionsWritten();
    return this.store.listTransitions(name, opts.limit ?? 50);
  }

  listDeadLetters(opts: { agent?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    if (opts.agent) this.get(opts.agent);
    if (this.bus instanceof OutboxBus) return this.bus.deadLetters(opts.agent ?? null, opts.limit);
    return this.store.listDeadLetters({ consumer: opts.agent, limit: opts.limit });
  }

  async redriveDeadLetters(opts: { agent?: string; ids?: number[] }): Promise<{ redriven: number }> {
    if (opts.agent) this.get(opts.agent);
    if (this.bus.kind !== 'embedded') {
      throw new BadRequestError(`re-driving dead letters of the ${this.bus.kind} bus is not supported yet: they stay listed on the bus's dead-letter stream; publish the event again (POST /api/events) to retry it`, 'not_supported');
    }
    const redriven = await this.store.redriveDeadLetters({ consumer: opts.agent, ids: opts.ids });
    if (opts.agent) this.controllers.get(opts.agent)?.wakeConsumer();
    else for (const c of this.controllers.values()) c.wakeConsumer();
    return { redriven };
  }

  listEvents(opts: { afterSeq?: number; limit?: number; name?: string } = {}): Promise<StoredEvent[]> {
    return this.store.listEvents(opts);
  }

  health(): HealthView {
    const counts = { total: 0, running: 0, starting: 0, error: 0, stopped: 0, paused: 0 };
    let firstStarts = 0;
    for (const c of this.controllers.values()) {
      counts.total++;
      if (c.firstStart) firstStarts++;
      const s = c.status();
      if (s === 'running') counts.running++;
      else if (s === 'initializing') counts.starting++;
      else if (s === 'paused') counts.paused++;
      else if (s === 'error' || s === 'crash_loop') counts.error++;
      else if (s === 'stopped') counts.stopped++;
    }
    return {
      // 'starting' until every agent has been up once (or failed): a fresh daemon is not "0/5 running".
      status: this.shuttingDown ? 'stopping' : !this.started || firstStarts > 0 ? 'starting' : counts.error > 0 ? 'degraded' : 'ok',
      version: VERSION,
      project: this.config.project,
      pid: process.pid,
      uptimeMs: this.clock.now() - this.startedAt,
      store: this.store?.dialect ?? (this.config.store.kind as 'sqlite' | 'postgres'),
      agents: counts,
    };
  }

  async listNodes(): Promise<NodeView[]> {
    const nodes = (await this.placement?.nodes()) ?? [];
    return nodes.map((n) => (n.nodeId === this.placement?.nodeId ? { ...n, self: true } : n));
  }

  probes(): { live: boolean; ready: boolean; started: boolean } {
    return { live: true, ready: this.started && !this.shuttingDown, started: this.started };
  }

  shutdown(reason = 'shutdown requested'): Promise<void> {
    if (this.shuttingDown) return this.shuttingDown;
    for (const h of this.shutdownHooks) h();
    this.shuttingDown = (async () => {
      this.log('info', `daemon stopping: ${reason}`);
      for (const t of this.timers) clearInterval(t);
      this.schedules?.close();
      // Cluster: stop this node's instances while it still holds their leases (their runs commit),
      // then hand the leases over; the other nodes take them at their next renewal.
      await this.placement?.drain().catch((err: Error) => this.log('warning', `cluster: drain failed: ${err.message}`));
      // Stop agents in reverse order of declaration (OTP: children stop in reverse start order).
      const list = [...this.controllers.values()].reverse();
      await Promise.all(list.map((c) => c.stop('daemon shutdown').catch(() => undefined)));
      await this.runtime.shutdown().catch(() => undefined);
      await this.egress?.close();
      await this.stopModules();
      await this.api?.close().catch(() => undefined);
      await this.openedBus?.close().catch(() => undefined);
      if (!this.opts.store) await this.store.close().catch(() => undefined);
      this.log('info', 'daemon stopped');
      await this.logs.close();
      // Export the spans still batched: a stopping daemon's last runs are often the interesting ones.
      if (this.tracing) await shutdownTracing();
      this.resolveStopped();
    })();
    return this.shuttingDown;
  }
}

function groupIntents(intents: RunIntent[]): Map<string, unknown[]> {
  // Linear: a run may buffer tens of thousands of intents (50 × enqueueBatch of 1,000); copying
  // the list per intent was quadratic and blocked the daemon's event loop for tens of seconds.
  const m = new Map<string, unknown[]>();
  for (const i of intents) {
    const list = m.get(i.kind);
    if (list) list.push(i.data);
    else m.set(i.kind, [i.data]);
  }
  return m;
}

function readTls(tls: { cert: string; key: string }, file: string): { cert: Buffer; key: Buffer } {
  const read = (p: string, k: 'cert' | 'key'): Buffer => {
    try {
      return fs.readFileSync(p);
    } catch (err) {
      throw new ConfigError([{ file, line: null, column: null, field: `api.tls.${k}`, message: `cannot read ${p}: ${(err as Error).message}` }]);
    }
  };
  return { cert: read(tls.cert, 'cert'), key: read(tls.key, 'key') };
}

