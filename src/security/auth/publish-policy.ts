// Which events a team token may publish (POST /api/events; issue 14, item 6): those its team's
// agents emit — declared per agent in `security.events.emits` — and those declared public
// (`security.events.public`). An event reaches every subscriber whatever its team, so a team token
// that could publish anything could drive every other team's handlers. Tokens without a team and
// agents' own tokens are not limited here.
import { z } from 'zod';

/** An event name, `prefix.*` (every name below the prefix) or `*`. */
const PATTERN = /^(\*|[A-Za-z0-9][A-Za-z0-9._:/-]*(\.\*)?)$/;

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : JSON.stringify(v));

const patternList = z.preprocess(
  (v) => (v === null || v === undefined ? [] : v),
  z.array(
    z.unknown().transform((v, ctx) => {
      if (typeof v === 'string' && PATTERN.test(v)) return v;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an event name (order.created), a prefix pattern (order.*) or * (got ${describe(v)})` });
      return z.NEVER;
    }),
    { invalid_type_error: 'must be a list of event names or patterns such as [order.created, "alerts.*"]' },
  ),
);

export const eventsSecuritySchema = z.preprocess(
  (v) => (v === null || v === undefined ? {} : v),
  z
    .object({
      /** Events every token that may publish may publish, team tokens included. */
      public: patternList,
      /** Agent → the events it emits: the tokens of the agent's owner team may publish them. */
      emits: z.preprocess((v) => (v === null || v === undefined ? {} : v), z.record(patternList, { invalid_type_error: 'must map agent names to lists of events, such as { billing: ["invoice.*"] }' })),
    })
    .strict(),
);

export type EventsSecurityConfig = z.output<typeof eventsSecuritySchema>;

export function matchesEvent(pattern: string, name: string): boolean {
  return pattern === '*' || pattern === name || (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1)));
}

/**
 * Why a team may not publish `event`, or null when it may. `ownerOf` gives an agent's team (null:
 * none; undefined: no such agent).
 */
export function publishRefusal(cfg: EventsSecurityConfig, team: string, event: string, ownerOf: (agent: string) => string | null | undefined): string | null {
  if (cfg.public.some((p) => matchesEvent(p, event))) return null;
  const emitters = Object.entries(cfg.emits).filter(([, patterns]) => patterns.some((p) => matchesEvent(p, event)));
  if (emitters.some(([agent]) => ownerOf(agent) === team)) return null;
  const others = emitters.map(([agent]) => agent);
  return (
    `it publishes only the events its team's agents emit (security.events.emits) and public events (security.events.public), and '${event}' is ` +
    (others.length > 0 ? `emitted by ${others.map((a) => `'${a}'`).join(', ')}, not by an agent of team '${team}'` : 'neither') +
    '; declare it in openclaw.yaml (security.events) or use a token without a team'
  );
}
