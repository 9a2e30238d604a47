// Subsystems plug into the daemon as DaemonModules: security (tokens, secrets, audit, guardrails),
// the LLM router, jobs and workflows. A module gets a ModuleContext at boot, after the store is open
// and before the API listens and agents start; it registers its tables, API routes, agent RPC ops
// and metrics there, and is stopped (reverse order) after the agents at shutdown.
//
// The module list is src/daemon/module-list.ts: one line per subsystem.
//
// This is a contract: subsystems import it from here, never from src/daemon (the daemon
// implements it; src/daemon/modules.ts re-exports it for older imports).
import type { FastifyInstance } from 'fastify';
import type { AnsweredRequest, Authorize } from './route.js';
import type { Registry } from 'prom-client';
import type { ProjectConfig } from '../config/types.js';
import type { Clock } from './clock.js';
import type { Store, TxEffect } from './store.js';
import type { Bus } from '../bus/types.js';
import type { LogLine } from '../runtime/protocol.js';
import type { ConfigIssue } from '../util/errors.js';
import type { IssueLocator } from '../config/locate.js';
import type { AgentConfig } from '../config/types.js';
import type { AgentStatus, ControlPlane, InstanceView } from './control.js';
import type { LogHub } from '../observability/log-hub.js';
import type { RunTrigger, StateWrite } from './store.js';
import type { AgentDescription, SerializedError } from '../runtime/protocol.js';

/**
 * Serves one kind of run intent: work agent code buffers during a run (`this.jobs.enqueue` →
 * 'jobs.enqueue') that must commit in the run's transaction. `effects` runs just before the commit
 * (a throw fails the commit); `committed` after it succeeded (wake-ups).
 */
export interface IntentHandler {
  effects(data: unknown[], caller: { agent: string; runId: string | null }): TxEffect[];
  committed?(data: unknown[]): void;
}

/** Who made an agent RPC: the daemon knows, the agent cannot lie about it. */
export interface RpcCaller {
  agent: string;
  instanceId: string;
}

/** Handles one agent RPC op (`jobs.enqueue`, `llm.complete`, ...). `req` is the whole RpcRequest. */
export type RpcHandler = (req: { op: string } & Record<string, unknown>, caller: RpcCaller) => Promise<unknown>;

export interface AuditEntry {
  /** 'token:ab12cd' | 'agent:analyzer' | 'daemon' | 'local' — never a secret. */
  actor: string;
  /** 'state.change' | 'event.emit' | 'agent.lifecycle' | 'api.mutation' | 'token.use' | 'secret.read' | 'llm.call' | ... */
  action: string;
  target?: string | null;
  detail?: Record<string, unknown>;
}

/** The audit log (security module). Default: drops records. Never throws into the caller's path. */
export interface AuditSink {
  record(entry: AuditEntry): void;
}

/** `${secret:NAME}` resolution (security module). Default: fails with a clear error. */
export interface SecretResolver {
  /** The current value of a secret for this daemon's environment; audited as a read. */
  get(name: string, reader: string): Promise<string>;
  /** Replaces every `${secret:NAME}` in a string. */
  expand(text: string, reader: string): Promise<string>;
  /** Every live secret value (current and in grace), for redaction; never logged. */
  values(): readonly string[];
  /**
   * The current value and any rotated-out one still in its grace period (newest first), for
   * verifiers that must accept either (webhook HMAC checks during a rotation); audited as a read.
   */
  validValues(name: string, reader: string): Promise<string[]>;
  /**
   * Replaces every live secret value inside `value` (a string, or any JSON-like value: strings and
   * object keys are walked) with `[REDACTED:NAME]`. Returns the input itself when nothing matched.
   * Use it on anything leaving the daemon: log lines, errors, metric labels, API bodies.
   */
  redact<T>(value: T): T;
}

/** An LLM completion on behalf of a caller (workflow LLM steps), served by the router when configured. */
export interface LlmService {
  complete(request: Record<string, unknown>, caller: { agent?: string; workflow?: string }): Promise<{ text: string; json?: unknown; model: string; usage: Record<string, unknown> }>;
}

/** API authentication, installed by the auth module (src/security/auth). Absent: every request is let through. */
export interface ApiAuth {
  mode: 'token' | 'local-trust';
  /** The API's preHandler for every non-public route. */
  authorize: Authorize;
  /** After every response (the audit of mutations). */
  onResponse(req: AnsweredRequest, reply: { statusCode: number }): void;
  /** OPENCLAW_TOKEN for a command agent instance: scoped to that agent, valid while the instance runs. */
  agentToken(agent: string, instanceId: string): string;
}

/** Shared daemon services a module may use and, for the slots, replace at start. */
export interface DaemonServices {
  audit: AuditSink;
  secrets: SecretResolver;
  /** Installed by the auth module. */
  auth?: ApiAuth;
  /** Installed by the LLM module when an llm: section exists. */
  llm?: LlmService;
  /** Output validators and agent-wide rate limits, checked before each run commit (guardrails module). */
  guardrails?: CommitGuard;
}

