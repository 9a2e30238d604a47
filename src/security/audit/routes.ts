// /api/audit: read the log (newest first, filtered) and verify its hash chain.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { defineRoute } from '../../contracts/route.js';
import { parseDuration } from '../../config/units.js';
import type { AuditLog } from './log.js';
import type { AuditRepo } from './repo.js';

const listQuery = z.object({
  since: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      try {
        return parseDuration(v);
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        return z.NEVER;
      }
    }),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  before: z.coerce.number().int().min(1).optional(),
});

export function auditRoutes(app: FastifyInstance, repo: AuditRepo, log: AuditLog | null, now: () => number): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/audit',
    permission: 'audit:read',
    query: listQuery,
    handler: async ({ query }) => {
      await log?.flush(); // what was recorded before this request is visible in it
      const records = await repo.list({
        sinceMs: query.since === undefined ? undefined : now() - query.since,
        actor: query.actor,
        action: query.action,
        limit: query.limit ?? 100,
        beforeSeq: query.before,
      });
      return { records, dropped: log?.dropped ?? 0 };
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/audit/verify',
    permission: 'audit:read',
    handler: async () => {
      await log?.flush();
      return repo.verify();
    },
  });
}
