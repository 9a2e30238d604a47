// The ControlPlane the control API and the modules serve (contracts/control.ts): agent views,
// lifecycle actions, state, logs, events, dead letters, health, nodes. Moved out of daemon.ts by
// composition: it reads the daemon's parts through DaemonPorts (daemon-ports.ts); the daemon
// delegates its ControlPlane methods here and keeps shutdown().
import { randomUUID } from 'node:crypto';
import { describeSchedule } from '../scheduler/schedule.js';
import type { StoredEvent, RunRecord, StateVersionInfo, Transition, DeadLetter } from '../store/types.js';
import type { LogLine } from '../runtime/protocol.js';
import { OutboxBus } from '../bus/index.js';
import { DEFAULT_MAX_EVENT_BYTES, commitBuffer } from './run-transaction.js';
import type { AgentController } from './agent-controller.js';
import { applyAction } from './placement.js';
import type { AgentAction, AgentView, HealthView, NodeView } from './control.js';
import { BadRequestError, NotFoundError, OpenClawError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { DAEMON_LOG, type DaemonPorts } from './daemon-ports.js';

export class DaemonControlPlane {
  constructor(private readonly d: DaemonPorts) {}

  /** What the collect()-time gauges read at scrape time. */
  metricsSource() {
    return {
      now: () => this.d.clock.now(),
      agents: () => [...this.d.controllers.values()].map((c) => ({ name: c.name, status: c.status(), instances: c.instanceViews() })),
      pendingCounts: async () => (this.d.store ? this.pendingCounts() : {}),
      eventLagMs: async (agent: string) => (this.d.bus && this.d.controllers.get(agent)?.subscriptions.length ? (await this.d.bus.stats(agent)).lagMs : 0),
      stateSize: async (agent: string) => (this.d.store ? this.d.store.stateSize(agent) : 0),
      logDrops: () => ({ follower: this.d.logs.followerDrops, file: this.d.logs.fileDrops(), agent: this.d.logs.agentDrops }),
      logBufferedBytes: () => this.d.logs.bufferedBytes(),
    };
  }

  get(name: string): AgentController {
    const c = this.d.controllers.get(name);
    if (!c) throw new NotFoundError('agent', name, `known agents: ${[...this.d.controllers.keys()].join(', ') || 'none'}`);
    return c;
  }

  /** Unacknowledged events per consumer group: the store's rows, or the external bus's groups. */
  async pendingCounts(): Promise<Record<string, number>> {
    if (!this.d.bus || this.d.bus.kind === 'embedded') return this.d.store.pendingCounts();
    const out: Record<string, number> = {};
    for (const c of this.d.controllers.values()) {
      if (c.subscriptions.length > 0) out[c.name] = (await this.d.bus.stats(c.name).catch(() => ({ depth: 0 }))).depth;
    }
    return out;
  }

  async listAgents(): Promise<AgentView[]> {
    const stats = new Map((await this.d.store.agentStats()).map((s) => [s.agent, s]));
    const pending = await this.pendingCounts();
    const owners = await this.owners();
    const out: AgentView[] = [];
    for (const c of this.d.controllers.values()) out.push(await this.view(c, stats.get(c.name), pending[c.name] ?? 0, owners));
    return out;
  }

  async getAgent(name: string): Promise<AgentView> {
    const c = this.get(name);
    const [s] = await this.d.store.agentStats(name);
    const pending = this.d.bus.kind === 'embedded' ? await this.d.store.pendingCount(name) : (await this.pendingCounts())[name] ?? 0;
    return this.view(c, s, pending, await this.owners());
  }

  /** instance → the node running it (cluster); null on a single daemon. */
  private async owners(): Promise<Map<string, string> | null> {
    return this.d.placement?.nodeId ? this.d.placement.owners() : null;
  }

  private async view(c: AgentController, s: { runsTotal: number; runsFailed: number; lastRunAt: number | null } | undefined, pending: number, owners: Map<string, string> | null): Promise<AgentView> {
    const instances = owners ? c.instanceViews().map((i) => ({ ...i, node: owners.get(i.instanceId) ?? null })) : c.instanceViews();
    const status = c.status();
    const started = instances.map((i) => i.startedAt).filter((t): t is number => t != null);
    const now = this.d.clock.now();
    const runsTotal = s?.runsTotal ?? 0;
    const runsFailed = s?.runsFailed ?? 0;
    return {
      name: c.name,
      kind: c.cfg.kind,
      status,
      desired: (await this.d.store.getDesired(c.name)) ?? (c.cfg.enabled ? 'running' : 'stopped'),
      reason: c.reason,
      replicas: c.cfg.replicas,
      instances,
      schedule: c.scheduleSpec ? describeSchedule(c.scheduleSpec) : null,
      subscriptions: c.subscriptions,
      // A paused agent has no uptime (as in `openclaw status`: "paused │ -").
      uptimeMs: started.length > 0 && status !== 'paused' ? now - Math.min(...started) : null,
      lastRunAt: s?.lastRunAt ?? null,
      nextRunAt: this.d.schedules?.nextFire(c.name) ?? null,
      runsTotal,
      runsFailed,
      successRate: runsTotal > 0 ? (runsTotal - runsFailed) / runsTotal : null,
      restarts: c.restartCount,
      pendingEvents: pending,
      stateVersion: this.d.versions.get(c.name),
      stateSizeBytes: await this.d.store.stateSize(c.name),
      owner: c.cfg.owner,
    };
  }

  async action(name: string, action: AgentAction): Promise<AgentView> {
    const c = this.get(name);
    this.d.services.audit.record({ actor: 'api', action: 'agent.lifecycle', target: name, detail: { action } });
    // Cluster: this node acts on the instances it runs; the others are told (Placement.announce).
    const here = this.d.placement?.actsHere(name) ?? true;
    // Start, stop and restart are stored first: the other nodes are told even when this node's own
    // action fails (one node's instance in an invalid state must not leave the rest of the fleet as
    // it was). Pause and resume are stored only once they succeeded here (pausing a stopped agent
    // is refused and must not leave 'paused' as what its next start does), and the other nodes are
    // told only what was stored, so a node that missed the announcement reconciles to the same state.
    const storedFirst = action === 'start' || action === 'stop' || action === 'restart';
    if (storedFirst) await this.d.store.setDesired(name, action === 'stop' ? 'stopped' : 'running');
    try {
      if (here) await applyAction(c, action);
      if (!storedFirst) await this.d.store.setDesired(name, action === 'pause' ? 'paused' : 'running');
    } catch (err) {
      if (storedFirst) await this.announce(name, action, true);
      throw err;
    }
    await this.announce(name, action, false);
    return this.getAgent(name);
  }

  private async announce(name: string, action: AgentAction, failedHere: boolean): Promise<void> {
    await this.d.placement?.announce(name, action).catch((err: Error) => {
      if (!failedHere) throw err;
      this.d.log('warning', `cluster: announcing '${action}' of '${name}' to the other nodes failed: ${err.message}`);
    });
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
      const current = await this.d.store.namespaceVersion(name);
      if (opts.version < 0 || opts.version > current) throw new NotFoundError('state_version', `v${opts.version}`, `versions of '${name}' go from v1 to v${current}`);
      return { agent: name, version: opts.version, state: await this.d.store.stateAt(name, opts.version) };
    }
    const entries = await this.d.store.listState(name);
    return { agent: name, version: await this.d.store.namespaceVersion(name), state: Object.fromEntries(entries.map((e) => [e.key, e.value])) };
  }

  async listStateVersions(name: string, opts: { limit?: number } = {}): Promise<StateVersionInfo[]> {
    this.get(name);
    return this.d.store.listVersions(name, { limit: opts.limit ?? 20 });
  }

  async rollbackState(name: string, version: number): Promise<{ version: number }> {
    this.get(name);
    const current = await this.d.store.namespaceVersion(name);
    if (version < 1 || version > current) throw new NotFoundError('state_version', `v${version}`, `versions of '${name}' go from v1 to v${current}`);
    const v = await this.d.store.rollback(name, version, `rollback to v${version}`);
    this.d.versions.set(name, v);
    this.d.log('warning', `state rolled back to v${version} (now v${v})`, undefined, name);
    return { version: v };
  }

  async writeState(name: string, writes: Array<{ key: string; value?: unknown; deleted?: boolean; ttlMs?: number }>): Promise<{ version: number }> {
    const c = this.get(name);
    const now = this.d.clock.now();
    const result = await commitBuffer(
      this.d.runContext(c.cfg),
      {
        writes: writes.map((w) => ({ namespace: name, key: w.key, value: w.value, deleted: w.deleted, expiresAt: w.ttlMs ? now + w.ttlMs : null })),
        reads: [],
        emits: [],
      },
      { reason: 'api' },
    );
    return { version: result.versions[name] ?? this.d.versions.get(name) };
  }

  async recentLogs(name: string, opts: { limit?: number; sinceMs?: number; level?: LogLine['level'] } = {}): Promise<LogLine[]> {
    if (name !== DAEMON_LOG) this.get(name);
    const mem = this.d.logs.recent(name, opts);
    if (mem.length >= (opts.limit ?? 100)) return mem;
    const files = this.d.logs.fromFiles(name, opts);
    return files.length > mem.length ? files : mem;
  }

  followLogs(name: string, onLine: (line: LogLine) => void, onDrop?: (dropped: number) => void): () => void {
    if (name !== DAEMON_LOG) this.get(name);
    return this.d.logs.follow(name, onLine, onDrop);
  }

  async publishEvent(e: { name: string; data?: unknown; id?: string }): Promise<{ id: string; published: boolean }> {
    if (typeof e.name !== 'string' || e.name.length === 0) throw new BadRequestError('event name must be a non-empty string', 'invalid_request');
    const id = e.id ?? randomUUID();
    // The HTTP body limit bounds this already; the event limit is the same as agents' default.
    const bytes = Buffer.byteLength(JSON.stringify(e.data ?? null));
    if (bytes > DEFAULT_MAX_EVENT_BYTES) throw new OpenClawError('event_too_large', `event '${e.name}' is ${bytes} bytes as JSON, over the limit of ${DEFAULT_MAX_EVENT_BYTES}; send a reference instead`, { status: 413 });
    const n = await this.d.bus.append([{ id, name: e.name, payload: this.d.services.secrets.redact(e.data ?? null), source: null, createdAt: this.d.clock.now() }]);
    return { id, published: n > 0 };
  }

  listRuns(name: string, opts: { limit?: number } = {}): Promise<RunRecord[]> {
    this.get(name);
    return this.d.store.listRuns(name, { limit: opts.limit ?? 50 });
  }

  async listTransitions(name: string, opts: { limit?: number } = {}): Promise<Transition[]> {
    await this.get(name).transitionsWritten();
    return this.d.store.listTransitions(name, opts.limit ?? 50);
  }

  listDeadLetters(opts: { agent?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    if (opts.agent) this.get(opts.agent);
    if (this.d.bus instanceof OutboxBus) return this.d.bus.deadLetters(opts.agent ?? null, opts.limit);
    return this.d.store.listDeadLetters({ consumer: opts.agent, limit: opts.limit });
  }

  async redriveDeadLetters(opts: { agent?: string; ids?: number[] }): Promise<{ redriven: number }> {
    if (opts.agent) this.get(opts.agent);
    if (this.d.bus.kind !== 'embedded') {
      throw new BadRequestError(`re-driving dead letters of the ${this.d.bus.kind} bus is not supported yet: they stay listed on the bus's dead-letter stream; publish the event again (POST /api/events) to retry it`, 'not_supported');
    }
    const redriven = await this.d.store.redriveDeadLetters({ consumer: opts.agent, ids: opts.ids });
    if (opts.agent) this.d.controllers.get(opts.agent)?.wakeConsumer();
    else for (const c of this.d.controllers.values()) c.wakeConsumer();
    return { redriven };
  }

  listEvents(opts: { afterSeq?: number; limit?: number; name?: string } = {}): Promise<StoredEvent[]> {
    return this.d.store.listEvents(opts);
  }

  health(): HealthView {
    const counts = { total: 0, running: 0, starting: 0, error: 0, stopped: 0, paused: 0 };
    let firstStarts = 0;
    for (const c of this.d.controllers.values()) {
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
      status: this.d.stopping ? 'stopping' : !this.d.started || firstStarts > 0 ? 'starting' : counts.error > 0 ? 'degraded' : 'ok',
      version: VERSION,
      project: this.d.config.project,
      pid: process.pid,
      uptimeMs: this.d.clock.now() - this.d.startedAt,
      store: this.d.store?.dialect ?? (this.d.config.store.kind as 'sqlite' | 'postgres'),
      agents: counts,
    };
  }

  async listNodes(): Promise<NodeView[]> {
    const nodes = (await this.d.placement?.nodes()) ?? [];
    return nodes.map((n) => (n.nodeId === this.d.placement?.nodeId ? { ...n, self: true } : n));
  }

  probes(): { live: boolean; ready: boolean; started: boolean } {
    return { live: true, ready: this.d.started && !this.d.stopping, started: this.d.started };
  }
}
