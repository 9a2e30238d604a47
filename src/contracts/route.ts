// How a route is declared: method, URL, the permission it needs, and zod schemas for params, query
// and body next to the handler. Validation happens here (not in Fastify's JSON-schema layer) so
// that every 400 names the field that was wrong in one consistent wording: `body.version: ...`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z, type ZodTypeAny } from 'zod';
import { BadRequestError } from '../util/errors.js';

/**
 * What a route needs the caller to be allowed to do. Roles map onto these strings in
 * src/security/auth/roles.ts; without the auth module `allowAll` lets every request through.
 */
/** For routes that carry bulk data: state writes, job batches, LLM requests (16 MiB). */
export const LARGE_BODY_LIMIT = 16 * 1024 * 1024;

export type Permission =
  | 'public' // probes: never asks for credentials
  | 'health:read'
  | 'agents:read'
  | 'agents:update'
  | 'agents:trigger'
  | 'state:read'
  | 'state:write'
  | 'logs:read'
  | 'events:read'
  | 'events:publish'
  | 'events:admin'
  | 'daemon:admin'
  // subsystems (security, LLM, jobs, workflows): roles map these in src/security
  | 'agents:create'
  | 'metrics:read'
  | 'tokens:admin'
  | 'secrets:read'
  | 'secrets:write'
  | 'audit:read'
  | 'llm:keys'
  | 'usage:read'
  | 'jobs:read'
  | 'jobs:write'
  | 'jobs:admin'
  | 'workflows:read'
  | 'workflows:run'
  | 'workflows:approve'
  | 'streams:read'
  | 'streams:ingest';

/**
 * The agents a request acts on, as the handler will act on them: computed from the *parsed* input
 * (the same params, query and body the handler receives), never from the raw request, so the
 * permission check and the handler cannot disagree about the target (issue 14, item 1).
 * `undefined` = the route names no agent.
 */
export type RouteTarget = readonly string[] | undefined;

/** Checks a principal against the parsed target; throws a 403 OpenClawError to refuse. */
export type TargetCheck = (target: RouteTarget) => void;

/** Checks that a principal may publish these event names; throws a 403 OpenClawError to refuse. */
export type PublishCheck = (events: readonly string[]) => void;

/**
 * The authorization seam, in two steps. As a preHandler: authenticate and check the role (throw an
 * OpenClawError, 401/403, to refuse); it may return the TargetCheck that `defineRoute` then runs on
 * the parsed target before the handler.
 */
export type Authorize = (req: FastifyRequest, permission: Permission) => void | TargetCheck | Promise<void | TargetCheck>;

export const allowAll: Authorize = () => {};

/**
 * Who is calling, set by `authorize` (security module) before the handler runs. Handlers that need
 * the caller (approvals, audit) read `req.principal`; absent = no authentication configured.
 */
export interface Principal {
  /** 'token:<id>' | 'agent:<name>#<n>' | 'local' (local-trust) */
  id: string;
  role: 'admin' | 'developer' | 'viewer' | 'ingest' | 'metrics' | 'agent' | 'local';
  /** The team a token belongs to (owns agents with that `owner`); null = all teams. */
  team: string | null;
  /** For an agent's own token: the agent it is scoped to. */
  agent?: string;
}

/** Whether a principal may see or act on an agent with this owner (team tokens, agents' own tokens). */
export function mayActOn(p: Principal | undefined, agent: string, owner: string | null): boolean {
  if (!p) return true;
  if (p.role === 'agent') return p.agent === agent;
  return p.team === null || p.team === owner;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission;
    /**
     * The audit action the route's module records for each answered request (the LLM module's
     * `llm.call`): a 2xx/3xx answer is not recorded again as `api.mutation`; refusals and failures are.
     */
    auditedAs?: string;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** Set by the authorize preHandler: the target check defineRoute runs after parsing. */
    targetCheck?: TargetCheck;
    /** Set by the authorize preHandler on publishing routes: defineRoute runs it on `publishes`. */
    publishCheck?: PublishCheck;
    /**
     * Set by the dashboard's session step (src/api/ui/session.ts) on a request that came with a live
     * session cookie and no Authorization header: the id of the API token the session stands for.
     * `authorize` checks that token (revoked, expired, role, team) as if its bearer had been sent.
     */
    sessionToken?: string;
  }
}

/** What the audit of an answered request reads (a Fastify request, or the /v1 fast path's own). */
export interface AnsweredRequest {
  method: string;
  routeOptions: { url?: string | undefined };
  principal?: Principal | undefined;
}

/**
 * How a fast-path handler answers (see FastifyInstance.fastPath): `json` as every API answer is
 * sent (secret redaction; a refusal or failure audited), or `raw` for a stream after `hijack()`.
 */
export interface FastReply {
  json(status: number, headers: Record<string, string>, body: unknown): void;
  /** Takes the response over from the framework (a stream writes its own head on `raw`). */
  hijack(): void;
  readonly raw: ServerResponse;
}

