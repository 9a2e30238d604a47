// The daemon itself: a graceful stop over the API (what `openclaw daemon stop` may use).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ControlPlane } from '../../daemon/control.js';
import { defineRoute } from '../route.js';

const stopBody = z.object({ reason: z.string().min(1).max(500).optional() }).strict().optional();

export function daemonRoutes(app: FastifyInstance, control: ControlPlane): void {
  defineRoute(app, {
    method: 'POST',
    url: '/api/daemon/stop',
    permission: 'daemon:admin',
    body: stopBody,
    status: 202,
    handler: ({ body, reply, req }) => {
      const reason = body?.reason ?? 'stop requested over the API';
      // Shutdown drains and closes this server too: start it only once the answer is out.
      reply.raw.once('finish', () => {
        control.shutdown(reason).catch((err: unknown) => req.log.error({ err }, 'shutdown failed'));
      });
      return { stopping: true, reason };
    },
  });
}
