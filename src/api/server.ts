// The control API: a Fastify app over the daemon's ControlPlane, one route file per resource.
// Loopback-only by default; `authorize` (the auth module, src/security/auth) checks every route
// against the permission it declares; optional TLS.
import http from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { ControlPlane } from '../daemon/control.js';
import { frameworkError, installErrorHandling } from './errors.js';
import { FastPaths } from './fast-path.js';
import { allowAll, type AnsweredRequest, type Authorize, type Permission, type TargetCheck } from './route.js';
import { agentRoutes } from './routes/agents.js';
import { stateRoutes } from './routes/state.js';
import { logRoutes, type LogFollowOptions } from './routes/logs.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { daemonRoutes } from './routes/daemon.js';
import { metricsRoutes } from './routes/metrics.js';
import type { Registry } from 'prom-client';

export interface ApiServerOptions {
  host: string; // 127.0.0.1 unless the config says otherwise
  port: number; // 0 picks a free port (tests)
  /** A pino-compatible logger; `false`/absent keeps the API quiet. */
  logger?: FastifyBaseLogger | false;
  /** Decides whether a request may do what its route's permission names. Default: allow all. */
  authorize?: Authorize;
  /** Largest request body in bytes (default 16 MiB: `PUT state` can carry large values). */
  bodyLimit?: number;
  logFollow?: LogFollowOptions;
  /** The registry served at GET /api/metrics (absent: no metrics route). */
  metrics?: Registry;
  /** Routes of daemon modules (jobs, workflows, LLM, security), registered after the core ones. */
  routes?: Array<(app: FastifyInstance) => void>;
  /** Applied to every response body (secret redaction): covers every route, errors and /api/metrics. */
  redact?: (body: string) => string;
  /** Called after every response (the auth module audits mutations here), except the 2xx/3xx answers of routes that declare `auditedAs`. */
  onResponse?: (req: AnsweredRequest, reply: { statusCode: number }) => void;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer };
}

/** One registered route and the permission it declares (undefined: not declared through defineRoute). */
export interface RouteInfo {
  method: string;
  url: string;
  permission: Permission | undefined;
}

export interface ApiServer {
  app: FastifyInstance;
  /** Every route, core and module, as registered (collected with an onRoute hook). */
  routes: RouteInfo[];
  listen(): Promise<{ url: string }>;
  close(): Promise<void>;
}

/**
 * Largest request body a route accepts unless it declares its own (defineRoute `bodyLimit`): 1 MiB.
 * Routes that carry bulk data (state writes, job batches, LLM requests) declare LARGE_BODY_LIMIT.
 */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export function createApiServer(control: ControlPlane, opts: ApiServerOptions): ApiServer {
  const fast = new FastPaths({ redact: opts.redact, onResponse: opts.onResponse });
  const base = { bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT, frameworkErrors: frameworkError, ...(opts.tls ? { https: opts.tls } : {}) };
  const app = (opts.logger ? Fastify({ ...base, loggerInstance: opts.logger }) : Fastify({ ...base, logger: false })) as unknown as FastifyInstance;
  // The fast paths see each request before Fastify: Fastify's request listener on its server is
  // wrapped. Not a `serverFactory`: with one, Fastify 5 skips the extra bindings it makes for
  // `localhost` (127.0.0.1 and ::1), and a client resolving the other address was refused. Those
  // extra servers serve through Fastify only.
  const server = app.server as http.Server;
  const fastifyHandler = server.listeners('request')[0] as http.RequestListener | undefined;
  if (!fastifyHandler || server.listenerCount('request') !== 1) throw new Error('api: expected one request listener on the Fastify server');
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!fast.serve(req, res)) fastifyHandler.call(server, req, res);
  });
  app.decorate('fastPath', (url: string, bodyLimit: number, handler: Parameters<FastPaths['add']>[2]) => fast.add(url, bodyLimit, handler));
  // Fastify answers 503 to requests that arrive while it closes: the fast paths leave them to it.
  app.addHook('preClose', (done) => {
    fast.closing = true;
    done();
  });

  installErrorHandling(app);
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const permission = (r.config as { permission?: Permission } | undefined)?.permission;
    for (const method of methods) if (method !== 'HEAD') routes.push({ method, url: r.url, permission });
  });
  const onResponse = opts.onResponse;
  if (onResponse) {
    app.addHook('onResponse', (req, reply, done) => {
      // A route whose module audits every answered request (the /v1 LLM calls: `llm.call`) is
      // recorded here only when refused or failed, not twice per call.
      if (req.routeOptions.config.auditedAs === undefined || reply.statusCode >= 400) onResponse(req, reply);
      done();
    });
  }

  const authorize = opts.authorize ?? allowAll;
  // Callback-style hooks (no promise per request for the routes they leave alone: /v1 is 'public').
  app.addHook('preHandler', (req, _reply, done) => {
    const permission = req.routeOptions.config.permission;
    // Routes without a declared permission are only the not-found handler.
    if (permission === undefined || permission === 'public') return done();
    let check: ReturnType<Authorize>;
    try {
      check = authorize(req, permission);
    } catch (err) {
      return done(err as Error);
    }
    if (check !== undefined && typeof (check as Promise<unknown>).then === 'function') {
      (check as Promise<void | TargetCheck>).then((c) => {
        if (c) req.targetCheck = c;
        done();
      }, done);
      return;
    }
    if (check) req.targetCheck = check as TargetCheck;
    done();
  });

  const redact = opts.redact;
  if (redact) {
    app.addHook('onSend', (_req, reply, payload, done) => {
      let out: unknown = payload;
      try {
        if (typeof payload === 'string') out = redact(payload);
        else if (Buffer.isBuffer(payload)) {
          const text = payload.toString('utf8');
          const red = redact(text);
          if (red !== text) {
            reply.header('content-length', Buffer.byteLength(red));
            out = red;
          }
        }
      } catch (err) {
        return done(err as Error);
      }
      done(null, out);
    });
  }

  void app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  void app.register(async (scoped) => {
    agentRoutes(scoped, control);
    stateRoutes(scoped, control);
    logRoutes(scoped, control, opts.logFollow);
    eventRoutes(scoped, control);
    healthRoutes(scoped, control);
    daemonRoutes(scoped, control);
    if (opts.metrics) metricsRoutes(scoped, opts.metrics);
    for (const register of opts.routes ?? []) register(scoped);
  });

  return {
    app,
    routes,
    async listen() {
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error(`the API is not listening on a TCP port (${String(addr)})`);
      const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
      return { url: `${opts.tls ? 'https' : 'http'}://${host}:${addr.port}` };
    },
    async close() {
      await app.close();
    },
  };
}
