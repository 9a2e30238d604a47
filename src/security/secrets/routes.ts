// /api/secrets: list (names, environments, versions, dates: never values), set, rotate, delete.
// A value goes in through a request body and never comes out of the API.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { defineRoute } from '../../contracts/route.js';
import type { SecretService } from './service.js';

const nameParams = z.object({ name: z.string().min(1).max(128) });
const envQuery = z.object({ env: z.string().min(1).max(63).optional() });
const valueBody = z.object({ value: z.string().min(1, 'must not be empty').max(64 * 1024), env: z.string().min(1).max(63).optional() }).strict();

export function secretRoutes(app: FastifyInstance, secrets: SecretService): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/secrets',
    permission: 'secrets:read',
    handler: async () => ({ backend: secrets.backend, env: secrets.env, secrets: await secrets.list() }),
  });

  defineRoute(app, {
    method: 'PUT',
    url: '/api/secrets/:name',
    permission: 'secrets:write',
    params: nameParams,
    body: valueBody,
    handler: ({ params, body, req }) => secrets.put('set', params.name, body.value, { env: body.env, actor: req.principal?.id ?? 'api' }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/secrets/:name/rotate',
    permission: 'secrets:write',
    params: nameParams,
    body: valueBody,
    handler: ({ params, body, req }) => secrets.put('rotate', params.name, body.value, { env: body.env, actor: req.principal?.id ?? 'api' }),
  });

  defineRoute(app, {
    method: 'DELETE',
    url: '/api/secrets/:name',
    permission: 'secrets:write',
    params: nameParams,
    query: envQuery,
    handler: ({ params, query, req }) => secrets.delete(params.name, { env: query.env, actor: req.principal?.id ?? 'api' }),
  });
}
