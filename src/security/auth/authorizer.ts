// The control API's `authorize` seam: bearer tokens (API tokens from the store, command agents'
// in-memory tokens), local-trust for loopback callers, the role table, and team / own-agent
// scoping. Sets `req.principal`. Also the audit of token use (sampled) and of every mutation.
import type { FastifyRequest } from 'fastify';
import type { AnsweredRequest, Authorize, Permission, Principal, RouteTarget } from '../../contracts/route.js';
import type { AuditSink } from '../../contracts/modules.js';
import type { AgentTokens } from './agent-tokens.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';
import { isLoopbackAddress, isLoopbackHost, type AuthMode } from './mode.js';
import type { TokenRepository } from './repository.js';
import { roleAllows, rolePermissions } from './roles.js';
import { parseToken, secretMatches } from './tokens.js';

export interface AuthorizerDeps {
  mode: AuthMode;
  tokens: TokenRepository;
  agentTokens: AgentTokens;
  now: () => number;
  /** Read at each use: the security module may install the real audit log after this one starts. */
  audit: () => AuditSink;
  /** An agent's owner team: null when it has none, undefined when there is no such agent. */
  ownerOf: (agent: string) => string | null | undefined;
  /** Why a team may not publish an event (publish-policy.ts), or null when it may. Absent: any. */
  publishRefusal?: (team: string, event: string) => string | null;
  /** Token use is audited (and `last used` written) at most once per token per this many ms. */
  useSampleMs?: number;
}

export interface Authorizer {
  authorize: Authorize;
  onResponse(req: AnsweredRequest, reply: { statusCode: number }): void;
}

const LOCAL: Principal = { id: 'local', role: 'local', team: null };

const MISSING =
  'authentication required: send `Authorization: Bearer <token>`. The CLI sends --token, OPENCLAW_TOKEN or the project\'s .openclaw/token ' +
  '(the daemon writes an admin token there on first start); create more with `openclaw token create --role viewer`';

