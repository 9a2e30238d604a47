// /api/jobs and /api/queues: enqueue (one, batch), list, show, cancel; queue stats; dead letters
// (list, re-drive). Permissions: jobs:read to look, jobs:write to enqueue and cancel, jobs:admin to
// re-drive dead letters.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { defineRoute, LARGE_BODY_LIMIT } from '../contracts/route.js';
import { queryInt } from '../contracts/params.js';
import { NotFoundError } from '../util/errors.js';
import { enqueueOptionsSchema, QUEUE_NAME } from './options.js';
import type { JobsService } from './service.js';

const queueName = z.string().regex(QUEUE_NAME, "queue names are letters, digits, '.', '_', ':' and '-' (up to 128)");
const jobBody = z.object({ name: queueName, payload: z.unknown().optional(), opts: enqueueOptionsSchema.optional() }).strict();
const idParams = z.object({ id: z.string().min(1).max(200) });
const status = z.enum(['waiting', 'delayed', 'active', 'completed', 'dead', 'cancelled']);

export function jobRoutes(app: FastifyInstance, svc: JobsService): void {
  defineRoute(app, {
    method: 'POST',
    url: '/api/jobs',
    permission: 'jobs:write',
    body: jobBody,
    status: 201,
    handler: async ({ body }) => (await svc.enqueue([body]))[0],
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/jobs/batch',
    bodyLimit: LARGE_BODY_LIMIT,
    permission: 'jobs:write',
    body: z.object({ jobs: z.array(jobBody).min(1, 'must hold at least one job').max(10_000) }).strict(),
    status: 201,
    handler: async ({ body }) => ({ jobs: await svc.enqueue(body.jobs) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/jobs',
    permission: 'jobs:read',
    query: z.object({ queue: queueName.optional(), status: status.optional(), limit: queryInt(1, 10_000).optional(), after: z.string().max(200).optional() }),
    handler: async ({ query }) => ({ jobs: await svc.store.list({ queue: query.queue, status: query.status, limit: query.limit ?? 100, after: query.after }) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/jobs/dead',
    permission: 'jobs:read',
    query: z.object({ queue: queueName.optional(), limit: queryInt(1, 10_000).optional() }),
    handler: async ({ query }) => ({ jobs: await svc.store.list({ queue: query.queue, status: 'dead', limit: query.limit ?? 100 }) }),
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/jobs/dead/redrive',
    permission: 'jobs:admin',
    body: z
      .object({ queue: queueName.optional(), ids: z.array(z.string().min(1).max(200)).min(1).max(10_000).optional(), all: z.literal(true).optional() })
      .strict()
      .refine((b) => b.queue !== undefined || b.ids !== undefined || b.all === true, { message: 'say what to re-drive: queue, ids, or all: true' }),
    handler: async ({ body }) => svc.redrive({ queue: body.queue, ids: body.ids }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/jobs/:id',
    permission: 'jobs:read',
    params: idParams,
    handler: async ({ params }) => {
      const job = await svc.store.get(params.id);
      if (!job) throw new NotFoundError('job', params.id, 'list jobs with `openclaw jobs list`');
      return job;
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/jobs/:id/cancel',
    permission: 'jobs:write',
    params: idParams,
    handler: async ({ params }) => {
      const job = await svc.store.cancel(params.id);
      if (!job) throw new NotFoundError('job', params.id, 'list jobs with `openclaw jobs list`');
      return job;
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/queues',
    permission: 'jobs:read',
    handler: async () => ({ queues: await svc.queues() }),
  });
}
