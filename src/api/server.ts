// The control API: a Fastify app over the daemon's ControlPlane, one route file per resource.
// Loopback-only by default; authentication arrives with the security issue through `authorize`,
// which every route already calls with the permission it declares.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { ControlPlane } from '../daemon/control.js';
import { frameworkError, installErrorHandling } from './errors.js';
import { allowAll, type Authorize } from './route.js';
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
}

export interface ApiServer {
  app: FastifyInstance;
  listen(): Promise<{ url: string }>;
  close(): Promise<void>;
}

export function createApiServer(control: ControlPlane, opts: ApiServerOptions): ApiServer {
  const base = { bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024, frameworkErrors: frameworkError };
  const app: FastifyInstance = opts.logger ? Fastify({ ...base, loggerInstance: opts.logger }) : Fastify({ ...base, logger: false });

  installErrorHandling(app);

  const authorize = opts.authorize ?? allowAll;
  app.addHook('preHandler', async (req) => {
    const permission = req.routeOptions.config.permission;
    // Routes without a declared permission are only the not-found handler.
    if (permission !== undefined && permission !== 'public') await authorize(req, permission);
  });

  const redact = opts.redact;
  if (redact) {
    app.addHook('onSend', async (_req, reply, payload) => {
      if (typeof payload === 'string') return redact(payload);
      if (Buffer.isBuffer(payload)) {
        const text = payload.toString('utf8');
        const out = redact(text);
        if (out !== text) {
          reply.header('content-length', Buffer.byteLength(out));
          return out;
        }
      }
      return payload;
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
    async listen() {
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') throw new Error(`the API is not listening on a TCP port (${String(addr)})`);
      const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
      return { url: `http://${host}:${addr.port}` };
    },
    async close() {
      await app.close();
    },
  };
}
