// Row shapes both dialects select (same column names, numbers as JS numbers) and their mapping to
// the contract's types, so the two implementations cannot drift in what they return.
import type { DeadLetter, Delivery, RunRecord, RunStatus, RunTrigger, StateEntry, StateVersionInfo, StoredEvent, Transition } from './types.js';

export interface StateRow {
  key: string;
  value: string;
  version: number;
  expires_at: number | null;
}

export function toStateEntry(r: StateRow): StateEntry {
  return { key: r.key, value: JSON.parse(r.value), version: r.version, expiresAt: r.expires_at };
}

export interface VersionRow {
  version: number;
  created_at: number;
  size_bytes: number;
  key_count: number;
  changed_keys: string;
  run_id: string | null;
  reason: string;
}

export function toVersionInfo(r: VersionRow): StateVersionInfo {
  return {
    version: r.version,
    createdAt: r.created_at,
    sizeBytes: r.size_bytes,
    keyCount: r.key_count,
    changedKeys: JSON.parse(r.changed_keys),
    runId: r.run_id,
    reason: r.reason,
  };
}

export interface EventRow {
  seq: number;
  id: string;
  name: string;
  payload: string;
  source: string | null;
  created_at: number;
  trace_id: string | null;
  order_key: string | null;
}

export function toEvent(r: EventRow): StoredEvent {
  const e: StoredEvent = { seq: r.seq, id: r.id, name: r.name, payload: JSON.parse(r.payload), source: r.source, createdAt: r.created_at, traceId: r.trace_id, ...(r.order_key !== null ? { key: r.order_key } : {}) };
  // A full traceparent (00-<trace>-<span>-<flags>) since events continue their emitter's trace.
  if (r.trace_id && r.trace_id.length === 55 && r.trace_id.startsWith('00-')) {
    e.traceparent = r.trace_id;
    e.traceId = r.trace_id.slice(3, 35);
  }
  return e;
}

/** Delivery columns prefixed `d_` next to the event's columns. */
export interface DeliveryRow extends EventRow {
  d_id: number;
  d_consumer: string;
  d_attempts: number;
  d_lease_token: string | null;
  d_lease_expires_at: number | null;
  d_last_error: string | null;
  d_dead_at: number | null;
}

export function toDelivery(r: DeliveryRow): Delivery {
  return {
    deliveryId: r.d_id,
    consumer: r.d_consumer,
    event: toEvent(r),
    attempts: r.d_attempts,
    leaseToken: r.d_lease_token!,
    leaseExpiresAt: r.d_lease_expires_at!,
  };
}

export function toDeadLetter(r: DeliveryRow): DeadLetter {
  return { deliveryId: r.d_id, consumer: r.d_consumer, event: toEvent(r), attempts: r.d_attempts, lastError: r.d_last_error, deadAt: r.d_dead_at! };
}

export interface RunRow {
  id: string;
  agent: string;
  instance: string | null;
  trigger: string;
  status: string;
  scheduled_at: number | null;
  started_at: number;
  finished_at: number;
  error: string | null;
  reason: string | null;
  event_id: string | null;
}

export function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    agent: r.agent,
    instance: r.instance,
    trigger: r.trigger as RunTrigger,
    status: r.status as RunStatus,
    scheduledAt: r.scheduled_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
    reason: r.reason,
    eventId: r.event_id,
  };
}

/** Only succeeded and failed runs are runs; missed/skipped/conflict are records that touch no stats. */
export function countsAsRun(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed';
}

export interface TransitionRow {
  agent: string;
  instance: string | null;
  from_state: string;
  to_state: string;
  reason: string;
  at: number;
}

export function toTransition(r: TransitionRow): Transition {
  return { agent: r.agent, instance: r.instance, from: r.from_state, to: r.to_state, reason: r.reason, at: r.at };
}

/** Default page sizes when a caller gives no limit. */
export const DEFAULT_LIMIT = 100;
