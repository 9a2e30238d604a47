// How long to wait before restarting a failed instance, when to give up, and when restarts come
// so fast that the crash-loop breaker trips. Pure functions of the policy and the history.
import type { RestartPolicyConfig } from '../config/types.js';

/**
 * Delay before retry number `attempt` (1 = the first retry after a failure):
 * - immediate: 0;
 * - linear: initialDelay × attempt, capped at maxDelay;
 * - exponential: initialDelay × 2^(attempt-1), capped at maxDelay
 *   (seed 003 defaults: 5s → 10s → 20s → 40s → 80s → 160s → 300s → 300s …).
 */
export function backoffDelay(policy: Pick<RestartPolicyConfig, 'backoff' | 'initialDelayMs' | 'maxDelayMs'>, attempt: number): number {
  const n = Math.max(1, Math.floor(attempt));
  switch (policy.backoff) {
    case 'immediate':
      return 0;
    case 'linear':
      return Math.min(policy.initialDelayMs * n, policy.maxDelayMs);
    case 'exponential':
      // 2 ** n overflows to Infinity for huge n, which the cap absorbs.
      return Math.min(policy.initialDelayMs * 2 ** (n - 1), policy.maxDelayMs);
  }
}

/** True when failure number `attempt` is past the allowed retries (the instance is then STOPPED). */
export function retriesExhausted(policy: Pick<RestartPolicyConfig, 'maxRetries'>, attempt: number): boolean {
  return attempt > policy.maxRetries;
}

/** The restart times still inside the intensity window at `now` (oldest first). */
export function restartsInWindow(policy: Pick<RestartPolicyConfig, 'intensity'>, restartTimes: readonly number[], now: number): number[] {
  return restartTimes.filter((t) => now - t < policy.intensity.windowMs);
}

/**
 * OTP's restart intensity: one more restart at `now` would make more than maxRestarts restarts
 * within windowMs, so the crash-loop breaker trips instead of restarting.
 */
export function intensityExceeded(policy: Pick<RestartPolicyConfig, 'intensity'>, restartTimes: readonly number[], now: number): boolean {
  return restartsInWindow(policy, restartTimes, now).length + 1 > policy.intensity.maxRestarts;
}
