// /api/jobs and /api/queues: enqueue (one, batch), list, show, cancel; queue stats; dead letters
// (list, re-drive). Permissions: jobs:read to look, jobs:write to enqueue and cancel, jobs:admin to
// re-drive dead letters.
//
// Teams: a queue belongs to the team of the agent whose @job handler serves it. Each route names
// that agent as its target (from the parsed queue name or the job's queue), so the authorizer lets a
// team token reach only its team's queues; a queue no agent serves belongs to no team.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { defineRoute, LARGE_BODY_LIMIT, mayActOn, type RouteTarget } from '../contracts/route.js';
import { queryInt } from '../contracts/params.js';
import { NotFoundError, OpenClawError } from '../util/errors.js';
import { parseTraceparent } from '../observability/tracing.js';
import { BACKOFF_KEYS, ENQUEUE_OPTION_KEYS, IDEMPOTENCY_MODES, QUEUE_NAME } from './options.js';
import { BACKOFF_TYPES } from './policy.js';
import type { JobsService } from './service.js';

// The enqueue body's shape, for the request check and the OpenAPI document. normalizeEnqueue
// (options.ts, zod-free: agent workers use it) checks it again with the same bounds; the test in
// test/tools/options.test.ts keeps the two key lists equal.
const duration = z.union([z.string().min(1), z.number().nonnegative().finite()]);
export const backoffSchema = z.object({ type: z.enum(BACKOFF_TYPES), delay: duration, max: duration.optional() }).strict();
export const enqueueOptionsSchema = z
  .object({
    priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
    delay: duration.optional(),
    runAt: z.union([z.number().finite(), z.string().min(1), z.date()]).optional(),
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    backoff: backoffSchema.optional(),
    timeout: duration.optional(),
    key: z.string().min(1).max(512).optional(),
    mode: z.enum(IDEMPOTENCY_MODES).optional(),
    concurrencyKey: z.string().min(1).max(256).optional(),
    id: z.string().min(1).max(200).optional(),
  })
  .strict();

const queueName = z.string().regex(QUEUE_NAME, "queue names are letters, digits, '.', '_', ':' and '-' (up to 128)");
const jobBody = z.object({ name: queueName, payload: z.unknown().optional(), opts: enqueueOptionsSchema.optional() }).strict();
const idParams = z.object({ id: z.string().min(1).max(200) });
const status = z.enum(['waiting', 'delayed', 'active', 'completed', 'dead', 'cancelled']);

export function jobRoutes(app: FastifyInstance, svc: JobsService): void {
  /** The agents serving these queues: the target of a request that acts on them. */
  const servers = (queues: string[]): RouteTarget => [...new Set(queues.map((q) => svc.handlerOf(q) ?? `(no agent serves queue '${q}')`))];
  const jobTarget = async (id: string): Promise<RouteTarget> => {
    const job = await svc.store.get(id);
    return job ? servers([job.queue]) : undefined; // none: the handler answers 404
  };
  /** Queues whose handler agent the caller may act on (a team token: its team's). */
  const visibleQueues = async (req: FastifyRequest) =>
    (await svc.queues()).filter((q) => (q.agent === null ? !teamScoped(req) : mayActOn(req.principal, q.agent, svc.ownerOf(q.agent) ?? null)));
  /** A team token lists one of its queues at a time (the authorizer checked that it is the team's). */
  const oneQueue = async (req: FastifyRequest, queue: string | undefined): Promise<void> => {
    if (!teamScoped(req) || queue !== undefined) return;
    const mine = (await visibleQueues(req)).map((q) => q.queue);
    throw new OpenClawError(
      'forbidden',
      `${req.principal!.id} belongs to team '${req.principal!.team}': list the jobs of one of its queues with ?queue= (${mine.length ? mine.join(', ') : 'none: no agent of the team serves a queue'})`,
      { status: 403 },
    );
  };

  defineRoute(app, {
    method: 'POST',
    url: '/api/jobs',
    permission: 'jobs:write',
    body: jobBody,
    target: ({ body }) => servers([body.name]),
    status: 201,
    handler: async ({ body, req }) => (await svc.enqueue([body], { traceparent: callerTrace(req) }))[0],
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/jobs/batch',
    bodyLimit: LARGE_BODY_LIMIT,
    permission: 'jobs:write',
    body: z.object({ jobs: z.array(jobBody).min(1, 'must hold at least one job').max(10_000) }).strict(),
    target: ({ body }) => servers(body.jobs.map((j) => j.name)),
    status: 201,
    handler: async ({ body, req }) => ({ jobs: await svc.enqueue(body.jobs, { traceparent: callerTrace(req) }) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/jobs',
    permission: 'jobs:read',
    query: z.object({ queue: queueName.optional(), status: status.optional(), limit: queryInt(1, 10_000).optional(), after: z.string().max(200).optional() }),
    target: ({ query }) => (query.queue !== undefined ? servers([query.queue]) : undefined),
    handler: async ({ query, req }) => {
      await oneQueue(req, query.queue);
      return { jobs: await svc.store.list({ queue: query.queue, status: query.status, limit: query.limit ?? 100, after: query.after }) };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/jobs/dead',
    permission: 'jobs:read',
    query: z.object({ queue: queueName.optional(), limit: queryInt(1, 10_000).optional() }),
    target: ({ query }) => (query.queue !== undefined ? servers([query.queue]) : undefined),
    handler: async ({ query, req }) => {
      await oneQueue(req, query.queue);
      return { jobs: await svc.store.list({ queue: query.queue, status: 'dead', limit: query.limit ?? 100 }) };
    },
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
    target: ({ params }) => jobTarget(params.id),
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
    target: ({ params }) => jobTarget(params.id),
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
    // A team token sees only its team's queues.
    handler: async ({ req }) => ({ queues: await visibleQueues(req) }),
  });
}

function teamScoped(req: FastifyRequest): boolean {
  return req.principal !== undefined && req.principal.role !== 'agent' && req.principal.team !== null;
}

/** The W3C `traceparent` header of an API request, when well-formed: the enqueued jobs continue that trace. */
function callerTrace(req: FastifyRequest): string | null {
  const h = req.headers.traceparent;
  return typeof h === 'string' && parseTraceparent(h) ? h : null;
}
