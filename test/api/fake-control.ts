// An in-memory ControlPlane for the API and CLI tests. It is our own interface (not a database),
// kept small and honest: unknown agents are NotFoundError, illegal actions InvalidStateTransition,
// state keeps real versions so rollback and "state at version" can be checked end to end.
import type { AgentAction, AgentStatus, AgentView, ControlPlane, HealthView } from '../../src/daemon/control.js';
import type { LogLine } from '../../src/runtime/protocol.js';
import type { DeadLetter, RunRecord, StateVersionInfo, StoredEvent, Transition } from '../../src/store/types.js';
import { InvalidStateTransitionError, NotFoundError } from '../../src/util/errors.js';

const LEVEL_RANK: Record<LogLine['level'], number> = { debug: 10, info: 20, warning: 30, error: 40 };

interface Version {
  info: StateVersionInfo;
  state: Record<string, unknown>;
}

interface Follower {
  agent: string;
  onLine: (line: LogLine) => void;
  onDrop?: (n: number) => void;
}

export class FakeControlPlane implements ControlPlane {
  now = 1_776_522_600_000; // 2026-04-18T14:30:00Z
  readonly agents = new Map<string, AgentView>();
  readonly versions = new Map<string, Version[]>();
  readonly logs: LogLine[] = [];
  readonly followers = new Set<Follower>();
  readonly events: StoredEvent[] = [];
  readonly deadLetters: DeadLetter[] = [];
  readonly runs: RunRecord[] = [];
  readonly transitions: Transition[] = [];
  readonly triggers: Array<{ name: string; payload: unknown }> = [];
  readonly shutdowns: string[] = [];
  readonly calls: Array<{ method: string; args: unknown[] }> = [];
  probeState = { live: true, ready: true, started: true };
  /** Set to make every call throw this (to test the 500 path). */
  failWith: Error | null = null;
  private runSeq = 0;

  addAgent(name: string, over: Partial<AgentView> = {}): AgentView {
    const view: AgentView = {
      name,
      kind: 'module',
      status: 'running',
      desired: 'running',
      reason: null,
      replicas: 1,
      instances: [],
      schedule: 'every 5m',
      subscriptions: [],
      uptimeMs: 4 * 86_400_000 + 12 * 3_600_000,
      lastRunAt: this.now - 2 * 60_000,
      nextRunAt: this.now + 3 * 60_000,
      runsTotal: 1000,
      runsFailed: 3,
      successRate: 0.997,
      restarts: 0,
      pendingEvents: 0,
      stateVersion: 0,
      stateSizeBytes: 0,
      owner: null,
      ...over,
    };
    this.agents.set(name, view);
    return view;
  }

