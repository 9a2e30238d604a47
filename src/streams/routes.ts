// /api/streams and /api/windows: ingest (JSON array or NDJSON, gzip), list, stats, tail, dead
// letters, window results. Permissions: streams:ingest to append (the `ingest` token role has only
// that), streams:read to look. A team token may only use a stream whose `owner` is its team.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { defineRoute } from '../contracts/route.js';
import { queryInt } from '../contracts/params.js';
import { NotFoundError, OpenClawError } from '../util/errors.js';
import { ForbiddenError } from '../security/auth/errors.js';
import { inflate, parseLines, tooLarge } from './ingest.js';
import type { StreamsService } from './service.js';
import { STREAM_NAME } from './config.js';

const nameParams = z.object({ name: z.string().regex(STREAM_NAME, 'a stream name') });
const windowParams = z.object({ name: z.string().regex(STREAM_NAME, 'a window name') });
const MAX_ERRORS = 100;

function scoped(req: FastifyRequest, svc: StreamsService, stream: string) {
  const def = svc.def(stream);
  const p = req.principal;
  if (p && p.role !== 'agent' && p.team !== null && def.owner !== p.team) {
    throw new ForbiddenError(
      `token ${p.id.replace(/^token:/, '')} belongs to team '${p.team}' and may not use stream '${stream}', which ${def.owner ? `belongs to team '${def.owner}'` : 'has no owner team'}; use a token of that team or set streams.${stream}.owner`,
    );
  }
  return def;
}

export function streamRoutes(app: FastifyInstance, svc: StreamsService): void {
  const bodyLimit = Math.max(...[...svc.defs.values()].map((d) => d.maxBody));
  // The ingest route reads the raw body (any content type) so it can gunzip and split lines itself.
  void app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    defineRoute(raw, {
      method: 'POST',
      url: '/api/streams/:name/events',
      permission: 'streams:ingest',
      params: nameParams,
      query: z.object({ wait: z.enum(['true', 'false', '1', '0']).optional() }),
      handler: async ({ params, query, req, reply }) => {
        const def = scoped(req, svc, params.name);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (body.length > def.maxBody) throw tooLarge(def.maxBody);
        const text = inflate(body, req.headers['content-encoding'] as string | undefined, def.maxBody).toString('utf8');
        const lines = parseLines(text);
        if (lines.length === 0) throw new OpenClawError('invalid_request', 'the body holds no events; send a JSON array or NDJSON (one event per line)', { status: 400 });
        const admission = svc.ingester.admit(def.name, lines.length);
        for (const [k, v] of Object.entries(admission.headers)) reply.header(k, v);
        if (!admission.ok) {
          reply.code(429);
          return { error: { code: 'rate_limited', message: admission.reason } };
        }
        const principal = req.principal?.id ?? 'anonymous';
        const { checked, done } = await svc.ingest(def.name, lines, `http:${principal}`);
        const answer = {
          accepted: checked.events.length,
          rejected: checked.errors.length,
          errors: checked.errors.slice(0, MAX_ERRORS),
          ...(checked.errors.length > MAX_ERRORS ? { errors_truncated: checked.errors.length - MAX_ERRORS } : {}),
        };
        const wait = query.wait === 'true' || query.wait === '1';
        if (!wait) {
          // 202: buffered; committed within the flush interval. A failure then is logged and counted.
          done.catch(() => undefined);
          reply.code(202);
          return answer;
        }
        const r = await done;
        return { ...answer, accepted: r.appended, duplicates: r.duplicates, seq: r.lastSeq };
      },
    });
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/streams',
    permission: 'streams:read',
    handler: async () => ({
      streams: await Promise.all(
        [...svc.defs.values()].map(async (d) => ({
          ...(await svc.store.stats(d.name)),
          owner: d.owner,
          buffered: svc.ingester.depth(d.name),
          windows: [...svc.queries.values()].filter((q) => q.spec.stream === d.name).map((q) => q.spec.name),
        })),
      ),
    }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/streams/:name',
    permission: 'streams:read',
    params: nameParams,
    handler: async ({ params, req }) => {
      const d = scoped(req, svc, params.name);
      const stats = await svc.store.stats(d.name);
      const windows = [...svc.queries.values()]
        .filter((q) => q.spec.stream === d.name)
        .map((q) => ({ name: q.spec.name, type: q.spec.type, emit: q.spec.emit, cursor: q.position, lag: Math.max(0, stats.head - q.position), openWindows: q.engine.size, lowWatermark: q.engine.lowWatermark() }));
      return { ...stats, owner: d.owner, buffered: svc.ingester.depth(d.name), highWatermark: d.highWatermark, windows };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/streams/:name/events',
    permission: 'streams:read',
    params: z.object({ name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}(\.late)?$/, 'a stream name (or WINDOW.late)') }),
    query: z.object({ after: queryInt(0, Number.MAX_SAFE_INTEGER).optional(), limit: queryInt(1, 10_000).optional() }),
    handler: async ({ params, query, req }) => {
      const late = params.name.endsWith('.late');
      if (late) {
        const q = svc.queries.get(params.name.slice(0, -5));
        if (!q) throw new NotFoundError('window', params.name.slice(0, -5), 'list windows with `openclaw stream stats NAME`');
        scoped(req, svc, q.spec.stream);
      } else scoped(req, svc, params.name);
      const events = await svc.store.readAfter(params.name, query.after ?? 0, query.limit ?? 100);
      return { events, next: events.length ? events[events.length - 1]!.seq : (query.after ?? 0) };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/streams/:name/dlq',
    permission: 'streams:read',
    params: nameParams,
    query: z.object({ limit: queryInt(1, 10_000).optional() }),
    handler: async ({ params, query, req }) => {
      const d = scoped(req, svc, params.name);
      return { dead: await svc.store.listDlq(d.name, query.limit ?? 100) };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/windows/:name/results',
    permission: 'streams:read',
    params: windowParams,
    query: z.object({ key: z.string().max(500).optional(), since: queryInt(0, Number.MAX_SAFE_INTEGER).optional(), final: z.enum(['true', 'false']).optional(), limit: queryInt(1, 10_000).optional() }),
    handler: async ({ params, query, req }) => {
      const q = svc.queries.get(params.name);
      if (!q) throw new NotFoundError('window', params.name, `windows are ${[...svc.queries.keys()].join(', ') || 'none'}`);
      scoped(req, svc, q.spec.stream);
      return { results: await svc.store.results(params.name, { key: query.key, since: query.since, limit: query.limit ?? 100, finalOnly: query.final === 'true' }) };
    },
  });
}
