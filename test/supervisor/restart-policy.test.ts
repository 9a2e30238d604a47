import { describe, expect, it } from 'vitest';
import { backoffDelay, intensityExceeded, restartsInWindow, retriesExhausted } from '../../src/supervisor/index.js';

const S = 1000;

describe('backoffDelay', () => {
  it('exponential follows the seed sequence 5s → 10s → 20s → 40s → 80s → 160s → 300s (capped)', () => {
    const policy = { backoff: 'exponential', initialDelayMs: 5 * S, maxDelayMs: 300 * S } as const;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(policy, n) / S)).toEqual([5, 10, 20, 40, 80, 160, 300, 300]);
  });

  it('exponential stays at the cap for absurd attempt numbers', () => {
    expect(backoffDelay({ backoff: 'exponential', initialDelayMs: 5 * S, maxDelayMs: 300 * S }, 5000)).toBe(300 * S);
  });

  it('linear grows by the initial delay each attempt, capped', () => {
    const policy = { backoff: 'linear', initialDelayMs: 5 * S, maxDelayMs: 18 * S } as const;
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n) / S)).toEqual([5, 10, 15, 18, 18]);
  });

  it('immediate is always 0', () => {
    const policy = { backoff: 'immediate', initialDelayMs: 5 * S, maxDelayMs: 300 * S } as const;
    expect([1, 2, 10].map((n) => backoffDelay(policy, n))).toEqual([0, 0, 0]);
  });

  it('treats attempts below 1 as the first', () => {
    expect(backoffDelay({ backoff: 'exponential', initialDelayMs: 5 * S, maxDelayMs: 300 * S }, 0)).toBe(5 * S);
  });
});

describe('retries and intensity', () => {
  it('retries are exhausted after maxRetries failures', () => {
    expect(retriesExhausted({ maxRetries: 3 }, 3)).toBe(false);
    expect(retriesExhausted({ maxRetries: 3 }, 4)).toBe(true);
  });

  it('counts restarts inside the window only', () => {
    const policy = { intensity: { maxRestarts: 2, windowMs: 60 * S } };
    const now = 1_000_000;
    expect(restartsInWindow(policy, [now - 61 * S, now - 60 * S, now - 59 * S, now - 1], now)).toEqual([now - 59 * S, now - 1]);
    expect(intensityExceeded(policy, [now - 59 * S], now)).toBe(false); // 2 restarts: allowed
    expect(intensityExceeded(policy, [now - 59 * S, now - 1], now)).toBe(true); // a 3rd: more than 2
    expect(intensityExceeded(policy, [now - 70 * S, now - 65 * S], now)).toBe(false);
  });
});
