// Events: publish onto the bus, read the event log, and manage dead letters.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ControlPlane } from '../../daemon/control.js';
import { DEFAULT_LIMIT } from '../../store/rows.js';
import type { DeadLetter, StoredEvent } from '../../store/types.js';
import { defineRoute, type Principal } from '../route.js';
import { queryInt } from '../params.js';

const eventName = z
  .string()
  .min(1, 'must not be empty')
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "event names are letters, digits, '.', '_', ':', '/' and '-'");

const publishBody = z
  .object({
    name: eventName,
    data: z.unknown().optional(),
    /** Idempotency: publishing an id that exists is a no-op (`published: false`). */
    id: z.string().min(1, 'must not be empty').max(200).optional(),
  })
  .strict();

const listEventsQuery = z.object({
  after: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: queryInt(1, 10_000).optional(),
  name: eventName.optional(),
});

const deadLettersQuery = z.object({
  agent: z.string().min(1).max(200).optional(),
  limit: queryInt(1, 10_000).optional(),
});

const redriveBody = z
  .object({
    agent: z.string().min(1).max(200).optional(),
    ids: z.array(z.number().int().nonnegative()).min(1, 'must hold at least one id').max(10_000).optional(),
    /** Redriving everything must be asked for explicitly. */
    all: z.literal(true).optional(),
  })
  .strict()
  .refine((b) => b.agent !== undefined || b.ids !== undefined || b.all === true, {
    message: 'say what to redrive: agent, ids, or all: true',
  });

export function eventRoutes(app: FastifyInstance, control: ControlPlane): void {
  defineRoute(app, {
    method: 'POST',
    url: '/api/events',
    permission: 'events:publish',
    body: publishBody,
    // A team token publishes only its team's events and public ones (docs/security.md).
    publishes: ({ body }) => [body.name],
    status: 202,
    handler: ({ body }) => control.publishEvent(body),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/events',
    permission: 'events:read',
    query: listEventsQuery,
    handler: async ({ query, req }) => {
      const team = teamOf(req.principal);
      if (team === null) return { events: await control.listEvents({ afterSeq: query.after, limit: query.limit, name: query.name }) };
      return { events: await teamEvents(control, team, query) };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dead-letters',
    permission: 'events:read',
    query: deadLettersQuery,
    target: ({ query }) => (query.agent !== undefined ? [query.agent] : undefined),
    handler: async ({ query, req }) => {
      const team = teamOf(req.principal);
      // With `agent`, the authorizer already checked that a team token's agent is its team's.
      if (team === null || query.agent !== undefined) return { deadLetters: await control.listDeadLetters({ agent: query.agent, limit: query.limit }) };
      return { deadLetters: await teamDeadLetters(control, team, query.limit ?? DEFAULT_LIMIT) };
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dead-letters/redrive',
    permission: 'events:admin',
    body: redriveBody,
    // The handler redrives `agent`'s dead letters (with `ids`, only those of them), else the `ids`
    // (whoever's they are), else all: the target is exactly that set of agents.
    target: async ({ body }) => (body.agent !== undefined ? [body.agent] : body.ids !== undefined ? deadLetterAgents(control, body.ids) : undefined),
    handler: ({ body }) => control.redriveDeadLetters({ agent: body.agent, ids: body.ids }),
  });
}

/**
 * The agents whose dead letters these delivery ids are. An id that is no dead letter stands for
 * itself (`dead letter #N`): it belongs to no team, so a scoped caller is refused rather than
 * guessing, and an unscoped one redrives nothing for it.
 */
async function deadLetterAgents(control: ControlPlane, ids: number[]): Promise<string[]> {
  const byId = new Map((await control.listDeadLetters({ limit: MAX_DEAD_LETTER_SCAN })).map((d) => [d.deliveryId, d.consumer]));
  return [...new Set(ids.map((id) => byId.get(id) ?? `dead letter #${id}`))];
}
const MAX_DEAD_LETTER_SCAN = 1_000_000;

/** A team token's team (it sees only its agents' events and dead letters); null = every team. */
function teamOf(p: Principal | undefined): string | null {
  if (!p || p.role === 'agent' || p.role === 'local') return null;
  return p.team;
}

/**
 * A team's view of the event log: events its agents emitted (`source`) or that are delivered to
 * them (their subscriptions name the event), in log order. Pages through the log until `limit` of
 * them are found, so `after` paging works as it does unscoped.
 */
async function teamEvents(control: ControlPlane, team: string, q: { after?: number; limit?: number; name?: string }): Promise<StoredEvent[]> {
  const agents = (await control.listAgents()).filter((a) => a.owner === team);
  const names = new Set(agents.map((a) => a.name));
  const subscribed = new Set(agents.flatMap((a) => a.subscriptions));
  if (names.size === 0) return [];
  const limit = q.limit ?? DEFAULT_LIMIT;
  const batch = Math.max(limit, 1000);
  const out: StoredEvent[] = [];
  let after = q.after ?? 0;
  for (;;) {
    const page = await control.listEvents({ afterSeq: after, limit: batch, name: q.name });
    for (const e of page) {
      if ((e.source !== null && names.has(e.source)) || subscribed.has(e.name)) {
        out.push(e);
        if (out.length === limit) return out;
      }
    }
    if (page.length < batch) return out;
    after = page[page.length - 1]!.seq;
  }
}

/** A team's dead letters: those of each of its agents, oldest first like the unscoped list. */
async function teamDeadLetters(control: ControlPlane, team: string, limit: number): Promise<DeadLetter[]> {
  const agents = (await control.listAgents()).filter((a) => a.owner === team);
  const all = (await Promise.all(agents.map((a) => control.listDeadLetters({ agent: a.name, limit })))).flat();
  return all.sort((a, b) => a.deliveryId - b.deliveryId).slice(0, limit);
}
