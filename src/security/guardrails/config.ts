// The guardrail keys of the `security:` section (seed 003 §11): `sandbox` (network policy),
// `validators` (output validators on emitted events) and `rate_limits` (per-agent defaults).
// src/security/config.ts puts these sub-schemas into SECURITY_SHAPE; nothing else here knows about
// the rest of the section.
import { z } from 'zod';
import { parseNetworkRule } from './network-rules.js';

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : JSON.stringify(v));

function section<S extends z.ZodRawShape>(shape: S) {
  return z.preprocess((v) => (v === null || v === undefined ? {} : v), z.object(shape).strict());
}

const ruleList = (key: string) =>
  z.preprocess(
    (v) => (v === null || v === undefined ? [] : v),
    z.array(
      z.unknown().transform((v, ctx) => {
        if (typeof v !== 'string') {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `each ${key} entry must be a host (api.example.com, *.internal), an IP address or a CIDR range (got ${describe(v)})` });
          return z.NEVER;
        }
        try {
          parseNetworkRule(v);
          return v.trim();
        } catch (err) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
          return z.NEVER;
        }
      }),
      { invalid_type_error: `must be a list of hosts, IP addresses or CIDR ranges` },
    ),
  );

const dnsServer = z.unknown().transform((v, ctx) => {
  // "1.2.3.4", "1.2.3.4:5353", "[::1]:5353", "::1"
  if (typeof v === 'string' && /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:]*:[0-9a-fA-F:.]+)$/.test(v.trim())) return v.trim();
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a DNS server address such as 10.0.0.2, 127.0.0.1:5353 or [::1]:53 (got ${describe(v)})` });
  return z.NEVER;
});

export const sandboxSchema = section({
  /** Agent hosts get no writable path at all (Node's permission model); refused with command agents (src/runtime/sandbox.ts). */
  read_only_filesystem: z.boolean({ invalid_type_error: 'must be true or false' }).optional(),
  allowed_network: ruleList('allowed_network'),
  blocked_network: ruleList('blocked_network'),
  /** Resolve host names with these servers instead of the system resolver (split DNS; tests). */
  dns_servers: z.preprocess((v) => (v === null || v === undefined ? [] : v), z.array(dnsServer, { invalid_type_error: 'must be a list such as ["10.0.0.2", "127.0.0.1:5353"]' })),
});

export const PII_KINDS = ['email', 'phone', 'ssn', 'credit_card'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

const eventsFilter = z
  .array(z.string({ invalid_type_error: 'event names are strings' }).min(1, 'event names are non-empty'), { invalid_type_error: 'must be a list of event names' })
  .optional();

const piiFilter = z
  .object({
    type: z.literal('pii_filter'),
    action: z.enum(['redact', 'block', 'warn'], { errorMap: () => ({ message: 'must be redact, block or warn' }) }),
    fields: z.array(z.enum(PII_KINDS, { errorMap: () => ({ message: `must be one of ${PII_KINDS.join(', ')}` }) })).default([...PII_KINDS]),
    events: eventsFilter,
  })
  .strict();

const jsonSchema = z
  .object({
    type: z.literal('json_schema'),
    action: z.enum(['block', 'warn'], { errorMap: () => ({ message: 'must be block or warn (a schema violation cannot be redacted)' }) }),
    schema_path: z.string({ required_error: 'is required: the JSON Schema file, relative to the project directory' }).min(1),
    events: eventsFilter,
  })
  .strict();

const validator = z.unknown().transform((v, ctx) => {
  const type = v && typeof v === 'object' && !Array.isArray(v) ? (v as { type?: unknown }).type : undefined;
  if (type === 'content_safety') {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message:
        'content_safety is not supported: OpenClaw has no content classifier built in. Remove this validator, or validate the output yourself (an LLM call in the agent, or a json_schema validator for the shape)',
    });
    return z.NEVER;
  }
  const schema = type === 'pii_filter' ? piiFilter : type === 'json_schema' ? jsonSchema : null;
  if (!schema) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `type must be pii_filter or json_schema (got ${describe(type)})` });
    return z.NEVER;
  }
  const r = schema.safeParse(v);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: issue.path } as z.IssueData);
    return z.NEVER;
  }
  return r.data;
});

export const validatorsSchema = z.preprocess((v) => (v === null || v === undefined ? [] : v), z.array(validator, { invalid_type_error: 'must be a list of validators (- type: pii_filter …)' }));

const perMinute = z.number({ invalid_type_error: 'must be a whole number greater than zero' }).int('must be a whole number').positive('must be greater than zero').optional();

export const rateLimitsSchema = section({
  default: section({
    api_calls_per_minute: perMinute,
    events_per_minute: perMinute,
    state_writes_per_minute: perMinute,
    /** Enforced by the LLM router, not here: accepted and passed through. */
    llm_tokens_per_hour: perMinute,
  }),
});

export type SandboxConfig = z.output<typeof sandboxSchema>;
export type ValidatorConfig = z.output<typeof piiFilter> | z.output<typeof jsonSchema>;
export type PiiFilterConfig = z.output<typeof piiFilter>;
export type JsonSchemaValidatorConfig = z.output<typeof jsonSchema>;
export type RateLimitsConfig = z.output<typeof rateLimitsSchema>;

/** The keys this part adds to SECURITY_SHAPE. */
export const GUARDRAILS_SHAPE = {
  sandbox: sandboxSchema,
  validators: validatorsSchema,
  rate_limits: rateLimitsSchema,
};

export interface GuardrailsConfig {
  sandbox: SandboxConfig;
  validators: ValidatorConfig[];
  rate_limits: RateLimitsConfig;
}

const guardrailsSchema = z.object(GUARDRAILS_SHAPE).passthrough();

/**
 * The guardrail keys of the security section (defaults when absent). The sub-schemas are
 * idempotent, so this works on the raw section and on one the security schema already parsed.
 */
export function guardrailsConfig(extensions: Record<string, unknown> | undefined): GuardrailsConfig {
  const raw = (extensions?.security ?? {}) as Record<string, unknown>;
  const parsed = guardrailsSchema.parse({ sandbox: raw.sandbox, validators: raw.validators, rate_limits: raw.rate_limits });
  return { sandbox: parsed.sandbox, validators: parsed.validators as ValidatorConfig[], rate_limits: parsed.rate_limits };
}
