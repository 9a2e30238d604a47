// Probe bookkeeping, pure: counts consecutive results against the thresholds and says when the
// probe's verdict flips. The runner performs the probes (heartbeat, liveness()/readiness(), HTTP,
// exec; a timeout counts as a failure) and acts on the flips:
//   liveness  → unhealthy: send { type: 'probe_failed', kind: 'liveness' } to the lifecycle (restart)
//   readiness → unhealthy: stop delivering events to the instance (no restart);
//               healthy:   deliver again.
import type { ProbeConfig } from '../config/types.js';

export type ProbeKind = 'liveness' | 'readiness';
export type ProbeVerdict = 'healthy' | 'unhealthy';
export type ProbeTransition = 'healthy' | 'unhealthy' | 'unchanged';
/** What the daemon does on a flip. */
export type ProbeAction = 'restart' | 'stop_delivery' | 'resume_delivery' | 'none';

export class ProbeTracker {
  readonly kind: ProbeKind;
  private readonly unhealthyThreshold: number;
  private readonly healthyThreshold: number;
  private readonly initial: ProbeVerdict;
  private current: ProbeVerdict;
  private failures = 0;
  private successes = 0;

  /**
   * `initial` is the verdict before any result: 'healthy' by default (the startup timeout covers
   * a slow start). Pass 'unhealthy' for Kubernetes-style readiness: no events until the first
   * healthyThreshold successes.
   */
  constructor(kind: ProbeKind, config: Pick<ProbeConfig, 'unhealthyThreshold' | 'healthyThreshold'>, initial: ProbeVerdict = 'healthy') {
    this.kind = kind;
    // A threshold below 1 would flip before any result; treat it as 1.
    this.unhealthyThreshold = Math.max(1, Math.floor(config.unhealthyThreshold));
    this.healthyThreshold = Math.max(1, Math.floor(config.healthyThreshold));
    this.initial = initial;
    this.current = initial;
  }

  get verdict(): ProbeVerdict {
    return this.current;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  get consecutiveSuccesses(): number {
    return this.successes;
  }

  /** Records one probe result (a timeout is `false`) and returns the flip it causes, if any. */
  record(ok: boolean): ProbeTransition {
    if (ok) {
      this.successes += 1;
      this.failures = 0;
      if (this.current === 'unhealthy' && this.successes >= this.healthyThreshold) {
        this.current = 'healthy';
        return 'healthy';
      }
    } else {
      this.failures += 1;
      this.successes = 0;
      if (this.current === 'healthy' && this.failures >= this.unhealthyThreshold) {
        this.current = 'unhealthy';
        return 'unhealthy';
      }
    }
    return 'unchanged';
  }

  /** Back to the initial verdict with no history (a new instance after a restart). */
  reset(): void {
    this.current = this.initial;
    this.failures = 0;
    this.successes = 0;
  }
}

/** The daemon's response to a verdict flip of a probe of `kind`. */
export function probeAction(kind: ProbeKind, transition: ProbeTransition): ProbeAction {
  if (transition === 'unchanged') return 'none';
  if (kind === 'liveness') return transition === 'unhealthy' ? 'restart' : 'none';
  return transition === 'unhealthy' ? 'stop_delivery' : 'resume_delivery';
}