  /** Appends a committed state version (as a run would). */
  commitState(name: string, state: Record<string, unknown>, at = this.now): number {
    const list = this.versions.get(name) ?? [];
    const prev = list.at(-1)?.state ?? {};
    const version = (list.at(-1)?.info.version ?? 0) + 1;
    const changedKeys = [...new Set([...Object.keys(prev), ...Object.keys(state)])].filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(state[k]));
    list.push({
      info: { version, createdAt: at, sizeBytes: JSON.stringify(state).length, keyCount: Object.keys(state).length, changedKeys, runId: null, reason: 'run' },
      state: structuredClone(state),
    });
    this.versions.set(name, list);
    const a = this.agents.get(name);
    if (a) a.stateVersion = version;
    return version;
  }

  /** A log line from an agent: into the ring buffer and to every follower of that agent. */
  emitLog(line: Partial<LogLine> & { agent: string; msg: string }): LogLine {
    const full: LogLine = { time: this.now, level: 'info', instance: `${line.agent}#0`, ...line };
    this.logs.push(full);
    for (const f of this.followers) if (f.agent === full.agent) f.onLine(full);
    return full;
  }

  followerCount(agent: string): number {
    return [...this.followers].filter((f) => f.agent === agent).length;
  }

  private agent(name: string): AgentView {
    this.calls.push({ method: 'agent', args: [name] });
    if (this.failWith) throw this.failWith;
    const a = this.agents.get(name);
    if (!a) throw new NotFoundError('agent', name, `known agents: ${[...this.agents.keys()].join(', ') || 'none'}`);
    return a;
  }

  async listAgents(): Promise<AgentView[]> {
    if (this.failWith) throw this.failWith;
    return [...this.agents.values()];
  }

  async getAgent(name: string): Promise<AgentView> {
    return this.agent(name);
  }

  async action(name: string, action: AgentAction): Promise<AgentView> {
    const a = this.agent(name);
    const allowed: Record<AgentAction, AgentStatus[]> = {
      start: ['stopped', 'crash_loop', 'error'],
      stop: ['running', 'paused', 'error', 'crash_loop', 'initializing'],
      pause: ['running'],
      resume: ['paused'],
      restart: ['running', 'paused', 'error', 'crash_loop', 'stopped', 'initializing'],
    };
    if (!allowed[action].includes(a.status)) throw new InvalidStateTransitionError(name, action, a.status);
    const to: AgentStatus = action === 'pause' ? 'paused' : action === 'stop' ? 'stopped' : 'running';
    this.transitions.push({ agent: name, instance: null, from: a.status, to, reason: `${action} requested`, at: this.now });
    a.status = to;
    a.desired = to === 'paused' ? 'paused' : to === 'stopped' ? 'stopped' : 'running';
    a.uptimeMs = to === 'running' ? 0 : null;
    return a;
  }

  async trigger(name: string, payload?: unknown): Promise<{ runId: string }> {
    this.agent(name);
    this.triggers.push({ name, payload });
    return { runId: `run-${++this.runSeq}` };
  }

  async getState(name: string, opts?: { version?: number }) {
    this.agent(name);
    const list = this.versions.get(name) ?? [];
    if (opts?.version === undefined) {
      const last = list.at(-1);
      return { agent: name, version: last?.info.version ?? 0, state: structuredClone(last?.state ?? {}) };
    }
    const v = this.version(name, opts.version);
    return { agent: name, version: v.info.version, state: structuredClone(v.state) };
  }

  private version(name: string, version: number): Version {
    const v = (this.versions.get(name) ?? []).find((x) => x.info.version === version);
    if (!v) throw new NotFoundError('state_version', `${name} v${version}`, `list them with \`openclaw state list ${name}\``);
    return v;
  }

  async listStateVersions(name: string, opts?: { limit?: number }): Promise<StateVersionInfo[]> {
    this.agent(name);
    return (this.versions.get(name) ?? [])
      .map((v) => v.info)
      .reverse()
      .slice(0, opts?.limit ?? 50);
  }

  async rollbackState(name: string, version: number): Promise<{ version: number }> {
    this.agent(name);
    const target = this.version(name, version);
    return { version: this.commitState(name, target.state) };
  }

  async writeState(name: string, writes: Array<{ key: string; value?: unknown; deleted?: boolean; ttlMs?: number }>): Promise<{ version: number }> {
    this.agent(name);
    this.calls.push({ method: 'writeState', args: [name, writes] });
    const state = { ...(this.versions.get(name)?.at(-1)?.state ?? {}) };
    for (const w of writes) {
      if (w.deleted) delete state[w.key];
      else state[w.key] = w.value;
    }
    return { version: this.commitState(name, state) };
  }

  async recentLogs(name: string, opts?: { limit?: number; sinceMs?: number; level?: LogLine['level'] }): Promise<LogLine[]> {
    this.agent(name);
    this.calls.push({ method: 'recentLogs', args: [name, opts] });
    const lines = this.logs.filter(
      (l) => l.agent === name && (opts?.sinceMs === undefined || l.time >= opts.sinceMs) && (opts?.level === undefined || LEVEL_RANK[l.level] >= LEVEL_RANK[opts.level]),
    );
    return opts?.limit !== undefined ? lines.slice(-opts.limit) : lines;
  }

  followLogs(name: string, onLine: (line: LogLine) => void, onDrop?: (dropped: number) => void): () => void {
    this.agent(name);
    const f: Follower = { agent: name, onLine, onDrop };
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  async publishEvent(e: { name: string; data?: unknown; id?: string }): Promise<{ id: string; published: boolean }> {
    const id = e.id ?? `evt-${this.events.length + 1}`;
    if (this.events.some((x) => x.id === id)) return { id, published: false };
    this.events.push({ id, name: e.name, payload: e.data ?? null, source: null, createdAt: this.now, seq: this.events.length + 1 });
    return { id, published: true };
  }

  async listRuns(name: string, opts?: { limit?: number }): Promise<RunRecord[]> {
    this.agent(name);
    return this.runs.filter((r) => r.agent === name).slice(0, opts?.limit ?? 50);
  }

  async listTransitions(name: string, opts?: { limit?: number }): Promise<Transition[]> {
    this.agent(name);
    return this.transitions.filter((t) => t.agent === name).slice(0, opts?.limit ?? 50);
  }

  async listDeadLetters(opts?: { agent?: string; limit?: number }): Promise<DeadLetter[]> {
    return this.deadLetters.filter((d) => opts?.agent === undefined || d.consumer === opts.agent).slice(0, opts?.limit ?? 50);
  }

  async redriveDeadLetters(opts: { agent?: string; ids?: number[] }): Promise<{ redriven: number }> {
    const picked = this.deadLetters.filter((d) => (opts.agent === undefined || d.consumer === opts.agent) && (opts.ids === undefined || opts.ids.includes(d.deliveryId)));
    for (const d of picked) this.deadLetters.splice(this.deadLetters.indexOf(d), 1);
    return { redriven: picked.length };
  }

  async listEvents(opts?: { afterSeq?: number; limit?: number; name?: string }): Promise<StoredEvent[]> {
    return this.events
      .filter((e) => (opts?.afterSeq === undefined || e.seq > opts.afterSeq) && (opts?.name === undefined || e.name === opts.name))
      .slice(0, opts?.limit ?? 100);
  }

  health(): HealthView {
    const list = [...this.agents.values()];
    return {
      status: 'ok',
      version: '0.1.0',
      project: 'fake',
      pid: process.pid,
      uptimeMs: 1000,
      store: 'sqlite',
      agents: {
        total: list.length,
        running: list.filter((a) => a.status === 'running').length,
        error: list.filter((a) => a.status === 'error' || a.status === 'crash_loop').length,
        stopped: list.filter((a) => a.status === 'stopped').length,
        paused: list.filter((a) => a.status === 'paused').length,
      },
    };
  }

  probes() {
    return { ...this.probeState };
  }

  async shutdown(reason: string): Promise<void> {
    this.shutdowns.push(reason);
  }
}
