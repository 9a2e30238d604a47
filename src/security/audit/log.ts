// The daemon's AuditSink: `record()` is synchronous, never throws and never waits on the database.
// Entries go into a bounded in-memory queue that a background loop writes in batches (one
// transaction per batch, chained to the head). A full queue drops (and counts) the entry rather than
// growing without bound or slowing the caller; `openclaw_audit_dropped_total` shows it.
import type { Registry } from 'prom-client';
import type { AuditEntry, AuditSink } from '../../contracts/modules.js';
import { counter, gauge } from '../../observability/metrics.js';
import type { AuditCategory } from '../config.js';
import type { AuditRepo, NewAuditRecord } from './repo.js';

/** Which `log_events` category an action belongs to; null = always recorded (secrets, audit itself). */
export function categoryOf(action: string): AuditCategory | null {
  const p = action.slice(0, action.indexOf('.') + 1);
  switch (p) {
    case 'state.':
      return 'state_change';
    case 'event.':
      return 'event_emitted';
    case 'agent.':
      return 'agent_lifecycle';
    case 'api.':
      return 'api_mutation';
    case 'token.':
      return 'token_use';
    case 'llm.':
      return 'llm_call';
    case 'http.':
      return 'external_api_call';
    default:
      return null;
  }
}

export interface AuditLogOptions {
  repo: AuditRepo;
  now: () => number;
  categories: readonly AuditCategory[];
  metrics?: Registry;
  /** Applied to each entry before it is written (secret redaction). */
  redact?: <T>(v: T) => T;
  onError?: (err: Error) => void;
  maxQueue?: number; // default 10_000
  batchSize?: number; // default 500
  flushMs?: number; // default 200
}

export class AuditLog implements AuditSink {
  private queue: NewAuditRecord[] = [];
  private readonly categories: Set<AuditCategory>;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  dropped = 0;
  written = 0;
  private readonly droppedMetric;
  private readonly writtenMetric;
  private lastErrorAt = 0;

  constructor(private readonly o: AuditLogOptions) {
    this.categories = new Set(o.categories);
    if (o.metrics) {
      this.droppedMetric = counter(o.metrics, { name: 'openclaw_audit_dropped_total', help: 'Audit records dropped because the audit queue was full or the store failed' });
      this.writtenMetric = counter(o.metrics, { name: 'openclaw_audit_records_total', help: 'Audit records written' });
      const depth = gauge(o.metrics, { name: 'openclaw_audit_queue_depth', help: 'Audit records waiting to be written' });
      this.depth = () => depth.set(this.queue.length);
    }
  }

  private depth: () => void = () => {};

  record(entry: AuditEntry): void {
    try {
      if (this.closed) return;
      const cat = categoryOf(entry.action);
      if (cat !== null && !this.categories.has(cat)) return;
      if (this.queue.length >= (this.o.maxQueue ?? 10_000)) {
        this.drop(1);
        return;
      }
      this.queue.push({ time: this.o.now(), actor: String(entry.actor), action: String(entry.action), target: entry.target ?? null, detail: (entry.detail ?? {}) as Record<string, unknown> });
      if (this.queue.length >= (this.o.batchSize ?? 500)) this.kick(0);
      else this.kick(this.o.flushMs ?? 200);
    } catch {
      this.drop(1);
    }
  }

  private drop(n: number): void {
    this.dropped += n;
    this.droppedMetric?.inc(n);
  }

  private kick(delay: number): void {
    if (this.flushing) return; // the running flush loops until the queue is empty
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delay);
    this.timer.unref?.();
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const p: Promise<void> = this.drain().then((retry) => {
      if (this.flushing === p) this.flushing = null;
      if (retry && !this.closed) this.kick(1000);
      else if (this.queue.length > 0 && !this.closed) this.kick(0);
    });
    this.flushing = p;
    return p;
  }

  /** Returns true when the store failed and the rest should be retried later. */
  private async drain(): Promise<boolean> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.o.batchSize ?? 500).map((r) => this.clean(r));
        try {
          await this.o.repo.append(batch);
          this.written += batch.length;
          this.writtenMetric?.inc(batch.length);
        } catch (err) {
          // The store is unavailable: put the batch back if there is room, else count it dropped.
          const room = Math.max(0, (this.o.maxQueue ?? 10_000) - this.queue.length);
          this.queue.unshift(...batch.slice(0, room));
          this.drop(batch.length - Math.min(room, batch.length));
          if (Date.now() - this.lastErrorAt > 60_000) {
            this.lastErrorAt = Date.now();
            this.o.onError?.(err as Error);
          }
          return true;
        }
      }
      return false;
    } finally {
      this.depth();
    }
  }

  /** JSON-normalised (so the stored text hashes the same) and redacted. */
  private clean(r: NewAuditRecord): NewAuditRecord {
    let detail: Record<string, unknown>;
    try {
      detail = JSON.parse(JSON.stringify(r.detail ?? {})) as Record<string, unknown>;
      if (!detail || typeof detail !== 'object' || Array.isArray(detail)) detail = { value: detail };
    } catch {
      detail = { unserializable: true };
    }
    const out = { ...r, detail };
    return this.o.redact ? this.o.redact(out) : out;
  }

  /** Writes what is queued (one attempt) and stops accepting records. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.closed = true;
    await this.flushing;
    await this.drain();
  }
}
