// Agents: the fleet view, one agent, lifecycle actions, manual trigger, runs and transitions.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AgentAction, ControlPlane } from '../../daemon/control.js';
import { defineRoute, mayActOn } from '../route.js';
import { agentParams, limitQuery } from '../params.js';

const ACTIONS: AgentAction[] = ['start', 'stop', 'pause', 'resume', 'restart'];

const triggerBody = z
  .object({
    /** Handed to the run as its payload (`this.current().payload`). */
    payload: z.unknown().optional(),
  })
  .strict()
  .optional();

export function agentRoutes(app: FastifyInstance, control: ControlPlane): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/agents',
    permission: 'agents:read',
    // A team's token sees its team's agents; an agent's own token sees itself.
    handler: async ({ req }) => ({ agents: (await control.listAgents()).filter((a) => mayActOn(req.principal, a.name, a.owner)) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/agents/:name',
    permission: 'agents:read',
    params: agentParams,
    handler: ({ params }) => control.getAgent(params.name),
  });

  for (const action of ACTIONS) {
    defineRoute(app, {
      method: 'POST',
      url: `/api/agents/:name/${action}`,
      permission: 'agents:update',
      params: agentParams,
      handler: ({ params }) => control.action(params.name, action),
    });
  }

  defineRoute(app, {
    method: 'POST',
    url: '/api/agents/:name/trigger',
    permission: 'agents:trigger',
    params: agentParams,
    body: triggerBody,
    status: 202,
    handler: async ({ params, body }) => {
      const { runId } = await control.trigger(params.name, body?.payload);
      return { agent: params.name, runId };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/agents/:name/runs',
    permission: 'agents:read',
    params: agentParams,
    query: limitQuery,
    handler: async ({ params, query }) => ({ runs: await control.listRuns(params.name, { limit: query.limit }) }),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/agents/:name/transitions',
    permission: 'agents:read',
    params: agentParams,
    query: limitQuery,
    handler: async ({ params, query }) => ({ transitions: await control.listTransitions(params.name, { limit: query.limit }) }),
  });
}
