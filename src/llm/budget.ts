// Which buckets a call draws from, and the errors when one is full.
//
// USD budgets (global, agent:NAME, key:ID and an SDK LLMRouter's own scope) have daily and monthly
// windows on calendar boundaries of the configured time zone. Token limits: llm_tokens_per_hour and
// tokens per minute per agent, tokens per minute per key, per session (lifetime of the session id)
// and per user (per day). The ledger (ledger.ts) reserves them all in one transaction.
import { OpenClawError } from '../util/errors.js';
import type { LlmConfig } from './config.js';
import { fromNano, toNano, type BucketCheck, type Refusal } from './ledger.js';

export interface Calendar {
  day: { win: string; resetsAt: number };
  month: { win: string; resetsAt: number };
}

// Intl formatters are expensive to build: one per time zone, and one calendar per zone reused until
// its day ends.
const dayFormats = new Map<string, Intl.DateTimeFormat>();
const clockFormats = new Map<string, Intl.DateTimeFormat>();
const calendars = new Map<string, { from: number; cal: Calendar }>();

function parts(ms: number, tz: string): { y: number; m: number; d: number } {
  let f = dayFormats.get(tz);
  if (!f) dayFormats.set(tz, (f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })));
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day) };
}

/** Offset of `tz` from UTC at instant `ms`, in ms (local wall clock − UTC). */
function offset(ms: number, tz: string): number {
  let f = clockFormats.get(tz);
  if (!f) clockFormats.set(tz, (f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })));
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The UTC instant of local midnight starting y-m-d in tz (months and days may overflow). */
function localMidnight(y: number, m: number, d: number, tz: string): number {
  const guess = Date.UTC(y, m - 1, d);
  let t = guess - offset(guess, tz);
  t = guess - offset(t, tz);
  return t;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function calendar(now: number, tz: string): Calendar {
  const hit = calendars.get(tz);
  if (hit && now >= hit.from && now < hit.cal.day.resetsAt) return hit.cal;
  const { y, m, d } = parts(now, tz);
  const cal = {
    day: { win: `d:${y}-${pad(m)}-${pad(d)}`, resetsAt: localMidnight(y, m, d + 1, tz) },
    month: { win: `m:${y}-${pad(m)}`, resetsAt: localMidnight(y, m + 1, 1, tz) },
  };
  // Valid from this day's local midnight (not before: a clock set back must recompute).
  calendars.set(tz, { from: localMidnight(y, m, d, tz), cal });
  return cal;
}

/** A USD budget: daily and/or monthly limits and the alert threshold. */
export interface UsdBudget {
  daily_limit_usd?: number | undefined;
  monthly_limit_usd?: number | undefined;
  alert_at_pct?: number | undefined;
}

export interface CallScope {
  agent?: string | null;
  /** The agent run that made the call (an agent's RPC names it): the usage row's run_id. */
  runId?: string | null;
  keyId?: string | null;
  /** An SDK LLMRouter's own budget: scope 'router:AGENT/NAME'. */
  router?: { scope: string; budget: UsdBudget } | null;
  key?: { budget: UsdBudget; tpm: number | null } | null;
  session?: string | null;
  user?: string | null;
}

/** Slot length of the tokens-per-minute window: the window slides in steps of one second. */
const TPM_SLOT_MS = 1000;
const TPM_WINDOW_MS = 60_000;

/**
 * Tokens per minute over the LAST 60 SECONDS, not per clock minute: a clock-minute bucket lets a
 * caller spend the limit at 12:00:59 and again at 12:01:00 (twice the rate). Each call is counted in
 * the one-second slot it was made in, and the limit applies to the sum of the last 60 slots (one
 * indexed range read in the reservation transaction). `resetsAt` is when this call's slot leaves
 * the window (the latest moment everything in flight now has aged out).
 */
function slidingWindow(now: number): { win: string; slidingFrom: string; resetsAt: number } {
  const slot = Math.floor(now / TPM_SLOT_MS);
  const pad = (n: number) => `tpm:${String(n).padStart(12, '0')}`;
  return { win: pad(slot), slidingFrom: pad(slot - TPM_WINDOW_MS / TPM_SLOT_MS + 1), resetsAt: (slot + 1) * TPM_SLOT_MS + TPM_WINDOW_MS - TPM_SLOT_MS };
}

export function budgetChecks(cfg: LlmConfig, scope: CallScope, costUsd: number, tokens: number, now: number): BucketCheck[] {
  const cal = calendar(now, cfg.budgets.timezone);
  const out: BucketCheck[] = [];
  const nano = toNano(costUsd);
  const usd = (name: string, label: string, b: UsdBudget | undefined) => {
    if (!b) return;
    const alertAtPct = b.alert_at_pct ?? 80;
    if (b.daily_limit_usd !== undefined) out.push({ scope: name, win: cal.day.win, unit: 'usd', amount: nano, limit: toNano(b.daily_limit_usd), resetsAt: cal.day.resetsAt, label: `daily budget of ${label}`, kind: 'budget', alertAtPct });
    if (b.monthly_limit_usd !== undefined) out.push({ scope: name, win: cal.month.win, unit: 'usd', amount: nano, limit: toNano(b.monthly_limit_usd), resetsAt: cal.month.resetsAt, label: `monthly budget of ${label}`, kind: 'budget', alertAtPct });
  };
  usd('global', 'the project (llm.budgets.global)', cfg.budgets.global);
  let perMinuteWin: ReturnType<typeof slidingWindow> | undefined;
  const perMinute = () => (perMinuteWin ??= slidingWindow(now));
  const hour = Math.floor(now / 3_600_000);
  if (scope.agent) {
    const a = cfg.budgets.per_agent[scope.agent];
    usd(`agent:${scope.agent}`, `agent '${scope.agent}'`, a);
    const perHour = a?.llm_tokens_per_hour;
    if (perHour !== undefined) out.push({ scope: `agent:${scope.agent}`, win: `h:${hour}`, unit: 'tok', amount: tokens, limit: perHour, resetsAt: (hour + 1) * 3_600_000, label: `llm_tokens_per_hour of agent '${scope.agent}'`, kind: 'tokens' });
    const tpm = a?.tokens_per_minute ?? cfg.limits.tokens_per_minute;
    if (tpm !== undefined) out.push({ scope: `agent:${scope.agent}`, ...perMinute(), unit: 'tok', amount: tokens, limit: tpm, label: `tokens per minute of agent '${scope.agent}'`, kind: 'rate' });
  }
  if (scope.keyId && scope.key) {
    usd(`key:${scope.keyId}`, `key ${scope.keyId}`, scope.key.budget);
    if (scope.key.tpm !== null) out.push({ scope: `key:${scope.keyId}`, ...perMinute(), unit: 'tok', amount: tokens, limit: scope.key.tpm, label: `tokens per minute of key ${scope.keyId}`, kind: 'rate' });
  }
  if (scope.router) usd(scope.router.scope, `LLMRouter '${scope.router.scope.slice('router:'.length)}'`, scope.router.budget);
  if (scope.session && cfg.limits.per_session_tokens !== undefined) {
    out.push({ scope: `session:${scope.session}`, win: 'all', unit: 'tok', amount: tokens, limit: cfg.limits.per_session_tokens, resetsAt: now + 30 * 86_400_000, label: `per_session_tokens of session '${scope.session}'`, kind: 'tokens' });
  }
  if (scope.user && cfg.limits.per_user_tokens !== undefined) {
    out.push({ scope: `user:${scope.user}`, win: cal.day.win, unit: 'tok', amount: tokens, limit: cfg.limits.per_user_tokens, resetsAt: cal.day.resetsAt, label: `per_user_tokens of user '${scope.user}'`, kind: 'tokens' });
  }
  return out;
}

/** The hard stop: says which budget, what is left, and when it resets. */
export class BudgetExceededError extends OpenClawError {
  readonly refusal: Refusal;
  constructor(r: Refusal, tz: string) {
    const c = r.check;
    const resets = new Date(c.resetsAt).toISOString();
    let code: string;
    let message: string;
    if (c.kind === 'budget') {
      const remaining = Math.max(0, fromNano(c.limit - r.used - r.reserved));
      code = 'budget_exceeded';
      message =
        `LLM call refused: the ${c.label} of $${fromNano(c.limit).toFixed(2)} would be exceeded ` +
        `(spent $${fromNano(r.used).toFixed(4)}, reserved for calls in flight $${fromNano(r.reserved).toFixed(4)}, remaining $${remaining.toFixed(4)}, ` +
        `this call may cost up to $${fromNano(c.amount).toFixed(4)}); it resets at ${resets} (${tz}). Raise the limit in openclaw.yaml or lower max_tokens`;
    } else {
      const remaining = Math.max(0, c.limit - r.used - r.reserved);
      code = c.kind === 'rate' ? 'rate_limit_exceeded' : 'token_limit_exceeded';
      const when = c.kind === 'rate' ? `tokens free up as the calls of the last 60 s age out (a sliding window; all of them by ${resets})` : `it resets at ${resets}`;
      message = `LLM call refused: the ${c.label} (${c.limit} tokens) would be exceeded (used ${r.used}, in flight ${r.reserved}, remaining ${remaining}, this call needs up to ${c.amount}); ${when}`;
    }
    super(code, message, { status: 429, details: { scope: c.scope, window: c.win, limit: c.unit === 'usd' ? fromNano(c.limit) : c.limit, resetsAt: c.resetsAt } });
    this.refusal = r;
  }
}
