// The dashboard's API: one aggregate read per view (so a page loads with a bounded number of
// requests, never one per row), bulk actions with a dry run, and the live WebSocket. Everything
// goes through the same `authorize` (roles, teams) and audit as the rest of the control API.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AgentAction, AgentView, ControlPlane } from '../../daemon/control.js';
import type { AgentHandle } from '../../contracts/modules.js';
import type { AuditSink } from '../../daemon/modules.js';
import { rolePermissions } from '../../security/auth/roles.js';
import { BadRequestError, OpenClawError } from '../../util/errors.js';
import { defineRoute, mayActOn, validate, type Permission, type Principal } from '../route.js';
import { agentParams, queryInt } from '../params.js';
import type { LiveFeed, View } from './live.js';
import type { UiQueries } from './queries.js';
import { checkOrigin, sessionOf } from './session.js';
import type { SessionStore } from './session-store.js';

export interface UiRouteDeps {
  control: ControlPlane;
  queries: UiQueries;
  live: LiveFeed;
  sessions: SessionStore;
  agent(name: string): AgentHandle | undefined;
  audit(): AuditSink;
  now(): number;
  authMode: 'token' | 'local-trust' | 'none';
  onDropped(n: number): void;
}

const BULK: Array<{ action: AgentAction | 'trigger'; permission: Permission }> = [
  { action: 'pause', permission: 'agents:update' },
  { action: 'resume', permission: 'agents:update' },
  { action: 'restart', permission: 'agents:update' },
  { action: 'start', permission: 'agents:update' },
  { action: 'stop', permission: 'agents:update' },
  { action: 'trigger', permission: 'agents:trigger' },
];

/** The fleet filter, shared by the page (client side) and "all matching" bulk actions. */
export const fleetFilter = z
  .object({
    q: z.string().max(200).optional(),
    status: z.string().max(40).optional(),
  })
  .strict();

export function matchesFilter(a: Pick<AgentView, 'name' | 'status' | 'owner'>, f: z.output<typeof fleetFilter>): boolean {
  if (f.status && a.status !== f.status) return false;
  const q = f.q?.trim().toLowerCase();
  return !q || a.name.toLowerCase().includes(q) || (a.owner ?? '').toLowerCase().includes(q);
}

const bulkBody = z
  .object({
    /** The selection; or `filter` for "all matching". */
    names: z.array(agentParams.shape.name).max(10_000).optional(),
    filter: fleetFilter.optional(),
    /** true: only count and list what would be acted on. */
    dryRun: z.boolean(),
    payload: z.unknown().optional(),
  })
  .strict()
  .refine((b) => (b.names === undefined) !== (b.filter === undefined), { message: 'give either names (a selection) or filter (all matching), not both' });

const searchQuery = z.object({
  kind: z.enum(['runs', 'events']).default('runs'),
  q: z.string().max(500).optional(),
  /** One event by id (kind=events), or the runs it triggered (kind=runs). */
  id: z.string().max(200).optional(),
  agent: z.string().max(200).optional(),
  status: z.string().max(40).optional(),
  from: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  to: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  before: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: queryInt(1, 500).optional(),
});

const liveQuery = z.object({
  view: z.enum(['fleet', 'agent', 'jobs', 'workflows', 'spend', 'search', 'audit', 'nodes']),
  agent: agentParams.shape.name.optional(),
});

function permissionsOf(p: Principal | undefined): Permission[] {
  if (!p) return rolePermissions('admin'); // no auth module: everything is allowed
  return rolePermissions(p.role);
}

