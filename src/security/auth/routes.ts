// /api/tokens: create (the token is in this one answer only), list (never the token), revoke.
// A token with a team manages only its team's tokens, and creates only tokens of its team.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { defineRoute, type Principal } from '../../contracts/route.js';
import { BadRequestError, NotFoundError } from '../../util/errors.js';
import type { AuditSink } from '../../contracts/modules.js';
import { ForbiddenError } from './errors.js';
import type { TokenRecord, TokenRepository } from './repository.js';
import { TOKEN_ROLES } from './roles.js';
import { parseExpiry, TOKEN_ID_RE } from './tokens.js';


export interface CreatedToken {
  token: string;
  record: TokenRecord;
}

const TEAM = z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "team names are letters, digits, '.', '_' and '-'");

const createBody = z
  .object({
    role: z.enum(TOKEN_ROLES),
    team: TEAM.nullable().optional(),
    name: z.string().min(1).max(100).optional(),
    /** "30d", "12h", "1y" */
    expires: z.string().optional(),
  })
  .strict();

export function tokenRoutes(app: FastifyInstance, deps: { tokens: TokenRepository; now: () => number; audit: () => AuditSink }): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/tokens',
    permission: 'tokens:admin',
    query: z.object({ all: z.enum(['true', 'false']).optional() }).strict(),
    handler: async ({ query, req }) => {
      const team = req.principal?.team ?? null;
      return { tokens: await deps.tokens.list({ includeRevoked: query.all === 'true', team }) };
    },
  });

  defineRoute(app, {
    method: 'POST',
    url: '/api/tokens',
    permission: 'tokens:admin',
    body: createBody,
    status: 201,
    handler: async ({ body, req }): Promise<CreatedToken> => {
      const p = req.principal;
      let team = body.team ?? null;
      if (p?.team) {
        if (team !== null && team !== p.team) throw new ForbiddenError(`token ${p.id} belongs to team '${p.team}' and may only create tokens of that team (asked for team '${team}')`);
        team = p.team;
      }
      let expiresAt: number | null = null;
      if (body.expires !== undefined) {
        const ms = parseExpiry(body.expires);
        if (ms === null) throw new BadRequestError(`body.expires: expected a duration like 30d, 12h, 2w or 1y, got '${body.expires}'`, 'invalid_request');
        expiresAt = deps.now() + ms;
      }
      const created = await deps.tokens.create({ name: body.name ?? `${body.role}${team ? `-${team}` : ''}`, role: body.role, team, expiresAt, createdBy: p?.id ?? null });
      deps.audit().record({ actor: p?.id ?? 'anonymous', action: 'token.create', target: `token:${created.record.id}`, detail: { role: body.role, team } });
      return created;
    },
  });

  defineRoute(app, {
    method: 'DELETE',
    url: '/api/tokens/:id',
    permission: 'tokens:admin',
    params: z.object({ id: z.string().regex(TOKEN_ID_RE, 'a token id is 12 hex characters, as `openclaw token list` shows') }),
    handler: async ({ params, req }) => {
      const found = await deps.tokens.lookup(params.id);
      if (!found || !visible(req.principal, found.record)) throw new NotFoundError('token', params.id, 'see `openclaw token list`');
      if (found.record.revokedAt !== null) return { id: params.id, revoked: true, alreadyRevoked: true };
      await deps.tokens.revoke(params.id);
      deps.audit().record({ actor: req.principal?.id ?? 'anonymous', action: 'token.revoke', target: `token:${params.id}` });
      return { id: params.id, revoked: true, alreadyRevoked: false };
    },
  });
}

function visible(p: Principal | undefined, t: TokenRecord): boolean {
  return !p?.team || t.team === p.team;
}
