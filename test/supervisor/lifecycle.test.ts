import { describe, expect, it } from 'vitest';
import type { RestartPolicyConfig } from '../../src/config/types.js';
import {
  LIFECYCLE_STATUSES,
  admitsWork,
  initialInstanceState,
  transition,
  type Effect,
  type InstanceState,
  type LifecycleEvent,
  type LifecycleEventType,
  type LifecycleStatus,
} from '../../src/supervisor/index.js';
import { InvalidStateTransitionError } from '../../src/util/errors.js';

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

/** seed 003 defaults, with an intensity window wide enough not to interfere unless a test says so. */
const seedPolicy: RestartPolicyConfig = {
  backoff: 'exponential',
  initialDelayMs: 5 * S,
  maxDelayMs: 300 * S,
  maxRetries: 10,
  resetAfterMs: HOUR,
  intensity: { maxRestarts: 100, windowMs: MIN },
};

const EVENTS: Record<LifecycleEventType, LifecycleEvent> = {
  start: { type: 'start' },
  setup_ok: { type: 'setup_ok' },
  setup_failed: { type: 'setup_failed', error: 'database unreachable' },
  crashed: { type: 'crashed', reason: 'exit', message: 'exited with code 1', exitCode: 1 },
  probe_failed: { type: 'probe_failed', kind: 'liveness', message: 'no heartbeat for 90s' },
  pause: { type: 'pause' },
  resume: { type: 'resume' },
  stop: { type: 'stop' },
  stopped: { type: 'stopped' },
  retry_due: { type: 'retry_due' },
  healthy_tick: { type: 'healthy_tick' },
  restart: { type: 'restart' },
};

/** Drives a state through events, checking each is valid; returns the final state and all effects. */
function drive(events: Array<LifecycleEventType | LifecycleEvent>, options: { policy?: RestartPolicyConfig; state?: InstanceState; now?: number; step?: number } = {}) {
  const policy = options.policy ?? seedPolicy;
  let now = options.now ?? 1_000_000;
  let state = options.state ?? initialInstanceState(now);
  const effects: Effect[] = [];
  for (const e of events) {
    const event = typeof e === 'string' ? EVENTS[e] : e;
    const result = transition(state, event, policy, now);
    const rejected = result.effects.find((x) => x.type === 'invalid');
    if (rejected) throw new Error(`drive: ${event.type} rejected in ${state.status}: ${rejected.type === 'invalid' ? rejected.message : ''}`);
    state = result.state;
    effects.push(...result.effects);
    now += options.step ?? S;
  }
  return { state, effects, now };
}

/** One reachable state per status, built by real transitions. */
function stateIn(status: LifecycleStatus): InstanceState {
  switch (status) {
    case 'stopped':
      return initialInstanceState(0);
    case 'initializing':
      return drive(['start']).state;
    case 'running':
      return drive(['start', 'setup_ok']).state;
    case 'paused':
      return drive(['start', 'setup_ok', 'pause']).state;
    case 'error':
      return drive(['start', 'setup_ok', 'crashed']).state;
    case 'stopping':
      return drive(['start', 'setup_ok', 'stop']).state;
    case 'crash_loop':
      return drive(['start', 'setup_ok', 'crashed'], { policy: { ...seedPolicy, intensity: { maxRestarts: 0, windowMs: MIN } } }).state;
  }
}

type Expected = 'invalid' | 'noop' | [LifecycleStatus, Effect['type'][]];
const I = 'invalid' as const;
const N = 'noop' as const;

