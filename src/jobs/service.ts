// What the jobs module offers its routes and tests (apart from module.ts, so routes.ts does not
// import the module that registers it).
import type { QueuePolicy } from './config.js';
import type { JobRunner } from './runner.js';
import type { JobStore, QueueStats } from './store.js';
import type { EnqueueRequest, EnqueueResult } from './types.js';

export interface QueueView extends QueueStats {
  agent: string | null;
  method: string | null;
  /** false: no enabled agent has a handler for the queue, so its jobs wait. */
  served: boolean;
  running: number;
  policy: {
    concurrency: number;
    keyConcurrency: number | null;
    rateLimit: string | null;
    keyRateLimit: string | null;
    maxAttempts: number;
    backoff: QueuePolicy['backoff'];
    timeoutMs: number | null;
    retentionMs: number;
    leaseMs: number;
  };
}

/** What the routes (and tests) use. */
export interface JobsService {
  store: JobStore;
  runner: JobRunner;
  /** `traceparent`: the caller's trace context (an API request's W3C header); default: the active span. */
  enqueue(reqs: EnqueueRequest[], opts?: { traceparent?: string | null }): Promise<EnqueueResult[]>;
  redrive(opts: { queue?: string; ids?: string[] }): Promise<{ redriven: number }>;
  queues(): Promise<QueueView[]>;
  policyOf(queue: string): QueuePolicy;
  /** The agent whose @job handler serves the queue (a queue belongs to that agent's team), or null. */
  handlerOf(queue: string): string | null;
  /** An agent's owner team: null when it has none, undefined when there is no such agent. */
  ownerOf(agent: string): string | null | undefined;
}

