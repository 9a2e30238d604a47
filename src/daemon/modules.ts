// Subsystems plug into the daemon as DaemonModules: security (tokens, secrets, audit, guardrails),
// the LLM router, jobs and workflows. A module gets a ModuleContext at boot, after the store is open
// and before the API listens and agents start; it registers its tables, API routes, agent RPC ops
// and metrics there, and is stopped (reverse order) after the agents at shutdown.
//
// The module list is src/daemon/module-list.ts: one line per subsystem.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authorize } from '../api/route.js';
import type { Registry } from 'prom-client';
import type { ProjectConfig } from '../config/types.js';
import type { Clock } from '../scheduler/types.js';
import type { Store, TxEffect } from '../store/types.js';
import type { Bus } from '../bus/types.js';
import type { AgentDescription, LogLine } from '../runtime/protocol.js';
import type { ConfigIssue } from '../util/errors.js';
import type { IssueLocator } from '../config/locate.js';
import type { ControlPlane } from './control.js';
import type { AgentController } from './agent-controller.js';
import type { LogHub } from '../observability/log-hub.js';
import type { CommitGuard } from '../security/guardrails/module.js';

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
  onResponse(req: FastifyRequest, reply: FastifyReply): void;
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
  agent(name: string): AgentController | undefined;
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
