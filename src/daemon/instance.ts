// One replica of an agent as the controller tracks it: lifecycle state, the worker or process
// handle, load and probe timers. AgentController (agent-controller.ts) performs its effects.
import { initialInstanceState, type InstanceState } from '../supervisor/lifecycle.js';
import type { ProbeTracker } from '../supervisor/probes.js';
import type { CommandHandle, InstanceHandle } from '../runtime/types.js';

export type Handle = { kind: 'module'; h: InstanceHandle } | { kind: 'command'; h: CommandHandle };

export class Instance {
  lc: InstanceState;
  handle: Handle | null = null;
  generation = 0;
  busy = 0;
  ready = true;
  restarts = 0;
  startedAt: number | null = null;
  lastError: string | null = null;
  cancelRetry: (() => void) | null = null;
  probeTimers: NodeJS.Timeout[] = [];
  liveness: ProbeTracker | null = null;
  readiness: ProbeTracker | null = null;
  healthyTimer: (() => void) | null = null;
  /** Resolves when the current stop sequence finishes. */
  stopping: Promise<void> | null = null;
  /** Taken out of admission while it drains before a memory soft-limit restart. */
  draining = false;
  /** Why it last went down (a fixed vocabulary), for openclaw_restarts_total{reason}. */
  downReason = 'other';

  constructor(
    readonly id: string,
    readonly replica: number,
    now: number,
  ) {
    this.lc = initialInstanceState(now);
  }
}
