// What the daemon's parts (control-plane.ts, wiring.ts) are given by the composition root
// (daemon.ts), as controller-deps.ts is for an agent controller. Read when used: boot() assigns
// the store, bus, placement and the rest after the parts were built.
import type { ProjectConfig, AgentConfig } from '../config/types.js';
import type { Clock } from '../scheduler/types.js';
import type { Store } from '../store/types.js';
import type { Bus } from '../bus/index.js';
import type { LogLine } from '../runtime/protocol.js';
import type { LogHub } from '../observability/log-hub.js';
import type { AgentCustomMetrics, CoreMetrics } from '../observability/metrics.js';
import type { Registry } from 'prom-client';
import type { AgentController } from './agent-controller.js';
import type { Placement } from './placement.js';
import type { Schedules } from './schedules.js';
import type { NamespaceVersions, RunContext } from './run-transaction.js';
import type { ControlPlane } from './control.js';
import type { DaemonServices } from './modules.js';

/** The daemon's own log stream (`openclaw logs daemon`). */
export const DAEMON_LOG = 'daemon';

export interface DaemonPorts {
  readonly config: ProjectConfig;
  readonly clock: Clock;
  /** `openclaw dev`. */
  readonly dev: boolean;
  readonly store: Store;
  readonly bus: Bus;
  /** Cluster placement; null before boot opened it. */
  readonly placement: Placement | null;
  readonly versions: NamespaceVersions;
  readonly schedules: Schedules;
  readonly controllers: Map<string, AgentController>;
  readonly logs: LogHub;
  /** The registry served at /api/metrics. */
  readonly metrics: Registry;
  readonly core: CoreMetrics;
  readonly customMetrics: AgentCustomMetrics;
  readonly services: DaemonServices;
  /** The daemon as a whole (what modules are given as `control`). */
  readonly control: ControlPlane;
  /** The control API's URL ('' while it is not listening or off). */
  readonly url: string;
  /** Boot finished; shutdown begun; when boot began. */
  readonly started: boolean;
  readonly stopping: boolean;
  readonly startedAt: number;
  log(level: LogLine['level'], msg: string, fields?: Record<string, unknown>, agent?: string, instance?: string): void;
  runContext(a: AgentConfig): RunContext;
}
