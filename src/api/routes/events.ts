// Events: publish onto the bus, read the event log, and manage dead letters.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ControlPlane } from '../../daemon/control.js';
import { defineRoute } from '../route.js';
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
    status: 202,
    handler: ({ body }) => control.publishEvent(body),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/events',
    permission: 'events:read',
    query: listEventsQuery,
    handler: async ({ query }) => ({
      events: await control.listEvents({ afterSeq: query.after, limit: query.limit, name: query.name }),
    }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/dead-letters',
    permission: 'events:read',
    query: deadLettersQuery,
    handler: async ({ query }) => ({ deadLetters: await control.listDeadLetters({ agent: query.agent, limit: query.limit }) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/dead-letters/redrive',
    permission: 'events:admin',
    body: redriveBody,
    handler: ({ body }) => control.redriveDeadLetters({ agent: body.agent, ids: body.ids }),
  });
}
