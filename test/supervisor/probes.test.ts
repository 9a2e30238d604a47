import { describe, expect, it } from 'vitest';
import { ProbeTracker, probeAction } from '../../src/supervisor/index.js';

describe('ProbeTracker', () => {
  it('turns unhealthy after unhealthyThreshold consecutive failures, once', () => {
    const liveness = new ProbeTracker('liveness', { unhealthyThreshold: 3, healthyThreshold: 1 });
    expect([false, false].map((ok) => liveness.record(ok))).toEqual(['unchanged', 'unchanged']);
    expect(liveness.consecutiveFailures).toBe(2);
    expect(liveness.record(false)).toBe('unhealthy');
    expect(liveness.verdict).toBe('unhealthy');
    expect(liveness.record(false)).toBe('unchanged');
  });

  it('a success in between restarts the failure count', () => {
    const t = new ProbeTracker('liveness', { unhealthyThreshold: 3, healthyThreshold: 1 });
    expect([false, false, true, false, false].map((ok) => t.record(ok))).toEqual(Array(5).fill('unchanged'));
    expect(t.record(false)).toBe('unhealthy');
  });

  it('turns healthy again after healthyThreshold consecutive successes', () => {
    const readiness = new ProbeTracker('readiness', { unhealthyThreshold: 2, healthyThreshold: 2 });
    readiness.record(false);
    expect(readiness.record(false)).toBe('unhealthy');
    expect(readiness.record(true)).toBe('unchanged');
    expect(readiness.record(false)).toBe('unchanged');
    expect(readiness.record(true)).toBe('unchanged');
    expect(readiness.record(true)).toBe('healthy');
    expect(readiness.consecutiveSuccesses).toBe(2);
  });

  it('can start unhealthy (Kubernetes-style readiness: not ready until it passes)', () => {
    const readiness = new ProbeTracker('readiness', { unhealthyThreshold: 2, healthyThreshold: 1 }, 'unhealthy');
    expect(readiness.verdict).toBe('unhealthy');
    expect(readiness.record(true)).toBe('healthy');
  });

  it('reset returns to the initial verdict with no history', () => {
    const t = new ProbeTracker('liveness', { unhealthyThreshold: 1, healthyThreshold: 1 });
    expect(t.record(false)).toBe('unhealthy');
    t.reset();
    expect(t.verdict).toBe('healthy');
    expect(t.consecutiveFailures).toBe(0);
  });

  it('treats thresholds below 1 as 1', () => {
    const t = new ProbeTracker('liveness', { unhealthyThreshold: 0, healthyThreshold: 0 });
    expect(t.record(false)).toBe('unhealthy');
    expect(t.record(true)).toBe('healthy');
  });
});

describe('probeAction', () => {
  it('liveness failure restarts; readiness takes the instance out of delivery and back', () => {
    expect(probeAction('liveness', 'unhealthy')).toBe('restart');
    expect(probeAction('liveness', 'healthy')).toBe('none');
    expect(probeAction('readiness', 'unhealthy')).toBe('stop_delivery');
    expect(probeAction('readiness', 'healthy')).toBe('resume_delivery');
    expect(probeAction('readiness', 'unchanged')).toBe('none');
    expect(probeAction('liveness', 'unchanged')).toBe('none');
  });
});
