// The `security:` section of openclaw.yaml. This file owns the schema; each part of the security
// subsystem adds its own key to SECURITY_SHAPE (secrets, audit here; sandbox, validators and
// rate_limits by the guardrails) without touching the others. Unknown keys are reported with
// file:line and a did-you-mean like every other key.
import { z } from 'zod';
import { parseDuration } from '../config/units.js';
import { eventsSecuritySchema } from './auth/publish-policy.js';
import { GUARDRAILS_SHAPE } from './guardrails/config.js';

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : JSON.stringify(v));

/** A strict mapping whose absence or `null` means "all defaults". */
function section<S extends z.ZodRawShape>(shape: S) {
  return z.preprocess((v) => (v === null || v === undefined ? {} : v), z.object(shape).strict());
}

function duration(def: number, what: string) {
  return z.unknown().transform((v, ctx) => {
    if (v === undefined || v === null) return def;
    try {
      if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`must be a duration such as ${what} (got ${describe(v)})`);
      const ms = parseDuration(v);
      if (ms <= 0) throw new Error(`must be greater than zero (got ${describe(v)})`);
      return ms;
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
      return z.NEVER;
    }
  });
}

const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const AUDIT_CATEGORIES = ['state_change', 'event_emitted', 'agent_lifecycle', 'api_mutation', 'token_use', 'llm_call', 'external_api_call'] as const;
export type AuditCategory = (typeof AUDIT_CATEGORIES)[number];

export const secretsSchema = section({
  backend: z.unknown().transform((v, ctx) => {
    if (v === undefined || v === null || v === 'local') return 'local' as const;
    if (v === 'env') return 'env' as const;
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `${describe(v)} is not supported; use local (encrypted in the project's store, the default) or env (read from environment variables)`,
    });
    return z.NEVER;
  }),
  /** The environment whose values a lookup prefers (OPENCLAW_ENV wins). */
  env: z.unknown().transform((v, ctx) => {
    if (v === undefined || v === null) return null;
    if (typeof v === 'string' && ENV_NAME.test(v)) return v;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an environment name such as production or staging (got ${describe(v)})` });
    return z.NEVER;
  }),
  /** How long the previous value stays valid after `secrets rotate`. */
  rotation_grace: duration(24 * 3_600_000, '24h or 30m'),
});

export const auditSchema = section({
  enabled: z.boolean({ invalid_type_error: 'must be true or false' }).default(true),
  retention: duration(90 * 86_400_000, '90d or 30d'),
  /** Which categories are recorded; secret reads and writes are always recorded. */
  log_events: z
    .array(z.enum(AUDIT_CATEGORIES, { errorMap: () => ({ message: `must be one of ${AUDIT_CATEGORIES.join(', ')}` }) }))
    .default([...AUDIT_CATEGORIES]),
  /** Seed 003 names a backend; the audit log lives in the project's store (SQLite or PostgreSQL). */
  backend: z.unknown().transform((v, ctx) => {
    if (v === undefined || v === null || v === 'store' || v === 'postgresql' || v === 'sqlite') return 'store' as const;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${describe(v)} is not supported; the audit log is kept in the project's store (remove the key, or write store)` });
    return z.NEVER;
  }),
});

/** One key per part of the security subsystem. Guardrails add sandbox / validators / rate_limits here. */
export const SECURITY_SHAPE = {
  secrets: secretsSchema,
  audit: auditSchema,
  /** Which events team tokens may publish (src/security/auth/publish-policy.ts). */
  events: eventsSecuritySchema,
  ...GUARDRAILS_SHAPE, // sandbox, validators, rate_limits
};

export const securitySchema = section(SECURITY_SHAPE);

export type SecurityConfig = z.output<typeof securitySchema>;
export type SecretsConfig = SecurityConfig['secrets'];
export type AuditConfig = SecurityConfig['audit'];

/** The parsed section (defaults when absent). */
export function securityConfig(extensions: Record<string, unknown> | undefined): SecurityConfig {
  const raw = extensions?.security;
  if (raw && typeof raw === 'object' && 'secrets' in raw && 'audit' in raw && 'events' in raw) return raw as SecurityConfig;
  return securitySchema.parse(raw ?? {});
}
