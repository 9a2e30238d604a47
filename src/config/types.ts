// The normalised, validated shape of an openclaw.yaml. `loadConfig` produces it; everything else
// reads only this (never the raw YAML). Durations are milliseconds, sizes are bytes, paths absolute.
import type { ScheduleSpec } from '../scheduler/types.js';

export type Isolation = 'dedicated' | 'shared' | 'process';
export type BackoffKind = 'immediate' | 'linear' | 'exponential';
export type OverlapPolicy = 'skip' | 'queue' | 'allow';
export type MissedRunPolicy = 'skip' | 'run_once' | 'run_all';
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface RestartPolicyConfig {
  backoff: BackoffKind;
  initialDelayMs: number; // default 5s (seed 003: 5s → 10s → … → 300s)
  maxDelayMs: number; // default 300s
  maxRetries: number; // default 10; after this the agent is STOPPED
  resetAfterMs: number; // default 3600s of healthy running resets the retry counter
  /** Restart intensity (OTP style): more than maxRestarts in windowMs trips the crash-loop breaker. */
  intensity: { maxRestarts: number; windowMs: number };
}

export interface ProbeConfig {
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number; // consecutive failures before acting
  healthyThreshold: number; // consecutive successes to count as healthy again (default 1)
  /** Command agents only: how to probe. Module agents use the heartbeat / liveness() / readiness(). */
  http?: { url: string; expectStatus?: number };
  exec?: { command: string; args: string[] };
}

export interface HealthCheckConfig {
  liveness: ProbeConfig; // default interval 30s, timeout 10s, threshold 3
  readiness: ProbeConfig; // default interval 15s, timeout 5s, threshold 2
  /** Time allowed from spawn to setup() finished (startup probe). Default 60s. */
  startupTimeoutMs: number;
}

export interface ResourcesConfig {
  memoryBytes: number | null; // `memory: 512Mi`; soft limit = 90%, hard limit = memory
  cpu: number | null; // recorded; advisory on a single node
  maxStateSizeBytes: number; // default 100Mi
  /** Largest single state value (JSON bytes), default 4Mi; larger writes fail the run. */
  maxStateValueBytes?: number;
  /** Largest event payload (JSON bytes), default 1Mi; emits and API publishes. */
  maxEventBytes?: number;
  /** Rate limits (seed 003 §11), enforced by the guardrails; absent when not configured. */
  apiCallsPerMinute?: number;
  eventsPerMinute?: number;
  stateWritesPerMinute?: number;
  /** Enforced by the LLM router; passed through. */
  llmTokensPerHour?: number;
}

export interface GracefulShutdownConfig {
  timeoutMs: number; // drain budget for in-flight work (default 30s)
  drainEvents: boolean; // stop claiming new events first (default true)
  teardownTimeoutMs: number; // own budget for teardown() (default 10s)
}

export interface LoggingConfig {
  level: LogLevel;
  format: 'json' | 'text';
  retentionMs: number; // default 7d
}

export interface EventDeliveryConfig {
  maxAttempts: number; // default 5, then dead-letter
  initialDelayMs: number; // default 1s
  maxDelayMs: number; // default 60s
  concurrency: number; // events handled at once per instance (default 64)
  /** 'key': events with the same NewEvent.key are handled one at a time, in log order. */
  ordering: 'none' | 'key';
}

export interface CommandSpec {
  command: string; // executable (resolved via PATH if not absolute)
  args: string[];
  env: Record<string, string>;
  cwd: string; // absolute
}

export interface AgentConfig {
  name: string;
  kind: 'module' | 'command';
  /** Module agents: absolute path of the .ts/.js/.mjs file, optional named export. */
  source?: string;
  exportName?: string;
  /** Command agents: the executable to supervise. */
  command?: CommandSpec;
  /** From YAML `schedule:`; null when absent (the class's `static schedule` may still supply one). */
  schedule: ScheduleSpec | null;
  config: Record<string, unknown>;
  replicas: number;
  isolation: Isolation;
  enabled: boolean; // `enabled: false` declares but does not start it
  restartPolicy: RestartPolicyConfig;
  healthCheck: HealthCheckConfig;
  resources: ResourcesConfig;
  gracefulShutdown: GracefulShutdownConfig;
  logging: LoggingConfig;
  overlap: OverlapPolicy; // default 'skip'
  missed: MissedRunPolicy; // default 'run_once'
  events: EventDeliveryConfig;
  owner: string | null; // team (RBAC lands with the security issue)
  /** The only environment a module agent's worker sees besides the base (docs/security.md). */
  env?: Record<string, string>;
  /** What an agent host may do beyond the default sandbox (docs/security.md). */
  permissions?: AgentPermissions;
  /** Where the agent was declared, for error messages: "openclaw.yaml:12". */
  location: string;
}

/** `permissions:` of an agent: what its host may do beyond read-the-project / write-its-data-dir. */
export interface AgentPermissions {
  /** false: run without Node's permission model (the agent says why in config). Default true. */
  sandbox: boolean;
  /** May start child processes (child_process, and so any program the user can run). */
  childProcess: boolean;
  /** More paths readable (absolute). */
  read: string[];
  /** More paths writable (absolute). */
  write: string[];
}

export type StoreConfig =
  | { kind: 'sqlite'; path: string } // default: <root>/.openclaw/openclaw.db
  | { kind: 'postgres'; url: string; schema: string };

/** `bus:` — what carries events between runs (docs/configuration.md, "bus"). */
export interface BusConfig {
  /** embedded: the store's own log (default); redis / nats: an external bus fed by the outbox relay. */
  backend: 'embedded' | 'redis' | 'nats';
  /** redis://… or nats://… (required for redis and nats). */
  url: string | null;
  /** Redis key prefix / NATS stream name; default derived from the project name. */
  name: string | null;
  /** Deliveries of one event never settled (its consumer died each time) before it is dead-lettered. */
  maxDeliveries: number;
}

export interface ApiConfig {
  host: string; // default 127.0.0.1
  port: number; // default 8400; --port / OPENCLAW_PORT override
  /** Absent: `local-trust` under `openclaw dev`, `token` otherwise (src/security/auth/mode.ts). */
  auth?: 'token' | 'local-trust';
  /** Serve HTTPS with this certificate and key (absolute paths). */
  tls?: { cert: string; key: string };
}

export interface ProjectConfig {
  file: string; // absolute path of openclaw.yaml
  root: string; // its directory
  project: string;
  version: string | null;
  store: StoreConfig;
  /** Absent = embedded (the store's log). */
  bus?: BusConfig;
  api: ApiConfig;
  /** Directory for pid, logs, token, sqlite file: <root>/.openclaw */
  dataDir: string;
  agents: AgentConfig[]; // in file order
  /** Raw `llm`, `security`, `workflows`, `jobs`, `defaults` sections (those present), interpreted by later modules. */
  extensions?: Record<string, unknown>;
}
