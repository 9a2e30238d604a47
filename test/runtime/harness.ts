// Test harness for the runtime: a listener backed by a small in-memory state store (what the
// daemon's store does for state RPCs), recording logs, drops and memory samples.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentSpec, LogLine, MemorySample, MetricSample, RpcRequest } from '../../src/runtime/protocol.js';
import type { RuntimeListener } from '../../src/runtime/types.js';
import type { StateEntry, StateRead, StateWrite } from '../../src/store/types.js';

export const fixture = (name: string) => path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', name);

export function spec(agent: string, file: string, over: Partial<AgentSpec> = {}): AgentSpec {
  return {
    instanceId: `${agent}#0`,
    agent,
    replica: 0,
    file: fixture(file),
    config: {},
    isolation: 'dedicated',
    memory: {},
    heartbeatTimeoutMs: 5000,
    logLevel: 'debug',
    ...over,
  };
}

export class RecordingListener implements RuntimeListener {
  readonly state = new Map<string, Map<string, StateEntry>>();
  readonly versions = new Map<string, number>();
  readonly calls: RpcRequest[] = [];
  readonly checkpoints: Array<{ runId: string; writes: StateWrite[]; reads: StateRead[]; emits: unknown[] }> = [];
  readonly logs: LogLine[] = [];
  readonly metricSamples: MetricSample[] = [];
  readonly memorySamples = new Map<string, MemorySample>();
  readonly softLimits: string[] = [];
  dropped = 0;

  /** Commits writes as the daemon would: one new version per namespace touched. */
  commit(writes: StateWrite[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const w of writes) {
      const v = out[w.namespace] ?? (this.versions.get(w.namespace) ?? 0) + 1;
      out[w.namespace] = v;
      const ns = this.state.get(w.namespace) ?? new Map<string, StateEntry>();
      this.state.set(w.namespace, ns);
      if (w.deleted) ns.delete(w.key);
      else ns.set(w.key, { key: w.key, value: w.value, version: v, expiresAt: w.expiresAt ?? null });
    }
    for (const [ns, v] of Object.entries(out)) this.versions.set(ns, v);
    return out;
  }

  versionsOf(...namespaces: string[]): Record<string, number> {
    return Object.fromEntries(namespaces.map((ns) => [ns, this.versions.get(ns) ?? 0]));
  }

  async rpc(_instanceId: string, _agent: string, req: RpcRequest): Promise<unknown> {
    this.calls.push(req);
    switch (req.op) {
      case 'state.get':
        return this.state.get(req.namespace)?.get(req.key);
      case 'state.list':
        return [...(this.state.get(req.namespace)?.values() ?? [])].filter((e) => !req.prefix || e.key.startsWith(req.prefix));
      case 'state.checkpoint':
        this.checkpoints.push({ runId: req.runId, writes: req.writes, reads: req.reads, emits: req.emits });
        return { versions: this.commit(req.writes), published: req.emits.length };
      default:
        throw new Error(`unexpected rpc ${req.op}`);
    }
  }

  log(line: LogLine): void {
    this.logs.push(line);
  }

  metrics(_i: string, _a: string, samples: MetricSample[]): void {
    this.metricSamples.push(...samples);
  }

  memory(instanceId: string, _a: string, sample: MemorySample): void {
    this.memorySamples.set(instanceId, sample);
  }

  memorySoftLimit(instanceId: string): void {
    this.softLimits.push(instanceId);
  }

  logsDropped(_i: string, _a: string, count: number): void {
    this.dropped += count;
  }
}

/** True while a process with this pid exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}