// Every (status × event) pair: the resulting status and the effect types, in order.
const TABLE: Record<LifecycleStatus, Record<LifecycleEventType, Expected>> = {
  initializing: {
    start: I,
    setup_ok: ['running', ['record']],
    setup_failed: ['error', ['record', 'kill', 'schedule_retry']],
    crashed: ['error', ['record', 'schedule_retry']],
    probe_failed: ['error', ['record', 'kill', 'schedule_retry']],
    pause: ['initializing', ['record']],
    resume: I,
    stop: ['stopping', ['record', 'teardown']],
    stopped: I,
    retry_due: I,
    healthy_tick: N,
    restart: ['stopping', ['record', 'teardown']],
  },
  running: {
    start: I,
    setup_ok: I,
    setup_failed: I,
    crashed: ['error', ['record', 'schedule_retry']],
    probe_failed: ['error', ['record', 'kill', 'schedule_retry']],
    pause: ['paused', ['record']],
    resume: I,
    stop: ['stopping', ['record', 'teardown']],
    stopped: I,
    retry_due: I,
    healthy_tick: N,
    restart: ['stopping', ['record', 'teardown']],
  },
  paused: {
    start: I,
    setup_ok: I,
    setup_failed: I,
    crashed: ['error', ['record', 'schedule_retry']],
    probe_failed: ['error', ['record', 'kill', 'schedule_retry']],
    pause: I,
    resume: ['running', ['record']],
    stop: ['stopping', ['record', 'teardown']],
    stopped: I,
    retry_due: I,
    healthy_tick: N,
    restart: ['stopping', ['record', 'teardown']],
  },
  error: {
    start: ['initializing', ['record', 'cancel_retry', 'spawn']],
    setup_ok: I,
    setup_failed: I,
    crashed: I,
    probe_failed: I,
    pause: ['error', ['record']],
    resume: I,
    stop: ['stopped', ['record', 'cancel_retry']],
    stopped: I,
    retry_due: ['initializing', ['record', 'spawn']],
    healthy_tick: N,
    restart: ['initializing', ['record', 'cancel_retry', 'spawn']],
  },
  stopping: {
    start: ['stopping', ['record']],
    setup_ok: I,
    setup_failed: I,
    crashed: ['stopped', ['record']],
    probe_failed: I,
    pause: I,
    resume: I,
    stop: I,
    stopped: ['stopped', ['record']],
    retry_due: I,
    healthy_tick: N,
    restart: ['stopping', ['record']],
  },
  stopped: {
    start: ['initializing', ['record', 'spawn']],
    setup_ok: I,
    setup_failed: I,
    crashed: I,
    probe_failed: I,
    pause: I,
    resume: I,
    stop: I,
    stopped: I,
    retry_due: I,
    healthy_tick: N,
    restart: ['initializing', ['record', 'spawn']],
  },
  crash_loop: {
    start: ['initializing', ['record', 'spawn']],
    setup_ok: I,
    setup_failed: I,
    crashed: I,
    probe_failed: I,
    pause: I,
    resume: I,
    stop: ['stopped', ['record']],
    stopped: I,
    retry_due: I,
    healthy_tick: N,
    restart: ['initializing', ['record', 'spawn']],
  },
};

describe('transition table (status × event)', () => {
  const rows = LIFECYCLE_STATUSES.flatMap((status) =>
    (Object.keys(EVENTS) as LifecycleEventType[]).map((event) => [status, event, TABLE[status][event]] as const),
  );

  it('covers every status and every event', () => {
    expect(rows).toHaveLength(7 * 12);
    for (const status of LIFECYCLE_STATUSES) expect(stateIn(status).status).toBe(status);
  });

  it.each(rows)('%s + %s', (status, eventType, expected) => {
    const before = stateIn(status);
    const { state, effects } = transition(before, EVENTS[eventType], seedPolicy, before.since + S);
    if (expected === 'invalid') {
      expect(state).toBe(before);
      expect(effects).toHaveLength(1);
      const [effect] = effects;
      expect(effect).toMatchObject({ type: 'invalid', action: eventType, status });
      expect(effect.type === 'invalid' && effect.message.length).toBeGreaterThan(10);
    } else if (expected === 'noop') {
      expect(state).toBe(before);
      expect(effects).toEqual([]);
    } else {
      const [to, types] = expected;
      expect(state.status).toBe(to);
      expect(effects.map((e) => e.type)).toEqual(types);
      // Every transition records itself first, with a reason.
      expect(effects[0]).toMatchObject({ type: 'record', from: status, to });
      expect(effects[0].type === 'record' && effects[0].reason).toBeTruthy();
      expect(state.reason).toBe(effects[0].type === 'record' ? effects[0].reason : '');
    }
  });
});

