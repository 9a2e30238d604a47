// The worker half of the guardrails: what an agent instance enforces at the call site.
//
// The daemon puts a WorkerGuardrails into each AgentSpec (network policy and the agent's limits).
// In the worker, each instance has an InstanceGuard: token buckets for this.emit, this.state
// writes and HTTP calls that throw `rate_limited` where the call is made, and the network policy's
// dispatcher. installHttpGuard() makes every HttpClient in the isolate (this.http, the
// openclaw/tools notifiers, clients the agent builds itself) find the guard of the instance whose
// code is running, through AsyncLocalStorage.
//
// What the daemon computes for it (workerGuardrails) is in ./worker-spec.ts: that reads the
// security section through its zod schema, which no worker loads (issue 10, memory per agent).
import type { NetworkPolicyConfig } from './network-rules.js';
import { LimitSet, type AgentLimits } from './rate-limit.js';
import { HTTP_GUARD, type HttpGuard } from '../../tools/http.js';

export interface WorkerGuardrails {
  network: NetworkPolicyConfig;
  limits: AgentLimits;
  /**
   * The agent runs several replicas: the daemon keeps the agent-wide count (HTTP calls ask it per
   * request, emits and state writes are counted when a run commits).
   */
  replicated: boolean;
}

export const DEFAULT_NETWORK: NetworkPolicyConfig = { allowed: [], blocked: [], dnsServers: [] };

/** The agent-wide check for replicated agents (an RPC to the daemon). */
export type AgentWideTake = (limit: 'api_calls_per_minute', call: string) => Promise<void>;

export class InstanceGuard {
  readonly limits: LimitSet;
  readonly network: NetworkPolicyConfig;

  constructor(
    readonly agent: string,
    private readonly spec: WorkerGuardrails | undefined,
    private readonly agentWide: AgentWideTake,
  ) {
    this.network = spec?.network ?? DEFAULT_NETWORK;
    this.limits = new LimitSet(agent, spec?.limits ?? {});
  }

  /** this.emit(name): throws rate_limited when over events_per_minute. */
  emitted(name: string): void {
    this.limits.take('events_per_minute', `this.emit('${name}')`);
  }

  /** this.state.set/delete: throws rate_limited when over state_writes_per_minute. */
  wrote(op: 'set' | 'delete', key: string, shared: boolean): void {
    this.limits.take('state_writes_per_minute', `this.${shared ? 'sharedState' : 'state'}.${op}('${key}')`);
  }

  /** Before each HTTP request. */
  async httpCall(method: string, url: string): Promise<void> {
    if (!this.limits.has('api_calls_per_minute')) return;
    const call = `${method} ${redactUrl(url)}`;
    this.limits.take('api_calls_per_minute', call);
    if (this.spec?.replicated) await this.agentWide('api_calls_per_minute', call);
  }
}

/** Query strings may carry keys: the error names the origin and path only. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

/**
 * Installs the isolate-wide hook HttpClient reads. `current` is the instance whose code is running
 * (its limits are charged); outside any run in a worker with several instances, `any` supplies the
 * network policy (project-wide, the same for every agent) and nothing is charged.
 */
export function installHttpGuard(current: () => InstanceGuard | undefined, any: () => InstanceGuard | undefined): void {
  const hook = (): HttpGuard => {
    const g = current();
    if (g) return { network: g.network, before: (method, url) => g.httpCall(method, url) };
    return { network: any()?.network ?? DEFAULT_NETWORK };
  };
  (globalThis as Record<symbol, unknown>)[HTTP_GUARD] = hook;
}
