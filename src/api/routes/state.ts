// Agent state: read (current or at a version), list versions, roll back, and write from outside a
// run (command agents, which reach their state only through this API).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ControlPlane } from '../../daemon/control.js';
import { defineRoute, LARGE_BODY_LIMIT } from '../route.js';
import { agentParams, limitQuery, stateVersion } from '../params.js';

const getStateQuery = z.object({ version: stateVersion.optional() });

const rollbackBody = z.object({ version: stateVersion }).strict();

const stateWrite = z
  .object({
    key: z.string().min(1, 'must not be empty').max(1024),
    value: z.unknown().optional(),
    deleted: z.boolean().optional(),
    ttlMs: z.number().int().positive().optional(),
  })
  .strict()
  .refine((w) => w.deleted === true || w.value !== undefined, { message: 'give a value, or deleted: true to delete the key' });

const writeStateBody = z.object({ writes: z.array(stateWrite).min(1, 'must hold at least one write').max(10_000) }).strict();

export function stateRoutes(app: FastifyInstance, control: ControlPlane): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/agents/:name/state',
    permission: 'state:read',
    params: agentParams,
    query: getStateQuery,
    handler: ({ params, query }) => control.getState(params.name, query.version === undefined ? undefined : { version: query.version }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/agents/:name/state/versions',
    permission: 'state:read',
    params: agentParams,
    query: limitQuery,
    handler: async ({ params, query }) => ({ versions: await control.listStateVersions(params.name, { limit: query.limit }) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/agents/:name/state/rollback',
    permission: 'state:write',
    params: agentParams,
    body: rollbackBody,
    handler: async ({ params, body }) => {
      const { version } = await control.rollbackState(params.name, body.version);
      return { agent: params.name, rolledBackTo: body.version, version };
    },
  });

  defineRoute(app, {
    method: 'PUT',
    url: '/api/agents/:name/state',
    permission: 'state:write',
    bodyLimit: LARGE_BODY_LIMIT,
    params: agentParams,
    body: writeStateBody,
    handler: async ({ params, body }) => {
      const { version } = await control.writeState(params.name, body.writes);
      return { agent: params.name, version };
    },
  });
}