describe('restart policy sequences', () => {
  /** Crash the running instance `times` times, retrying each time; returns the retry delays. */
  function crashRepeatedly(policy: RestartPolicyConfig, times: number) {
    let { state, now } = drive(['start', 'setup_ok'], { policy });
    const delays: number[] = [];
    for (let i = 0; i < times; i++) {
      const crash = transition(state, EVENTS.crashed, policy, now);
      state = crash.state;
      const retry = crash.effects.find((e) => e.type === 'schedule_retry');
      if (!retry || retry.type !== 'schedule_retry') return { state, delays, last: crash };
      delays.push(retry.delayMs);
      now += retry.delayMs;
      state = drive(['retry_due', 'setup_ok'], { policy, state, now }).state;
      now += 2 * S;
    }
    return { state, delays, last: null };
  }

  it('restarts a crashed agent after the seed exponential delays 5, 10, 20, 40, 80, 160, 300, 300 s', () => {
    const { delays } = crashRepeatedly(seedPolicy, 8);
    expect(delays.map((d) => d / S)).toEqual([5, 10, 20, 40, 80, 160, 300, 300]);
  });

  it('linear and immediate backoff', () => {
    expect(crashRepeatedly({ ...seedPolicy, backoff: 'linear', initialDelayMs: 2 * S, maxDelayMs: 7 * S }, 5).delays.map((d) => d / S)).toEqual([2, 4, 6, 7, 7]);
    expect(crashRepeatedly({ ...seedPolicy, backoff: 'immediate' }, 3).delays).toEqual([0, 0, 0]);
  });

  it('error state says when the retry is due and why', () => {
    const { state, effects } = drive(['start', 'setup_ok', 'crashed'], { now: 0, step: S });
    expect(state.retryAt).toBe(2 * S + 5 * S);
    expect(state.attempt).toBe(1);
    expect(state.lastError).toMatchObject({ kind: 'crashed', reason: 'exit', message: 'exited with code 1' });
    expect(state.reason).toBe('crashed (exit): exited with code 1; retry 1 of 10 in 5s');
    expect(effects.at(-1)).toEqual({ type: 'schedule_retry', delayMs: 5 * S, attempt: 1 });
  });

  it('stops with "max retries exceeded" after maxRetries failed restarts', () => {
    const policy = { ...seedPolicy, maxRetries: 3 };
    const { state, delays, last } = crashRepeatedly(policy, 4);
    expect(delays).toHaveLength(3);
    expect(state.status).toBe('stopped');
    expect(state.reason).toMatch(/^max retries exceeded \(3\); last failure: crashed \(exit\)/);
    expect(last?.effects.map((e) => e.type)).toEqual(['record']);
    // An explicit start gives it a fresh set of retries.
    const restarted = transition(state, EVENTS.start, policy, 10 * HOUR);
    expect(restarted.state).toMatchObject({ status: 'initializing', attempt: 0, restartTimes: [] });
  });

  it('counts setup failures as failures too, killing what is left of the instance', () => {
    const policy = { ...seedPolicy, maxRetries: 1 };
    const first = drive(['start', 'setup_failed'], { policy });
    expect(first.state.status).toBe('error');
    expect(first.effects).toContainEqual({ type: 'kill', reason: 'setup failed: database unreachable' });
    const second = drive(['retry_due', 'setup_failed'], { policy, state: first.state });
    expect(second.state.status).toBe('stopped');
    expect(second.state.reason).toMatch(/^max retries exceeded/);
  });

  it('resets the retry counter after resetAfterMs of continuous healthy running', () => {
    const { state: crashed3 } = crashRepeatedly(seedPolicy, 3);
    expect(crashed3.attempt).toBe(3);
    const upSince = crashed3.aliveSince!;
    const early = transition(crashed3, EVENTS.healthy_tick, seedPolicy, upSince + HOUR - 1);
    expect(early.effects).toEqual([]);
    expect(early.state.attempt).toBe(3);
    const reset = transition(crashed3, EVENTS.healthy_tick, seedPolicy, upSince + HOUR);
    expect(reset.state.attempt).toBe(0);
    expect(reset.effects).toEqual([{ type: 'record', from: 'running', to: 'running', reason: 'healthy for 1h: retry counter reset' }]);
    // The next crash starts the backoff over at 5s.
    const crash = transition(reset.state, EVENTS.crashed, seedPolicy, upSince + HOUR + 1);
    expect(crash.effects).toContainEqual({ type: 'schedule_retry', delayMs: 5 * S, attempt: 1 });
  });

  it('a crash breaks the healthy period: time before it does not count towards the reset', () => {
    const policy = { ...seedPolicy, resetAfterMs: 10 * MIN };
    let { state, now } = drive(['start', 'setup_ok', 'crashed'], { policy, now: 0 });
    now += 8 * MIN;
    state = drive(['retry_due', 'setup_ok'], { policy, state, now }).state; // up at 8m+1s
    const upSince = state.aliveSince!;
    expect(upSince).toBeGreaterThan(8 * MIN);
    // 10 minutes after the first start, but not 10 minutes after the latest one.
    expect(transition(state, EVENTS.healthy_tick, policy, 12 * MIN).effects).toEqual([]);
    expect(transition(state, EVENTS.healthy_tick, policy, upSince + 10 * MIN).state.attempt).toBe(0);
  });

  it('trips the crash-loop breaker on more than intensity.maxRestarts restarts within the window', () => {
    const policy: RestartPolicyConfig = { ...seedPolicy, backoff: 'immediate', intensity: { maxRestarts: 3, windowMs: MIN } };
    const { state, delays, last } = crashRepeatedly(policy, 4);
    expect(delays).toEqual([0, 0, 0]);
    expect(state.status).toBe('crash_loop');
    expect(state.reason).toMatch(/^crash loop: more than 3 restarts in 1m/);
    expect(last?.effects.map((e) => e.type)).toEqual(['record']);
    // No automatic restart while the breaker is open …
    expect(transition(state, EVENTS.retry_due, policy, state.since + MIN).effects[0].type).toBe('invalid');
    // … until an explicit start or restart.
    expect(transition(state, EVENTS.restart, policy, state.since + S).state).toMatchObject({ status: 'initializing', attempt: 0, restartTimes: [] });
  });

  it('restarts spread wider than the window do not trip the breaker', () => {
    const policy: RestartPolicyConfig = { ...seedPolicy, backoff: 'linear', initialDelayMs: 30 * S, maxDelayMs: 30 * S, intensity: { maxRestarts: 2, windowMs: MIN } };
    const { state, delays } = crashRepeatedly(policy, 6);
    expect(delays).toHaveLength(6);
    expect(state.status).toBe('running');
  });

  it('exit code 78 (configuration invalid) stops without restarting', () => {
    const { state, effects } = drive(['start', 'setup_ok', { type: 'crashed', reason: 'exit', message: 'bad config', exitCode: 78 }]);
    expect(state.status).toBe('stopped');
    expect(state.reason).toMatch(/configuration is invalid \(exit code 78\)/);
    expect(effects.some((e) => e.type === 'schedule_retry')).toBe(false);
  });

  it('a liveness failure kills the instance and retries it', () => {
    const { state, effects } = drive(['start', 'setup_ok', 'probe_failed']);
    expect(state.status).toBe('error');
    expect(effects.slice(-3).map((e) => e.type)).toEqual(['record', 'kill', 'schedule_retry']);
    expect(state.lastError).toMatchObject({ kind: 'liveness', message: 'no heartbeat for 90s' });
  });
});

