// Per-agent rate limits (seed 003 §11): token buckets holding a minute's worth of calls that refill
// continuously, so a burst up to the limit passes and the sustained rate is the limit per minute.
import type { AgentConfig } from '../../config/types.js';
import { OpenClawError } from '../../util/errors.js';
import type { RateLimitsConfig } from './config.js';

export const LIMIT_KEYS = ['api_calls_per_minute', 'events_per_minute', 'state_writes_per_minute'] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];

/** The limits of one agent; a missing key means unlimited. */
export type AgentLimits = Partial<Record<LimitKey, number>>;

const WHAT: Record<LimitKey, string> = {
  api_calls_per_minute: 'HTTP calls (this.http and openclaw/tools clients)',
  events_per_minute: 'events emitted (this.emit)',
  state_writes_per_minute: 'state writes (this.state.set/delete)',
};

export class RateLimitedError extends OpenClawError {
  readonly limit: LimitKey;
  readonly value: number;
  readonly retryAfterMs: number;
  constructor(agent: string, limit: LimitKey, value: number, retryAfterMs: number, call: string, scope = '') {
    const secs = Math.max(0.001, retryAfterMs / 1000);
    super(
      'rate_limited',
      `agent '${agent}' reached its ${limit} limit of ${value} ${WHAT[limit]}${scope}: ${call} was refused; capacity frees in ${secs < 10 ? secs.toFixed(2) : Math.ceil(secs)}s. ` +
        `To raise it, set agents.${agent}.resources.${limit} (or security.rate_limits.default.${limit} for every agent) in openclaw.yaml`,
      { status: 429, details: { agent, limit, value, retryAfterMs } },
    );
    this.limit = limit;
    this.value = value;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A token bucket: `capacity` tokens, refilled at capacity per minute. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.last = now();
    this.perMs = capacity / 60_000;
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.perMs);
    this.last = Math.max(this.last, t);
  }

  /** Takes `n` tokens, or none and returns the milliseconds until `n` are available. */
  take(n = 1): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill();
    if (this.tokens >= n) {
      this.tokens -= n;
      return { ok: true };
    }
    if (n > this.capacity) return { ok: false, retryAfterMs: Math.ceil((n - this.tokens) / this.perMs) };
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil((n - this.tokens) / this.perMs)) };
  }
}

/** The limits of every key for one agent (or one replica of it). */
export class LimitSet {
  private readonly buckets = new Map<LimitKey, TokenBucket>();

  constructor(
    readonly agent: string,
    readonly limits: AgentLimits,
    now: () => number = Date.now,
    private readonly scope = '',
  ) {
    for (const key of LIMIT_KEYS) {
      const v = limits[key];
      if (v !== undefined) this.buckets.set(key, new TokenBucket(v, now));
    }
  }

  has(key: LimitKey): boolean {
    return this.buckets.has(key);
  }

  /** Takes `n` from the limit, or throws RateLimitedError naming the call. */
  take(key: LimitKey, call: string, n = 1): void {
    const b = this.buckets.get(key);
    if (!b || n <= 0) return;
    const r = b.take(n);
    if (!r.ok) throw new RateLimitedError(this.agent, key, b.capacity, r.retryAfterMs, call, this.scope);
  }
}

/** An agent's limits: its `resources:` keys over `security.rate_limits.default`. */
export function limitsFor(agent: Pick<AgentConfig, 'resources'>, rateLimits: RateLimitsConfig | undefined): AgentLimits {
  const d = rateLimits?.default ?? {};
  const r = agent.resources;
  const out: AgentLimits = {};
  const api = r.apiCallsPerMinute ?? d.api_calls_per_minute;
  const events = r.eventsPerMinute ?? d.events_per_minute;
  const writes = r.stateWritesPerMinute ?? d.state_writes_per_minute;
  if (api !== undefined) out.api_calls_per_minute = api;
  if (events !== undefined) out.events_per_minute = events;
  if (writes !== undefined) out.state_writes_per_minute = writes;
  return out;
}
