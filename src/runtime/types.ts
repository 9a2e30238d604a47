// What the runtime (agent hosts, worker threads, command processes) offers the daemon.
import type {
  AgentDescription,
  AgentSpec,
  InstanceExit,
  Invocation,
  InvocationResult,
  LogLine,
  MemorySample,
  MetricSample,
  RpcRequest,
} from './protocol.js';
import type { CommandSpec } from '../config/types.js';

/** Callbacks from the runtime to the daemon. Called on the daemon's main thread. */
export interface RuntimeListener {
  /** Agent code asked the daemon for something; resolve with the value or throw. */
  rpc(instanceId: string, agent: string, req: RpcRequest): Promise<unknown>;
  log(line: LogLine): void;
  metrics(instanceId: string, agent: string, samples: MetricSample[]): void;
  memory(instanceId: string, agent: string, sample: MemorySample): void;
  /**
   * The instance went over spec.memory.softBytes (heap + external): drain and restart it. Called
   * once each time it crosses the limit upwards; the runtime does not end the instance itself.
   */
  memorySoftLimit?(instanceId: string, agent: string, sample: MemorySample): void;
  /** Log lines dropped by the flood guard since the last report. */
  logsDropped(instanceId: string, agent: string, count: number): void;
}

/** A running module-agent instance (a worker thread inside some host). */
export interface InstanceHandle {
  readonly instanceId: string;
  readonly agent: string;
  /** pid of the host process holding it. */
  readonly pid: number;
  readonly description: AgentDescription;
  /** Runs one invocation; rejects with InstanceGoneError if the instance dies meanwhile. */
  invoke(inv: Invocation): Promise<InvocationResult>;
  /**
   * liveness: false when the heartbeat is older than spec.heartbeatTimeoutMs, else the agent's
   * liveness() if it has one. readiness: the agent's readiness() (true if none). A probe that
   * does not answer within timeoutMs is false.
   */
  probe(kind: 'liveness' | 'readiness', timeoutMs: number): Promise<boolean>;
  /**
   * Fires the instance's AbortSignal (this.signal in agent code) so in-flight work can wind down;
   * with `runId`, only the signal of that one run (a call's timeout or cancellation).
   */
  abort(reason: string, runId?: string): void;
  /** Ends the worker (terminate) after the daemon ran teardown; resolves when it is gone. */
  dispose(): Promise<void>;
  /** Immediate: terminate the worker; for isolation 'process', kill the host's process group. */
  kill(reason: string): Promise<void>;
  /** Resolves once, when the instance is gone for any reason (never rejects). */
  readonly exited: Promise<InstanceExit>;
  readonly memory: MemorySample | null;
  /** True when the host handed over its pre-loaded spare worker (no spawn on the start path). */
  readonly spareWorker?: boolean;
}

export interface CommandAgentSpec {
  instanceId: string;
  agent: string;
  replica: number;
  command: CommandSpec;
  /** Added to command.env: OPENCLAW_URL, OPENCLAW_TOKEN, OPENCLAW_AGENT, OPENCLAW_INSTANCE. */
  env: Record<string, string>;
  /** SIGTERM, then SIGKILL of the process group after this long. */
  stopTimeoutMs: number;
}

export interface CommandHandle {
  readonly instanceId: string;
  readonly agent: string;
  readonly pid: number;
  /** HTTP probe (status 2xx or expectStatus) or exec probe (exit 0); false on timeout. */
  probe(p: { http?: { url: string; expectStatus?: number }; exec?: { command: string; args: string[] } }, timeoutMs: number): Promise<boolean>;
  /** SIGTERM to the process group; SIGKILL after stopTimeoutMs. Resolves when exited. */
  stop(): Promise<InstanceExit>;
  kill(reason: string): Promise<void>;
  readonly exited: Promise<InstanceExit>;
}

export interface Runtime {
  /** Loads the module in a worker (in a host chosen by isolation) and returns once described. */
  startAgent(spec: AgentSpec): Promise<InstanceHandle>;
  startCommand(spec: CommandAgentSpec): Promise<CommandHandle>;
  /** Loads a module only to describe it (validation at daemon start); throws a clear error. */
  describe(file: string, exportName?: string): Promise<AgentDescription>;
  /** Kills every host and command process. */
  shutdown(): Promise<void>;
}