describe('pause and resume', () => {
  it('pauses and resumes a running instance; only running admits work', () => {
    const running = drive(['start', 'setup_ok']).state;
    expect(admitsWork(running)).toBe(true);
    const paused = drive(['pause'], { state: running }).state;
    expect(paused.status).toBe('paused');
    expect(admitsWork(paused)).toBe(false);
    expect(drive(['resume'], { state: paused }).state.status).toBe('running');
  });

  it('an instance that crashes while paused comes back paused', () => {
    const { state } = drive(['start', 'setup_ok', 'pause', 'crashed', 'retry_due', 'setup_ok']);
    expect(state.status).toBe('paused');
  });

  it('a pause asked for during setup takes effect when setup completes; resume cancels it', () => {
    expect(drive(['start', 'pause', 'setup_ok']).state.status).toBe('paused');
    expect(drive(['start', 'pause', 'resume', 'setup_ok']).state.status).toBe('running');
  });

  it('paused time counts as alive for the retry-counter reset', () => {
    const { state } = drive(['start', 'setup_ok', 'crashed', 'retry_due', 'setup_ok', 'pause'], { now: 0 });
    expect(transition(state, EVENTS.healthy_tick, seedPolicy, state.aliveSince! + HOUR).state.attempt).toBe(0);
  });

  it('rejects resume while running with a message the API can show', () => {
    const running = drive(['start', 'setup_ok']).state;
    const { state, effects } = transition(running, EVENTS.resume, seedPolicy, 0);
    expect(state).toBe(running);
    expect(effects).toEqual([{ type: 'invalid', action: 'resume', status: 'running', message: 'cannot resume while running: it is not paused' }]);
    const effect = effects[0];
    if (effect.type !== 'invalid') throw new Error('expected invalid');
    const error = new InvalidStateTransitionError('monitor', effect.action, effect.status);
    expect(error.code).toBe('invalid_transition');
    expect(error.status).toBe(409);
  });
});

