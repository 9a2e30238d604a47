// The composition root: builds the store, runtime, bus, scheduler, agent controllers and the
// control API from a ProjectConfig, boots and shuts them down. Its parts read it through
// DaemonPorts (daemon-ports.ts): the ControlPlane the API serves (control-plane.ts, delegated to
// below) and the wiring of runs, agent RPCs, placement and modules (wiring.ts).
//
// Start order: store (migrations) → validate every agent module (nothing starts if one is bad:
// exit 78) → subscriptions → control API (up before agents, so a crash-looping fleet stays
// observable) → agents → schedules (with the missed-run policy applied to the downtime).
import path from 'node:path';
import type { ProjectConfig } from '../config/types.js';
import { systemClock, type Clock } from '../scheduler/types.js';
import { FireLedger, fireLedgerStoreModule } from '../scheduler/fire-ledger.js';
import { Schedules } from './schedules.js';
import { openStore } from '../store/index.js';
import { SHARED_NAMESPACE, type Store } from '../store/types.js';
import { createRuntime } from '../runtime/index.js';
import { sandboxFor } from '../runtime/sandbox.js';
import { workerBundle } from '../runtime/paths.js';
import { startEgressProxy, type EgressProxy } from '../security/egress.js';
import type { Runtime } from '../runtime/types.js';
import type { LogLine } from '../runtime/protocol.js';
import { LogHub } from '../observability/log-hub.js';
import { openBus, OutboxBus, type Bus, type OpenedBus } from '../bus/index.js';
import { NamespaceVersions } from './run-transaction.js';
import { AgentController } from './agent-controller.js';
import { Placement } from './placement.js';
import type { ControlPlane } from './control.js';
import { ConfigError } from '../util/errors.js';
import { createApiServer, type RouteInfo } from '../api/server.js';
import { checkBind, resolveAuthMode } from '../security/auth/mode.js';
import fs from 'node:fs';
import { Registry } from 'prom-client';
import { AgentCustomMetrics, coreMetrics, processMetrics, type CoreMetrics } from '../observability/metrics.js';
import { initTracingFromEnv, shutdownTracing, activeTraceIds } from '../observability/tracing.js';
import { noAudit, noSecrets, type DaemonModule, type DaemonServices } from './modules.js';
import { createModules } from './module-list.js';
import { preflight } from './preflight.js';
import { workerGuardrails } from '../security/guardrails/worker-spec.js';
import { expandSecrets } from '../security/redact.js';
import { DAEMON_LOG, type DaemonPorts } from './daemon-ports.js';
import { DaemonControlPlane } from './control-plane.js';
import { DaemonWiring } from './wiring.js';
import { readTls } from './api-tls.js';

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
  private readonly core: CoreMetrics;
  private readonly customMetrics: AgentCustomMetrics;
  private tracing = false;
  /** The parts daemon.ts composes (daemon-ports.ts): the control plane and the wiring of runs, RPCs and modules. */
  private readonly ports: DaemonPorts;
  private readonly cp: DaemonControlPlane;
  private readonly wiring: DaemonWiring;

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
    this.ports = this.makePorts();
    this.cp = new DaemonControlPlane(this.ports);
    this.wiring = new DaemonWiring(this.ports);
    processMetrics(this.metrics);
    this.core = coreMetrics(this.metrics, this.cp.metricsSource(), config.agents.map((a) => a.name));
    this.customMetrics = new AgentCustomMetrics(this.metrics, (agent, msg) => this.log('warning', msg, undefined, agent));
  }

  /** The daemon's fields as its parts read them: getters, since boot() assigns most of them later. */
  private makePorts(): DaemonPorts {
    const d = this; // the getters read the daemon's fields when called
    return {
      config: this.config,
      clock: this.clock,
      dev: this.opts.dev === true,
      get store() { return d.store; },
      get bus() { return d.bus; },
      get placement() { return d.placement; },
      get versions() { return d.versions; },
      get schedules() { return d.schedules; },
      controllers: this.controllers,
      logs: this.logs,
      metrics: this.metrics,
      get core() { return d.core; },
      get customMetrics() { return d.customMetrics; },
      services: this.services,
      control: this,
      get url() { return d.url; },
      get started() { return d.started; },
      get stopping() { return d.shuttingDown !== null; },
      get startedAt() { return d.startedAt; },
      log: (level, msg, fields, agent, instance) => this.log(level, msg, fields, agent, instance),
      runContext: (a) => this.wiring.runContext(a),
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
    this.runtime = this.opts.runtime ?? createRuntime(this.wiring.listener(), { compileCacheDir: path.join(this.config.dataDir, 'cache', 'agents'), sandbox: sandboxFor(this.config) });
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
    // A `tsc`-only rebuild left an older dist/worker/ (runtime/paths.ts): workers load dist/ file by file.
    if (workerBundle.state === 'stale') this.log('warning', `worker bundle not used, ${workerBundle.reason}: agent workers load dist/ file by file; run \`npm run build\``);
    this.store = this.opts.store ?? (await openStore(this.config.store, { clock: this.clock }));
    this.store.onWarning?.((msg) => this.log('warning', `store: ${msg}`));
    await this.store.migrateModule(fireLedgerStoreModule);
    this.fires = new FireLedger(this.store.handle(), () => this.clock.now());
    const placement = (this.placement = await Placement.open(this.config, this.store, this.wiring.placementHooks()));
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
        runContext: this.wiring.runContext(a),
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
    const ctx = this.wiring.moduleContext();
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
        routes: this.wiring.moduleRoutes,
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

  async reloadAgent(name: string, reason: string): Promise<void> {
    const c = this.cp.get(name);
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

  // ---- ControlPlane: served by DaemonControlPlane (control-plane.ts); shutdown() is the daemon's.
  readonly listAgents: ControlPlane['listAgents'] = () => this.cp.listAgents();
  readonly getAgent: ControlPlane['getAgent'] = (name) => this.cp.getAgent(name);
  readonly action: ControlPlane['action'] = (name, action) => this.cp.action(name, action);
  readonly trigger: ControlPlane['trigger'] = (name, payload) => this.cp.trigger(name, payload);
  readonly getState: ControlPlane['getState'] = (name, opts) => this.cp.getState(name, opts);
  readonly listStateVersions: ControlPlane['listStateVersions'] = (name, opts) => this.cp.listStateVersions(name, opts);
  readonly rollbackState: ControlPlane['rollbackState'] = (name, version) => this.cp.rollbackState(name, version);
  readonly writeState: ControlPlane['writeState'] = (name, writes) => this.cp.writeState(name, writes);
  readonly recentLogs: ControlPlane['recentLogs'] = (name, opts) => this.cp.recentLogs(name, opts);
  readonly followLogs: ControlPlane['followLogs'] = (name, onLine, onDrop) => this.cp.followLogs(name, onLine, onDrop);
  readonly publishEvent: ControlPlane['publishEvent'] = (e) => this.cp.publishEvent(e);
  readonly listRuns: ControlPlane['listRuns'] = (name, opts) => this.cp.listRuns(name, opts);
  readonly listTransitions: ControlPlane['listTransitions'] = (name, opts) => this.cp.listTransitions(name, opts);
  readonly listDeadLetters: ControlPlane['listDeadLetters'] = (opts) => this.cp.listDeadLetters(opts);
  readonly redriveDeadLetters: ControlPlane['redriveDeadLetters'] = (opts) => this.cp.redriveDeadLetters(opts);
  readonly listEvents: ControlPlane['listEvents'] = (opts) => this.cp.listEvents(opts);
  readonly health: ControlPlane['health'] = () => this.cp.health();
  readonly listNodes: ControlPlane['listNodes'] = () => this.cp.listNodes();
  readonly probes: ControlPlane['probes'] = () => this.cp.probes();

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
