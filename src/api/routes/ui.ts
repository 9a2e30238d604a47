// The web dashboard's HTTP face: the built single-page app at /ui (static files from dist/ui, built
// by Vite in `npm run build`), its login and logout, and the session step every API route runs
// (src/api/ui/session.ts: cookie → bearer, CSRF, Origin). Security headers come from
// @fastify/helmet with a CSP that allows no inline script or style.
//
// When the package was not built (a checkout running from src/ with tsx), /ui answers 503 with a
// page saying so instead of failing the daemon: tests and `openclaw dev` start without a UI build.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import { z } from 'zod';
import { UnauthorizedError } from '../../security/auth/errors.js';
import { defineRoute } from '../route.js';
import { BadRequestError } from '../../util/errors.js';
import { CSRF_HEADER, SESSION_COOKIE, checkOrigin, sessionAuth } from '../ui/session.js';
import type { SessionStore } from '../ui/session-store.js';

/** dist/ui next to dist/api (from src/api/routes or dist/api/routes: both three levels down). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../dist/ui/', import.meta.url));

export interface UiHttpOptions {
  sessions: SessionStore;
  /** Where the built app is (default: the package's dist/ui). */
  dir?: string;
  /** The daemon serves HTTPS: the cookie is marked Secure. */
  secure: boolean;
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OpenClaw dashboard not built</title></head>
<body><h1>dashboard not built: run npm run build</h1><p>The daemon serves the dashboard from <code>dist/ui</code>, which is made by
<code>npm run build</code> (Vite). The API itself works without it.</p></body></html>`;

const loginBody = z.object({ token: z.string().min(1, 'paste an API token (oc_…)').max(500) }).strict();

/** Installs the session step on every API route of `app` and serves the dashboard. */
export function uiRoutes(app: FastifyInstance, opts: UiHttpOptions): void {
  const dir = opts.dir ?? DEFAULT_UI_DIR;
  void app.register(cookie);
  // preValidation: after @fastify/cookie parsed the cookie (onRequest), before `authorize` (preHandler).
  app.addHook('preValidation', (req) => sessionAuth(opts.sessions, req));

  void app.register(async (ui) => {
    await ui.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      // No HSTS on plain-HTTP loopback: it would pin the browser to HTTPS for 127.0.0.1.
      strictTransportSecurity: opts.secure,
    });
    const built = fs.existsSync(path.join(dir, 'index.html'));
    if (built) await ui.register(fastifyStatic, { root: dir, serve: false });

    const index = async (_req: unknown, reply: FastifyReply) => {
      if (!built) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
      reply.header('cache-control', 'no-cache');
      return reply.sendFile('index.html');
    };
    for (const url of ['/ui', '/ui/']) ui.route({ method: 'GET', url, config: { permission: 'public' }, handler: index });
    ui.route({
      method: 'GET',
      url: '/ui/assets/*',
      config: { permission: 'public' },
      handler: async (req, reply) => {
        if (!built) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
        const file = (req.params as { '*': string })['*'];
        // Vite names assets by content hash: they never change under a name.
        reply.header('cache-control', 'public, max-age=31536000, immutable');
        return reply.sendFile(path.posix.join('assets', file));
      },
    });

    defineRoute(ui, {
      method: 'POST',
      url: '/ui/login',
      permission: 'public',
      body: loginBody,
      handler: async ({ body, req, reply }) => {
        checkOrigin(req, 'sign-in');
        // The token is checked by the same authorizer as every API call, through the session route.
        const res = await app.inject({ method: 'GET', url: '/api/ui/session', headers: { authorization: `Bearer ${body.token}` } });
        if (res.statusCode !== 200) {
          const err = (res.json() as { error?: { message?: string } }).error;
          throw new UnauthorizedError(`sign-in refused: ${err?.message ?? `status ${res.statusCode}`}`);
        }
        const who = res.json() as { principal: { id: string } };
        // A session stands for an API token (its id): agent tokens end with their instance, and
        // without authentication there is nothing to sign in to.
        if (!who.principal.id.startsWith('token:')) {
          throw new BadRequestError(`sign-in refused: sign in with an API token (oc_…, from \`openclaw token create\`), not ${who.principal.id === 'anonymous' ? 'on a daemon without authentication (open /ui directly)' : `a ${who.principal.id.split(':')[0]} credential`}`, 'api_token_required');
        }
        const { id, session } = await opts.sessions.create(who.principal.id.slice('token:'.length), who.principal.id);
        void reply.setCookie(SESSION_COOKIE, id, { path: '/', httpOnly: true, sameSite: 'strict', secure: opts.secure });
        return { principal: who.principal, csrf: session.csrf };
      },
    });

    defineRoute(ui, {
      method: 'POST',
      url: '/ui/logout',
      permission: 'public',
      handler: async ({ req, reply }) => {
        checkOrigin(req, 'sign-out');
        await opts.sessions.delete(req.cookies[SESSION_COOKIE]);
        void reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return { signedOut: true };
      },
    });
  });
}

export { CSRF_HEADER };
