// The supervisor module: the instance lifecycle as a pure transition function (lifecycle.ts),
// restart backoff and intensity (restart-policy.ts), and probe bookkeeping (probes.ts). The daemon's
// runner performs the effects these decide.
export {
  EXIT_CONFIG_INVALID,
  LIFECYCLE_STATUSES,
  admitsWork,
  initialInstanceState,
  transition,
  type Effect,
  type InstanceState,
  type LastError,
  type LifecycleEvent,
  type LifecycleEventType,
  type LifecycleStatus,
  type Transition,
} from './lifecycle.js';
export { backoffDelay, intensityExceeded, restartsInWindow, retriesExhausted } from './restart-policy.js';
export { ProbeTracker, probeAction, type ProbeAction, type ProbeKind, type ProbeTransition, type ProbeVerdict } from './probes.js';
