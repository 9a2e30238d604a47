// GET /api/metrics: the daemon's registry (core families, agent metrics from this.metrics, the
// daemon's own process metrics) in the Prometheus text exposition format.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { defineRoute } from '../route.js';

export function metricsRoutes(app: FastifyInstance, registry: Registry): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/metrics',
    permission: 'metrics:read',
    handler: async ({ reply }) => {
      const text = await registry.metrics();
      reply.header('content-type', registry.contentType);
      return text;
    },
  });
}