/** A route's handler on the request as Node gives it, with its JSON body parsed. */
export type FastHandler = (req: IncomingMessage, body: unknown, reply: FastReply) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Also serves POST `url` without Fastify's routing and hooks (the /v1 hot path): for requests
     * that carry no browser context (no Origin, no Cookie), a JSON body with a Content-Length within
     * `bodyLimit` and no query string. Every other request to `url` goes through the route declared
     * with defineRoute, which must call the same handler. Keeps what the hooks give a 'public'
     * route: body limit, JSON parsing with Fastify's errors, secret redaction, the audit of refusals.
     */
    fastPath(url: string, bodyLimit: number, handler: FastHandler): void;
  }
}

type Input<S extends ZodTypeAny | undefined> = S extends ZodTypeAny ? z.output<S> : undefined;

export interface RouteSpec<P extends ZodTypeAny | undefined, Q extends ZodTypeAny | undefined, B extends ZodTypeAny | undefined> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  permission: Permission;
  params?: P;
  query?: Q;
  body?: B;
  /** Status for a successful answer (default 200). */
  status?: number;
  /**
   * The agents the request acts on, from the parsed input. Default: `params.agent`, or
   * `params.name` on /api/agents/:name routes. A route that takes an agent anywhere else (query,
   * body, ids that resolve to agents) must say so here; the handler must act on no other agent.
   */
  target?(input: { params: Input<P>; query: Input<Q>; body: Input<B>; req: FastifyRequest }): RouteTarget | Promise<RouteTarget>;
  /** The event names the request publishes, from the parsed input (a team token may publish only some). */
  publishes?(input: { body: Input<B> }): readonly string[];
  /** Largest request body this route accepts, in bytes (default: the server's, 1 MiB; bulk routes LARGE_BODY_LIMIT). */
  bodyLimit?: number;
  /** See FastifyContextConfig.auditedAs: the module audits each answered request itself. */
  auditedAs?: string;
  handler(input: { params: Input<P>; query: Input<Q>; body: Input<B>; req: FastifyRequest; reply: FastifyReply }): Promise<unknown> | unknown;
}

export function defineRoute<P extends ZodTypeAny | undefined = undefined, Q extends ZodTypeAny | undefined = undefined, B extends ZodTypeAny | undefined = undefined>(
  app: FastifyInstance,
  spec: RouteSpec<P, Q, B>,
): void {
  app.route({
    method: spec.method,
    url: spec.url,
    config: { permission: spec.permission, ...(spec.auditedAs !== undefined ? { auditedAs: spec.auditedAs } : {}) },
    ...(spec.bodyLimit !== undefined ? { bodyLimit: spec.bodyLimit } : {}),
    handler: async (req, reply) => {
      const params = validate(spec.params, req.params, 'params') as Input<P>;
      const query = validate(spec.query, req.query, 'query') as Input<Q>;
      const body = validate(spec.body, req.body, 'body') as Input<B>;
      // One parse: the check sees exactly the target the handler is given.
      const target = spec.target ? await spec.target({ params, query, body, req }) : defaultTarget(spec.url, params);
      req.targetCheck?.(target);
      if (spec.publishes) req.publishCheck?.(spec.publishes({ body }));
      const result = await spec.handler({ params, query, body, req, reply });
      if (spec.status !== undefined) reply.code(spec.status);
      return result;
    },
  });
}

/**
 * A 'public' POST route served by one FastHandler on both paths: the fast path for the requests
 * it takes (FastifyInstance.fastPath) and a Fastify route for every other request.
 */
export function defineFastRoute(app: FastifyInstance, spec: { url: string; bodyLimit: number; auditedAs?: string; handler: FastHandler }): void {
  defineRoute(app, {
    method: 'POST',
    url: spec.url,
    permission: 'public',
    bodyLimit: spec.bodyLimit,
    ...(spec.auditedAs !== undefined ? { auditedAs: spec.auditedAs } : {}),
    handler: async ({ req, reply }) => {
      await spec.handler(req.raw, req.body, {
        raw: reply.raw,
        hijack: () => reply.hijack(),
        json: (status, headers, body) => void reply.code(status).headers(headers).send(body),
      });
      return reply;
    },
  });
  app.fastPath(spec.url, spec.bodyLimit, spec.handler);
}

/** The agent a route names in its path: `:agent`, or `:name` on /api/agents/:name routes. */
export function defaultTarget(url: string, params: unknown): RouteTarget {
  const p = (params ?? {}) as Record<string, unknown>;
  if (typeof p.agent === 'string') return [p.agent];
  if (typeof p.name === 'string' && url.startsWith('/api/agents/:name')) return [p.name];
  return undefined;
}

export function validate(schema: ZodTypeAny | undefined, value: unknown, where: 'params' | 'query' | 'body'): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new BadRequestError(describeIssues(parsed.error, where), 'invalid_request');
}

/** `body.writes.0.key: Required; query.limit: expected a whole number` */
export function describeIssues(error: z.ZodError, where: string): string {
  // One message per field: the first check that failed says enough ("must not be empty" rather
  // than that and the pattern it then also misses).
  const seen = new Set<string>();
  return error.issues
    .filter((issue) => {
      const key = issue.path.join('.');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map((issue) => {
      const field = [where, ...issue.path].join('.');
      if (issue.code === 'unrecognized_keys') return `${field}: unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
      if (issue.code === 'invalid_type' && issue.received === 'undefined') return `${field}: required`;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}