export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  const sampleMs = deps.useSampleMs ?? 60_000;
  const lastUse = new Map<string, { at: number; uses: number }>();

  function noteUse(p: Principal, tokenId: string, req: FastifyRequest): void {
    const now = deps.now();
    const seen = lastUse.get(tokenId);
    if (seen && now - seen.at < sampleMs) {
      seen.uses++;
      return;
    }
    const uses = (seen?.uses ?? 0) + 1;
    lastUse.set(tokenId, { at: now, uses: 0 });
    if (lastUse.size > 10_000) lastUse.clear();
    deps.audit().record({ actor: p.id, action: 'token.use', target: req.routeOptions.url ?? null, detail: { method: req.method, uses, sampledEveryMs: sampleMs } });
    if (p.role !== 'agent') void deps.tokens.touch(tokenId, now).catch(() => undefined);
  }

  async function authenticate(req: FastifyRequest): Promise<Principal> {
    const header = req.headers.authorization;
    if (header === undefined || header === '') {
      // A dashboard session (src/api/ui/session.ts) stands for an API token: check that token now.
      if (req.sessionToken !== undefined) return apiToken(req.sessionToken, req, null);
      if (deps.mode === 'local-trust' && isLoopbackAddress(req.socket.remoteAddress)) {
        // Loopback trust needs a loopback Host too: a page on a DNS-rebound name (evil.example →
        // 127.0.0.1) reaches this socket from loopback, but its requests name the attacker's host.
        const host = req.headers.host;
        if (host === undefined || isLoopbackHost(host.replace(/:\d+$/, ''))) return LOCAL;
        throw new UnauthorizedError(`local-trust trusts loopback callers that name a loopback host (127.0.0.1, localhost, [::1]); this request named '${host}' (a DNS-rebound name?). Open the daemon at http://127.0.0.1:<port>, or send \`Authorization: Bearer <token>\``);
      }
      throw new UnauthorizedError(MISSING);
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new UnauthorizedError('the Authorization header must be `Bearer <token>`');
    const parsed = parseToken(m[1]!);
    if (!parsed) throw new UnauthorizedError('the bearer token is not an OpenClaw token (expected oc_<id>_<secret>); check --token, OPENCLAW_TOKEN or .openclaw/token');
    if (parsed.kind === 'agent') {
      const a = deps.agentTokens.verify(parsed.id, parsed.secret);
      if (!a) throw new UnauthorizedError('this agent token is no longer valid: its instance ended or the daemon restarted (each spawn gets a fresh OPENCLAW_TOKEN)');
      const p: Principal = { id: `agent:${a.instanceId}`, role: 'agent', team: null, agent: a.agent };
      noteUse(p, a.id, req);
      return p;
    }
    return apiToken(parsed.id, req, parsed.secret);
  }

  /** An API token by id: with its secret (a bearer), or without (a dashboard session made with it). */
  async function apiToken(id: string, req: FastifyRequest, secret: string | null): Promise<Principal> {
    const session = secret === null ? ' (the token this dashboard session was signed in with; sign in again at /ui)' : '';
    const found = await deps.tokens.lookup(id);
    if (!found || (secret !== null && !secretMatches(secret, found.secretHash))) {
      throw new UnauthorizedError(`invalid token ${id}${session}: unknown or wrong secret; create one with \`openclaw token create\``);
    }
    const t = found.record;
    if (t.revokedAt !== null) throw new UnauthorizedError(`token ${t.id} ('${t.name}')${session} was revoked on ${new Date(t.revokedAt).toISOString()}; create a new one with \`openclaw token create\``);
    if (t.expiresAt !== null && t.expiresAt <= deps.now()) {
      throw new UnauthorizedError(`token ${t.id} ('${t.name}')${session} expired on ${new Date(t.expiresAt).toISOString()}; create a new one with \`openclaw token create --expires 30d\``);
    }
    const p: Principal = { id: `token:${t.id}`, role: t.role, team: t.team };
    noteUse(p, t.id, req);
    return p;
  }

  const authorize: Authorize = async (req, permission) => {
    const p = await authenticate(req);
    req.principal = p;
    if (!roleAllows(p.role, permission)) {
      const grants = rolePermissions(p.role);
      throw new ForbiddenError(
        `${describe(p)} may not do this: the route needs permission '${permission}', which role '${p.role}' does not grant ` +
          `(it grants ${grants.length ? grants.join(', ') : 'nothing'}); use a token with a role that does (see docs/api.md, Roles)`,
      );
    }
    if (p.role !== 'agent' && p.team !== null) {
      teamlessCheck(p, permission, req);
      const team = p.team;
      if (permission === 'events:publish') req.publishCheck = (events) => checkPublish(p, team, events);
    }
    // The target is checked after the route parsed its input (defineRoute), on the parsed values
    // the handler acts on: never on the raw query or body here.
    return (target) => checkTarget(p, permission, target);
  };

  function checkTarget(p: Principal, permission: Permission, target: RouteTarget): void {
    if (target === undefined || target.length === 0) {
      if (p.role === 'agent' && !AGENT_UNTARGETED.has(permission)) {
        throw new ForbiddenError(`${describe(p)} is scoped to agent '${p.agent}' and may only act on that agent`);
      }
      if (p.role !== 'agent' && p.team !== null && permission === 'events:admin') {
        throw new ForbiddenError(`${describe(p)} belongs to team '${p.team}': redrive the dead letters of one of its agents by naming it (\`agent\` in the body)`);
      }
      return;
    }
    for (const agent of target) {
      if (p.role === 'agent') {
        if (agent !== p.agent) throw new ForbiddenError(`${describe(p)} is scoped to agent '${p.agent}'; it may not use '${permission}' on agent '${agent}'`);
        continue;
      }
      if (p.team === null) continue;
      const owner = deps.ownerOf(agent);
      // No such agent (or the daemon's own log, `/api/agents/daemon/logs`): nothing a team owns.
      if (owner === undefined) {
        throw new ForbiddenError(`${describe(p)} belongs to team '${p.team}' and may only use '${permission}' on that team's agents; '${agent}' is not one of them`);
      }
      if (owner !== p.team) {
        throw new ForbiddenError(
          `${describe(p)} belongs to team '${p.team}' and may not use '${permission}' on agent '${agent}', which ${owner === null ? 'has no owner team' : `belongs to team '${owner}'`}; ` +
            'use a token of that team or one without a team',
        );
      }
    }
  }

  function checkPublish(p: Principal, team: string, events: readonly string[]): void {
    for (const event of events) {
      const why = deps.publishRefusal?.(team, event) ?? null;
      if (why !== null) throw new ForbiddenError(`${describe(p)} belongs to team '${team}' and may not publish '${event}': ${why}`);
    }
  }

  function onResponse(req: AnsweredRequest, reply: { statusCode: number }): void {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const route = req.routeOptions.url ?? null;
    deps.audit().record({
      actor: req.principal?.id ?? 'anonymous',
      action: 'api.mutation',
      target: route,
      detail: { method: req.method, route, status: reply.statusCode },
    });
  }

  return { authorize, onResponse };
}

/**
 * What a team token may not do, whatever its role: act on things no team owns and that reach every
 * team — stop the daemon, read the audit log, write secrets (any agent may use them), manage LLM keys
 * and read the usage of every agent, redrive dead jobs across queues (a team reads and enqueues
 * only the jobs of its queues: the job routes name the queue's handler agent as their target), the
 * Prometheus metrics (every agent's series, labelled by agent), and start, cancel or retry workflow runs (no owner; their steps call any agent). Of the workflow
 * routes it reads only the approvals it may decide (docs/api.md, Teams).
 */
const TEAMLESS_ONLY = new Set<Permission>(['daemon:admin', 'audit:read', 'secrets:write', 'llm:keys', 'usage:read', 'jobs:admin', 'workflows:run', 'metrics:read']);
const TEAM_WORKFLOW_READS = new Set(['/api/approvals']);

function teamlessCheck(p: Principal, permission: Permission, req: FastifyRequest): void {
  const refused = TEAMLESS_ONLY.has(permission) || (permission === 'workflows:read' && !TEAM_WORKFLOW_READS.has(req.routeOptions.url ?? ''));
  if (!refused) return;
  throw new ForbiddenError(
    `${describe(p)} belongs to team '${p.team}', and '${permission}' on ${req.routeOptions.url ?? 'this route'} reaches beyond any one team; ` +
      'use a token without a team (see docs/api.md, Teams)',
  );
}

/** Permissions an agent token may use on routes that name no agent (it publishes; it lists only itself). */
const AGENT_UNTARGETED = new Set<Permission>(['events:publish', 'agents:read']);

function describe(p: Principal): string {
  if (p.role === 'agent') return `the agent token of ${p.id.slice('agent:'.length)}`;
  if (p.role === 'local') return 'a local-trust caller';
  return `token ${p.id.slice('token:'.length)} (role ${p.role}${p.team ? `, team ${p.team}` : ''})`;
}
