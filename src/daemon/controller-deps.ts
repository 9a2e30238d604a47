// What an AgentController (and its parts: instance processes, scheduled runs, calls) is given.
import type { Clock } from '../scheduler/types.js';
import type { Store } from '../store/types.js';
import type { Runtime } from '../runtime/types.js';
import type { LogLine } from '../runtime/protocol.js';
import type { Bus } from '../bus/types.js';
import type { RunContext } from './run-transaction.js';
import type { FireLedger } from '../scheduler/fire-ledger.js';
import type { WorkerGuardrails } from '../security/guardrails/worker.js';
import type { CoreMetrics } from '../observability/metrics.js';

export interface ControllerDeps {
  store: Store;
  /** The event bus the agent's `@on` lane claims from (default: the embedded bus on `store`). */
  bus?: Bus;
  runtime: Runtime;
  clock: Clock;
  runContext: RunContext;
  log: (level: LogLine['level'], msg: string, fields?: Record<string, unknown>, instance?: string) => void;
  /** Environment for command agents (OPENCLAW_URL, OPENCLAW_TOKEN…). */
  commandEnv: (agent: string, instanceId: string) => Record<string, string>;
  /** Expands `${secret:NAME}` in the agent's config and command (env, args) when an instance starts. */
  expandSecrets?: <T>(value: T, reader: string) => Promise<T>;
  onTransition?: (agent: string, instance: string, from: string, to: string, reason: string) => void;
  /** Network policy and rate limits for the agent's workers (security guardrails). */
  guardrails?: WorkerGuardrails;
  /** Restart and probe-failure counters (the daemon's registry). */
  metrics?: CoreMetrics;
  /** Claimed schedule fires not yet run: closed when their run is recorded (survives a crash). */
  fires?: FireLedger;
  /** Cluster placement: whether this node holds the instance's lease (default: every instance runs here). */
  placed?: (instanceId: string) => boolean;
}
