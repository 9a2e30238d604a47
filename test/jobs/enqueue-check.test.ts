// The enqueue and @job(...) option checks are hand-written (no zod in agent workers, issue 10):
// they accept what the API's zod schema accepts, refuse the rest naming each bad field, and keep
// the did-you-mean for unknown keys.
import { describe, expect, it } from 'vitest';
import { BACKOFF_KEYS, ENQUEUE_OPTION_KEYS, normalizeEnqueue } from '../../src/jobs/options.js';
import { backoffSchema, enqueueOptionsSchema } from '../../src/jobs/routes.js';
import { checkHandlerOptions } from '../../src/jobs/policy.js';

const refusal = (req: unknown): string => {
  try {
    normalizeEnqueue(req, 'this.jobs.enqueue');
  } catch (err) {
    expect((err as { code?: string }).code).toBe('invalid_job');
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(req)}`);
};

describe('enqueue check', () => {
  it('knows the same option keys as the API schema', () => {
    expect([...ENQUEUE_OPTION_KEYS].sort()).toEqual(Object.keys(enqueueOptionsSchema.shape).sort());
    expect([...BACKOFF_KEYS].sort()).toEqual(Object.keys(backoffSchema.shape).sort());
  });

  it('accepts every option at its bounds, as the API schema does, and normalises it', () => {
    const opts = {
      priority: -1_000_000,
      delay: '5s',
      runAt: new Date(1_700_000_000_000),
      maxAttempts: 1000,
      backoff: { type: 'jitter', delay: 250, max: '1m' },
      timeout: 0,
      key: 'k'.repeat(512),
      mode: 'debounce',
      concurrencyKey: 'c'.repeat(256),
      id: 'i'.repeat(200),
    };
    expect(enqueueOptionsSchema.safeParse(opts).success).toBe(true);
    const j = normalizeEnqueue({ name: 'a.b:c-d_e', payload: { x: 1 }, opts });
    expect(j).toMatchObject({ id: 'i'.repeat(200), queue: 'a.b:c-d_e', payload: { x: 1 }, priority: -1_000_000, delayMs: 5000, runAt: 1_700_000_000_000, maxAttempts: 1000, backoff: { type: 'jitter', delayMs: 250, maxMs: 60_000 }, timeoutMs: 0, mode: 'debounce' });
    expect(normalizeEnqueue({ name: 'q', opts: { priority: undefined } })).toMatchObject({ queue: 'q', payload: null, priority: 0, key: null, mode: null });
  });

  it('refuses each bad field by path, all of them in one message, where the API schema refuses too', () => {
    const bad = { priority: 1.5, delay: '', runAt: {}, maxAttempts: 0, timeout: -1, key: '', mode: 'merge', concurrencyKey: 7, id: 'i'.repeat(201), backoff: { type: 'linear' } };
    expect(enqueueOptionsSchema.safeParse(bad).success).toBe(false);
    const m = refusal({ name: 'q', opts: bad });
    for (const field of ['priority', 'delay', 'runAt', 'maxAttempts', 'timeout', 'key', 'mode', 'concurrencyKey', 'id', 'backoff.type', 'backoff.delay']) {
      expect(m).toContain(`job.opts.${field}: `);
    }
    expect(m).toMatch(/^this\.jobs\.enqueue: job\.opts\.priority: must be a whole number \(got 1\.5\); /);
    expect(m).toContain('job.opts.mode: must be one of dedupe, replace, debounce (got "merge")');
    expect(m).toContain('job.opts.backoff.delay: is required');
  });

  it('refuses a request that is not an object, a bad queue name, unknown keys, and mode without a key', () => {
    expect(refusal('q')).toBe('this.jobs.enqueue: job: must be an object { name, payload, opts } (got a string)');
    expect(refusal({ payload: 1 })).toBe('this.jobs.enqueue: job.name: is required');
    expect(refusal({ name: 'has space' })).toMatch(/job\.name: a queue name/);
    expect(refusal({ name: 'q', pyload: 1 })).toMatch(/job: unknown option pyload; did you mean payload\?/);
    expect(refusal({ name: 'q', opts: [] })).toMatch(/job\.opts: must be an object \(got a list\)/);
    expect(refusal({ name: 'q', opts: { mode: 'replace' } })).toMatch(/mode 'replace' needs a key/);
    expect(refusal({ name: 'q', payload: { n: 1n } })).toMatch(/must be JSON-serialisable/);
  });
});

describe('@job options check', () => {
  it('accepts valid options and names each bad one', () => {
    expect(checkHandlerOptions({ concurrency: 4, keyConcurrency: 1, rateLimit: '100/min', keyRateLimit: '5/10s', maxAttempts: 5, backoff: { type: 'fixed', delay: '1s', max: 5000 }, timeout: '30s', retention: 0, lease: '10s' })).toEqual([]);
    expect(checkHandlerOptions({ concurrency: 0, rateLimit: 'lots', backoff: { type: 'fixed' }, timeout: true })).toEqual([
      'concurrency: must be between 1 and 10000 (got 0)',
      `rateLimit: rate limit "lots" is not of the form COUNT/PERIOD, e.g. '100/min', '10/s', '5/10s' or '1000/hour'`,
      "timeout: must be a duration such as '10s' or a number of milliseconds (got a boolean)",
      'backoff.delay: is required',
    ]);
    expect(checkHandlerOptions({ backoff: { type: 'fixed', delay: 1, dealy: 2 } })).toEqual(['backoff: unknown option dealy; did you mean delay?']);
    // A string duration that does not parse is caught when the policy is resolved.
    expect(checkHandlerOptions({ timeout: 'soon' })).toHaveLength(1);
  });
});
