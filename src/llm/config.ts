// The `llm:` section of openclaw.yaml (seed 003 §10): providers, defaults (primary, fallback,
// timeout, retries, cooldown), budgets (global and per agent, daily and monthly in a time zone),
// token limits, the response cache and price overrides. Validated here; the loader reports issues
// with file:line like every other key and puts the parsed value on config.extensions.llm.
import { z } from 'zod';
import { parseDuration, validateTimeZone } from '../config/units.js';
import { providersSchema, priceOverridesSchema } from './providers/config.js';
import { checkModels } from './model-checks.js';

const money = z.number({ invalid_type_error: 'must be an amount in USD such as 5 or 0.25' }).nonnegative('must not be negative');
const count = z.number({ invalid_type_error: 'must be a whole number' }).int('must be a whole number').positive('must be greater than zero');

function duration(def: number) {
  return z
    .union([z.string(), z.number()], { errorMap: () => ({ message: 'must be a duration such as 30s, 5m or 1h' }) })
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return def;
      try {
        const ms = parseDuration(v);
        if (ms <= 0) throw new Error('must be greater than zero');
        return ms;
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        return z.NEVER;
      }
    });
}

const budgetSchema = z
  .object({
    daily_limit_usd: money.optional(),
    monthly_limit_usd: money.optional(),
    alert_at_pct: z.number().gt(0, 'must be a percentage above 0').max(100, 'must be a percentage up to 100').default(80),
  })
  .strict();

const agentBudgetSchema = budgetSchema
  .extend({ llm_tokens_per_hour: count.optional(), tokens_per_minute: count.optional() })
  .strict();

const defaultsSchema = z
  .object({
    primary: z.string().min(1).optional(),
    fallback: z.array(z.string().min(1)).default([]),
    timeout: duration(30_000),
    /** Retries of the same model on 429, 5xx and connection errors before moving on. */
    max_retries: z.number().int().min(0).max(10).default(2),
    /** A Retry-After above this is not waited for: the router moves to the next model. */
    max_retry_wait: duration(30_000),
    /** No fallback for any call unless the call asks otherwise. */
    strict: z.boolean().default(false),
    /** Consecutive failures of one provider+model that put it in cooldown. */
    cooldown_after: z.number().int().min(1).default(3),
    cooldown: duration(30_000),
  })
  .strict();

const limitsSchema = z
  .object({
    max_input_tokens: count.optional(),
    input_policy: z.enum(['reject', 'truncate', 'upgrade']).default('reject'),
    upgrade_model: z.string().min(1).optional(),
    max_output_tokens: count.default(4096),
    /** Per agent (each agent its own window); a key's own tpm is on the key. */
    tokens_per_minute: count.optional(),
    per_session_tokens: count.optional(),
    /** Per end user per day. */
    per_user_tokens: count.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.input_policy === 'upgrade' && !v.upgrade_model) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['upgrade_model'], message: "is required when input_policy is 'upgrade': name a model with a larger context window" });
    }
  });

const cacheSchema = z
  .object({
    exact: z.object({ enabled: z.boolean().default(false), ttl: duration(3_600_000) }).strict().default({}),
    semantic: z
      .object({
        enabled: z.boolean().default(false),
        embedding_model: z.string().min(1).optional(),
        threshold: z.number().gt(0).max(1).default(0.95),
        ttl: duration(3_600_000),
      })
      .strict()
      .default({})
      .superRefine((v, ctx) => {
        if (v.enabled && !v.embedding_model) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['embedding_model'], message: 'is required when the semantic cache is enabled: name an embedding model, e.g. text-embedding-3-small' });
      }),
  })
  .strict();

const budgetsSchema = z
  .object({
    timezone: z
      .string()
      .default('UTC')
      .superRefine((tz, ctx) => {
        try {
          validateTimeZone(tz);
        } catch (err) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        }
      }),
    global: budgetSchema.optional(),
    per_agent: z.record(z.string(), agentBudgetSchema).default({}),
  })
  .strict();

export const llmConfigSchema = z.preprocess(
  (v) => (v === null || v === undefined ? {} : v),
  z
    .object({
      providers: providersSchema.default({}),
      defaults: defaultsSchema.default({}),
      budgets: budgetsSchema.default({}),
      limits: limitsSchema.default({}),
      cache: cacheSchema.default({}),
      prices: priceOverridesSchema.optional(),
    })
    .strict()
    .superRefine((llm, ctx) => {
      for (const i of checkModels(llm)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: i.path, message: i.message });
    }),
);

export type LlmConfig = z.output<typeof llmConfigSchema>;
export type BudgetLimits = z.output<typeof budgetSchema>;
export type AgentBudget = z.output<typeof agentBudgetSchema>;

/** The parsed llm: section, defaults filled (for tests and modules built without a file). */
export function parseLlmConfig(raw: unknown): LlmConfig {
  return llmConfigSchema.parse(raw);
}
