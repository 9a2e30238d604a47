// The `jobs:` section of openclaw.yaml and the per-queue policy a queue runs with.
//
//   jobs:
//     concurrency: 32            # jobs at once in this daemon, over all queues
//     queues:
//       resize-image:
//         concurrency: 4         # active jobs of this queue (across daemons sharing a store)
//         key_concurrency: 1     # active jobs per concurrency key
//         rate_limit: 100/min    # starts per window, for the queue
//         key_rate_limit: 10/s   # starts per window, per concurrency key
//         max_attempts: 5
//         backoff: { type: exponential, delay: 1s, max: 5m }
//         timeout: 30s           # per attempt
//         retention: 1d          # completed jobs are deleted after this
//         lease: 30s             # a claim's lease; renewed by a heartbeat every lease/3
//
// A queue's policy is: built-in defaults < the handler's @job(...) options < this section.
// Config wins, so operators can retune a queue without touching code.
//
// A queue's policy and the @job(...) options check are in ./policy.ts (no zod: agent workers load
// them); this file is the daemon side, the section's schema.
import { z } from 'zod';
import { parseDuration } from '../config/units.js';
import { parsedBy } from '../util/zod.js';
import { BACKOFF_TYPES, parseRateLimit } from './policy.js';

export {
  BACKOFF_TYPES,
  DEFAULT_GLOBAL_CONCURRENCY,
  DEFAULT_POLICY,
  backoffDelay,
  checkHandlerOptions,
  formatRateLimit,
  parseRateLimit,
  resolvePolicy,
  type JobHandlerOptions,
  type QueuePolicy,
  type RateLimit,
} from './policy.js';

const duration = (what: string) => parsedBy(z.union([z.string(), z.number()]), parseDuration, what);
const rate = parsedBy(z.string(), parseRateLimit);

const queueSchema = z
  .object({
    concurrency: z.number().int().min(1).max(10_000).optional(),
    key_concurrency: z.number().int().min(1).max(10_000).optional(),
    rate_limit: rate.optional(),
    key_rate_limit: rate.optional(),
    max_attempts: z.number().int().min(1).max(1000).optional(),
    backoff: z
      .object({ type: z.enum(BACKOFF_TYPES), delay: duration('backoff.delay'), max: duration('backoff.max').optional() })
      .strict()
      .optional(),
    timeout: duration('timeout').optional(),
    retention: duration('retention').optional(),
    lease: duration('lease').optional(),
  })
  .strict();

export const jobsSectionSchema = z
  .object({
    concurrency: z.number().int().min(1).max(100_000).optional(),
    queues: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'a queue name: letters, digits, . _ : -'), queueSchema).optional(),
    /** Completed jobs are swept this often (default 1m). */
    sweep_interval: duration('sweep_interval').optional(),
  })
  .strict();

export type JobsSection = z.infer<typeof jobsSectionSchema>;
export type QueueSection = z.infer<typeof queueSchema>;
