// Health: the daemon summary, and the three probes a supervisor (systemd, Kubernetes) asks.
// /healthz: the process serves. /readyz: store reachable and startup finished. /startupz: started.
import type { FastifyInstance } from 'fastify';
import type { ControlPlane } from '../../daemon/control.js';
import { defineRoute } from '../route.js';
import { errorBody } from '../errors.js';

const PROBES = [
  { url: '/healthz', key: 'live', code: 'not_live', message: 'the daemon is not serving' },
  { url: '/readyz', key: 'ready', code: 'not_ready', message: 'the daemon is not ready: startup is unfinished or the store is unreachable' },
  { url: '/startupz', key: 'started', code: 'not_started', message: 'the daemon is still starting' },
] as const;

export function healthRoutes(app: FastifyInstance, control: ControlPlane): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/health',
    permission: 'health:read',
    handler: () => control.health(),
  });

  // The daemons sharing this store (cluster, PostgreSQL): load, leases, last heartbeat.
  defineRoute(app, {
    method: 'GET',
    url: '/api/nodes',
    permission: 'health:read',
    handler: async () => ({ nodes: await control.listNodes() }),
  });

  for (const probe of PROBES) {
    defineRoute(app, {
      method: 'GET',
      url: probe.url,
      permission: 'public',
      handler: ({ reply }) => {
        if (control.probes()[probe.key]) return { status: 'ok' };
        reply.code(503);
        return errorBody(probe.code, probe.message);
      },
    });
  }
}