export interface ModuleContext {
  readonly config: ProjectConfig;
  readonly store: Store;
  /** The event bus: every event consumer (workflow triggers, …) claims and acks through it. */
  readonly bus: Bus;
  readonly clock: Clock;
  /** <root>/.openclaw */
  readonly dataDir: string;
  readonly dev: boolean;
  readonly control: ControlPlane;
  readonly logs: LogHub;
  /** The prom-client registry served at /api/metrics. Register metrics here, never on the global one. */
  readonly metrics: Registry;
  /** Replaceable slots: the security module installs the real audit log and secret store. */
  readonly services: DaemonServices;
  /** The controller of an agent (to invoke its methods as run transactions), or undefined. */
  agent(name: string): AgentHandle | undefined;
  agentNames(): string[];
  log(level: LogLine['level'], msg: string, fields?: Record<string, unknown>): void;
  /** Adds API routes (use defineRoute with a declared permission). */
  routes(register: (app: FastifyInstance) => void): void;
  /** Serves a kind of run intent (see IntentHandler). One handler per kind. */
  intent(kind: string, handler: IntentHandler): void;
  /** Serves an agent RPC op. One handler per op. */
  rpc(op: string, handler: RpcHandler): void;
  /** The API's base URL once it listens ('' when the API is off or not up yet). */
  apiUrl(): string;
  /** This daemon as a cluster node (PostgreSQL store): its id and lease; null on a single daemon. */
  readonly node?: { id: string; leaseMs: number } | null;
}

/** Options of AgentHandle.call(). */
export interface CallOptions {
  /** Recorded on the run: 'job', 'workflow', 'call', … */
  trigger: RunTrigger;
  /** Default: a new UUID. Logs of the call carry it. */
  runId?: string;
  /**
   * Committed in the call's transaction with its state writes and emits; a throw aborts it all.
   * As a function it receives the method's return value (to store a job's result, a step's output).
   */
  effects?: TxEffect[] | ((value: unknown) => TxEffect[]);
  /**
   * Budget in ms from now (or an absolute epoch-ms time when > 1e12, on the daemon's Clock). At the
   * deadline the call's AbortSignal (this.signal) fires and the call returns `{ ok: false,
   * error.code: 'call_timeout' }`; whatever the method does after that is never committed. Also
   * bounds the wait for an instance.
   */
  deadlineMs?: number;
  /** Cancels the call the same way (error.code 'call_aborted'). */
  signal?: AbortSignal;
  /** The method's second argument (plain data). */
  meta?: unknown;
  /** W3C traceparent the call's run continues (a job's enqueuer, a workflow step); default: the active span. */
  parentTrace?: string | null;
}

/** What AgentHandle.call() resolves to; it never rejects. */
export interface CallResult {
  ok: boolean;
  /** The method's return value (structured clone) when ok. */
  value?: unknown;
  /**
   * Why not ok. error.code: 'call_timeout' | 'call_aborted' | 'agent_unavailable' | 'no_method' |
   * 'instance_gone' | 'lease_lost' (a job effect refused the commit) | the agent's own error code.
   */
  error?: SerializedError;
  runId: string;
}

/** What a module may do with one supervised agent (the daemon's AgentController implements it). */
export interface AgentHandle {
  readonly cfg: AgentConfig;
  /** What the agent's code declared (handlers, @job methods, schedule); null for command agents. */
  readonly description: AgentDescription | null;
  status(): AgentStatus;
  instanceViews(): InstanceView[];
  /** Invokes `method(payload, opts.meta)` as a run transaction; never rejects. */
  call(method: string, payload: unknown, opts: CallOptions): Promise<CallResult>;
}

export interface CommitBuffer {
  writes: StateWrite[];
  emits: Array<{ id: string; name: string; data: unknown }>;
}

/** What run-transaction calls before a commit (guardrails). Throws to fail the commit (nothing of it is written). */
export interface CommitGuard {
  beforeCommit<B extends CommitBuffer>(agent: string, buf: B): B;
}

/** What a module's check sees: the config and the description of each module agent that loaded. */
export interface CheckContext {
  readonly config: ProjectConfig;
  readonly agents: ReadonlyMap<string, AgentDescription>;
  /** Located issues in the same format as the loader's (file:line:col, field[0].path). */
  readonly locate: IssueLocator;
}

export interface DaemonModule {
  readonly name: string;
  /**
   * Every problem with this module's configuration, found before the daemon creates anything on
   * disk (store, token, logs); the issues of every module and agent are reported together (exit 78).
   */
  check?(ctx: CheckContext): Promise<ConfigIssue[]> | ConfigIssue[];
  start(ctx: ModuleContext): Promise<void>;
  /** After agents stopped; release timers, connections. */
  stop?(): Promise<void>;
}

export const noAudit: AuditSink = { record() {} };

export const noSecrets: SecretResolver = {
  async get(name) {
    throw new Error(`secret '${name}' is referenced but no secret store is configured`);
  },
  async expand(text) {
    if (/\$\{secret:[^}]+\}/.test(text)) throw new Error('a ${secret:NAME} reference needs the secret store, which is not configured');
    return text;
  },
  values: () => [],
  async validValues(name) {
    throw new Error(`secret '${name}' is referenced but no secret store is configured`);
  },
  redact: (value) => value,
};