describe('stop and restart', () => {
  it('stop from every status ends stopped (through teardown where an instance runs)', () => {
    for (const status of LIFECYCLE_STATUSES) {
      let state = stateIn(status);
      const stop = transition(state, EVENTS.stop, seedPolicy, 5 * S);
      state = stop.state;
      if (state.status === 'stopping') {
        // Already stopping: the second stop is rejected, teardown is under way.
        expect(stop.effects.map((e) => e.type)).toContain(status === 'stopping' ? 'invalid' : 'teardown');
        state = transition(state, EVENTS.stopped, seedPolicy, 6 * S).state;
      }
      expect([status, state.status]).toEqual([status, 'stopped']);
    }
  });

  it('stop carries its reason into the record', () => {
    const running = drive(['start', 'setup_ok']).state;
    expect(transition(running, { type: 'stop', reason: 'daemon shutdown' }, seedPolicy, 0).effects[0]).toEqual({
      type: 'record',
      from: 'running',
      to: 'stopping',
      reason: 'daemon shutdown',
    });
  });

  it('stopping an instance waiting to retry cancels the retry', () => {
    const { state, effects } = drive(['start', 'setup_ok', 'crashed', 'stop']);
    expect(state.status).toBe('stopped');
    expect(effects.at(-1)).toEqual({ type: 'cancel_retry' });
    // A retry timer that fires anyway is ignored.
    expect(transition(state, EVENTS.retry_due, seedPolicy, 0).effects[0]).toMatchObject({ type: 'invalid', action: 'retry_due' });
  });

  it('restart tears down, then spawns, with a fresh retry counter', () => {
    const crashedOnce = drive(['start', 'setup_ok', 'crashed', 'retry_due', 'setup_ok']).state;
    expect(crashedOnce.attempt).toBe(1);
    const { state, effects } = drive(['restart', 'stopped'], { state: crashedOnce });
    expect(state).toMatchObject({ status: 'initializing', attempt: 0 });
    expect(effects.map((e) => e.type)).toEqual(['record', 'teardown', 'record', 'spawn']);
  });

  it('a crash during teardown completes the stop (or the pending restart)', () => {
    expect(drive(['start', 'setup_ok', 'stop', 'crashed']).state.status).toBe('stopped');
    const restarting = drive(['start', 'setup_ok', 'restart', 'crashed']);
    expect(restarting.state.status).toBe('initializing');
    expect(restarting.effects.at(-1)).toEqual({ type: 'spawn' });
  });

  it('stop during a restart cancels the pending start; start during a stop schedules one', () => {
    expect(drive(['start', 'setup_ok', 'restart', 'stop', 'stopped']).state.status).toBe('stopped');
    expect(drive(['start', 'setup_ok', 'stop', 'start', 'stopped']).state.status).toBe('initializing');
    const pending = drive(['start', 'setup_ok', 'stop', 'start']).state;
    expect(transition(pending, EVENTS.restart, seedPolicy, 0).effects[0]).toMatchObject({ type: 'invalid' });
  });

  it('does not count explicit restarts towards the crash-loop breaker', () => {
    const policy: RestartPolicyConfig = { ...seedPolicy, intensity: { maxRestarts: 1, windowMs: HOUR } };
    const { state } = drive(['start', 'setup_ok', 'restart', 'stopped', 'setup_ok', 'restart', 'stopped', 'setup_ok', 'crashed'], { policy });
    expect(state.status).toBe('error');
  });
});

describe('records', () => {
  it('every status change yields exactly one record, first, naming from, to and reason', () => {
    const { effects } = drive(['start', 'setup_ok', 'pause', 'resume', 'crashed', 'retry_due', 'setup_ok', 'restart', 'stopped', 'setup_ok', 'stop', 'stopped']);
    const records = effects.filter((e) => e.type === 'record');
    expect(records.map((r) => (r.type === 'record' ? `${r.from}→${r.to}` : ''))).toEqual([
      'stopped→initializing',
      'initializing→running',
      'running→paused',
      'paused→running',
      'running→error',
      'error→initializing',
      'initializing→running',
      'running→stopping',
      'stopping→initializing',
      'initializing→running',
      'running→stopping',
      'stopping→stopped',
    ]);
  });

  it('since changes only when the status changes', () => {
    const running = drive(['start', 'setup_ok'], { now: 0 }).state;
    expect(running.since).toBe(S);
    const reset = transition({ ...running, attempt: 2 }, EVENTS.healthy_tick, seedPolicy, 2 * HOUR).state;
    expect(reset.since).toBe(S);
  });
});