export function uiDataRoutes(app: FastifyInstance, d: UiRouteDeps): void {
  defineRoute(app, {
    method: 'GET',
    url: '/api/ui/session',
    permission: 'health:read',
    handler: ({ req }) => {
      // Only when the request rode on the cookie: a bearer caller has no session (and no CSRF token).
      const s = sessionOf(req);
      const p = req.principal;
      return {
        principal: p ? { id: p.id, role: p.role, team: p.team } : { id: 'anonymous', role: 'local', team: null },
        permissions: permissionsOf(p),
        csrf: s?.csrf ?? null,
        authMode: d.authMode,
      };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/ui/fleet',
    permission: 'agents:read',
    handler: async ({ req }) => {
      const [agents, cost] = [await d.control.listAgents(), await d.queries.costToday(d.now())];
      return {
        agents: agents.filter((a) => mayActOn(req.principal, a.name, a.owner)).map((a) => ({ ...a, costTodayNusd: cost.get(a.name) ?? 0 })),
        node: d.control.health(),
      };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/ui/agents/:name',
    permission: 'agents:read',
    params: agentParams,
    // /api/ui/… is not under /api/agents/:name, so the team check needs the target named here.
    target: ({ params }) => [params.name],
    handler: async ({ params, req }) => {
      const name = params.name;
      const agent = await d.control.getAgent(name);
      const perms = new Set(permissionsOf(req.principal));
      const canState = perms.has('state:read');
      return {
        agent,
        config: d.agent(name)?.cfg ?? null,
        transitions: await d.control.listTransitions(name, { limit: 50 }),
        runs: await d.control.listRuns(name, { limit: 50 }),
        logs: perms.has('logs:read') ? await d.control.recentLogs(name, { limit: 200 }) : [],
        versions: canState ? await d.control.listStateVersions(name, { limit: 50 }) : null,
        state: canState ? await d.control.getState(name) : null,
      };
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/ui/agents/:name/runs/:run',
    permission: 'agents:read',
    params: agentParams.extend({ run: z.string().min(1).max(200) }),
    target: ({ params }) => [params.name],
    handler: async ({ params, req }) => {
      const perms = new Set(permissionsOf(req.principal));
      return d.queries.runTimeline(params.name, params.run, { state: perms.has('state:read'), events: perms.has('events:read') });
    },
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/ui/spend',
    permission: 'usage:read',
    query: z.object({ days: queryInt(1, 366).optional() }),
    handler: ({ query }) => d.queries.spend(query.days ?? 30, d.now()),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/ui/search',
    permission: 'events:read',
    query: searchQuery,
    handler: async ({ query, req }) => {
      // A team token searches its own agents' runs and the events they emitted or subscribe to (as /api/events).
      const p = req.principal;
      let scope: { agents: string[]; subscriptions: string[] } | undefined;
      if (p && p.role !== 'agent' && p.role !== 'local' && p.team !== null) {
        const mine = (await d.control.listAgents()).filter((a) => a.owner === p.team);
        scope = { agents: mine.map((a) => a.name), subscriptions: [...new Set(mine.flatMap((a) => a.subscriptions))] };
      }
      return d.queries.search({ kind: query.kind, q: query.q, id: query.id, agent: query.agent, status: query.status, fromMs: query.from, toMs: query.to, before: query.before, limit: query.limit ?? 50, scope });
    },
  });

  for (const { action, permission } of BULK) {
    defineRoute(app, {
      method: 'POST',
      url: `/api/ui/agents/bulk/${action}`,
      permission,
      body: bulkBody,
      handler: async ({ body, req }) => {
        const all = (await d.control.listAgents()).filter((a) => mayActOn(req.principal, a.name, a.owner));
        let targets: string[];
        if (body.names) {
          const known = new Set(all.map((a) => a.name));
          const unknown = body.names.filter((n) => !known.has(n));
          if (unknown.length) throw new BadRequestError(`body.names: no such agent (or not yours): ${unknown.slice(0, 10).join(', ')}`, 'unknown_agents');
          targets = [...new Set(body.names)];
        } else {
          targets = all.filter((a) => matchesFilter(a, body.filter!)).map((a) => a.name);
        }
        if (body.dryRun) return { action, dryRun: true, count: targets.length, names: targets.slice(0, 1000) };
        d.audit().record({ actor: req.principal?.id ?? 'anonymous', action: 'ui.bulk', target: action, detail: { count: targets.length, names: targets.slice(0, 100), ...(body.filter ? { filter: body.filter } : {}) } });
        const results: Array<{ name: string; ok: boolean; error?: string }> = [];
        for (const name of targets) {
          try {
            if (action === 'trigger') await d.control.trigger(name, body.payload);
            else await d.control.action(name, action);
            results.push({ name, ok: true });
          } catch (err) {
            results.push({ name, ok: false, error: err instanceof Error ? err.message : String(err) });
          }
        }
        return { action, dryRun: false, count: targets.length, succeeded: results.filter((r) => r.ok).length, results };
      },
    });
  }

  app.route({
    method: 'GET',
    url: '/api/ui/live',
    config: { permission: 'agents:read' },
    websocket: true,
    preHandler: async (req) => {
      // Browsers always send Origin on a WebSocket; one from another site is refused before the upgrade.
      checkOrigin(req, 'live channel');
      const q = validate(liveQuery, req.query, 'query') as z.output<typeof liveQuery>;
      if (q.view === 'agent') {
        if (!q.agent) throw new BadRequestError('query.agent: required for view=agent');
        const a = await d.control.getAgent(q.agent);
        if (!mayActOn(req.principal, a.name, a.owner)) throw new OpenClawError('forbidden', `agent '${q.agent}' is not one of your team's agents`, { status: 403 });
      }
    },
    handler: (socket, req) => {
      const q = liveQuery.parse(req.query);
      d.live.attach(socket, req, q.view as View, q.agent ?? null, d.onDropped);
    },
  });
}
