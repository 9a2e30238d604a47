// Roles and what they may do: seed 003 §11 (admin ["*"]; developer agents:read/create/update,
// logs:read, state:read; viewer agents:read, logs:read), extended over the whole Permission
// vocabulary of src/contracts/route.ts. docs/api.md shows the same table; test/security checks every
// route against it.
//
// Two roles are internal: `agent` (a command agent's own token: its own state, logs and status,
// publishing events; nothing else) and `local` (local-trust on loopback: everything).
import type { Permission, Principal } from '../../contracts/route.js';

export type Role = Principal['role'];
/** Roles a token can be created with. */
export const TOKEN_ROLES = ['admin', 'developer', 'viewer', 'ingest', 'metrics'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/**
 * Every permission, with a one-line meaning. `satisfies Record<Permission, …>` makes a permission
 * added to route.ts without a line here a compile error, so the table below stays total.
 */
export const PERMISSIONS = {
  public: 'no credentials (probes, webhooks, /v1 with its own keys)',
  'health:read': 'daemon health',
  'agents:read': 'list and inspect agents, runs, transitions',
  'agents:create': 'add agents',
  'agents:update': 'start, stop, pause, resume, restart agents',
  'agents:trigger': 'run an agent now',
  'state:read': "read an agent's state and its versions",
  'state:write': "write or roll back an agent's state",
  'logs:read': 'read and follow logs',
  'events:read': 'list events and dead letters',
  'events:publish': 'publish events',
  'events:admin': 'redrive dead letters',
  'daemon:admin': 'stop the daemon',
  'metrics:read': 'Prometheus metrics',
  'tokens:admin': 'create, list, revoke API tokens',
  'secrets:read': 'list secret names and versions (never values)',
  'secrets:write': 'set, rotate, delete secrets',
  'audit:read': 'read and verify the audit log',
  'llm:keys': 'manage LLM virtual keys',
  'usage:read': 'LLM usage and spend',
  'jobs:read': 'list and inspect jobs',
  'jobs:write': 'enqueue and cancel jobs',
  'jobs:admin': 'queues: pause, purge, retry dead jobs',
  'workflows:read': 'list and inspect workflows and runs',
  'workflows:run': 'start and cancel workflow runs',
  'workflows:approve': 'approve or reject workflow steps',
  'streams:read': 'list streams, tail them, read dead letters and window results',
  'streams:ingest': 'append events to a stream (a team token: only streams its team owns)',
} as const satisfies Record<Permission, string>;

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

const ROLE_TABLE: Record<Role, readonly (Permission | '*')[]> = {
  admin: ['*'],
  developer: [
    // seed 003 §11
    'agents:read',
    'agents:create',
    'agents:update',
    'logs:read',
    'state:read',
    // operating agents day to day
    'health:read',
    'agents:trigger',
    'events:read',
    'events:publish',
    'metrics:read',
    'usage:read',
    'secrets:read',
    'jobs:read',
    'jobs:write',
    'workflows:read',
    'workflows:run',
    'streams:read',
    'streams:ingest',
  ],
  viewer: [
    // seed 003 §11
    'agents:read',
    'logs:read',
    // read-only views without state or secrets
    'health:read',
    'events:read',
    'metrics:read',
    'usage:read',
    'jobs:read',
    'workflows:read',
    'streams:read',
  ],
  // A producer's token: appends to streams and nothing else (scope it to a team's streams with --team).
  ingest: ['streams:ingest'],
  // A Prometheus scraper's token (`openclaw token create --role metrics`): metrics and health only.
  metrics: ['metrics:read', 'health:read'],
  // A command agent's own token: every check is also scoped to its own agent (authorizer.ts).
  agent: ['agents:read', 'state:read', 'state:write', 'logs:read', 'events:publish'],
  local: ['*'],
};

/** Whether `role` grants `permission` (before team and agent scoping). */
export function roleAllows(role: Role, permission: Permission): boolean {
  if (permission === 'public') return true;
  const granted = ROLE_TABLE[role];
  return granted.includes('*') || granted.includes(permission);
}

/** The permissions a role grants, expanded ('*' → all), for docs and `token list`. */
export function rolePermissions(role: Role): Permission[] {
  return ALL_PERMISSIONS.filter((p) => p !== 'public' && roleAllows(role, p));
}

export function isTokenRole(v: string): v is TokenRole {
  return (TOKEN_ROLES as readonly string[]).includes(v);
}
