// What the external buses share: how an event travels as bytes, and the in-process wake-ups of
// consumer groups (the embedded bus uses the same hub).
import type { NewEvent, StoredEvent, WakeFn } from './types.js';

/** The event as JSON, without its sequence number (the bus or the store gives that). */
export function encodeEvent(e: NewEvent): string {
  return JSON.stringify({ id: e.id, name: e.name, payload: e.payload, source: e.source, createdAt: e.createdAt, traceId: e.traceId ?? null, traceparent: e.traceparent ?? null, key: e.key ?? null });
}

/** Redis entry fields [n, name, e, json, (s, store seq)]; `position` is the seq when no store seq was sent. */
export function decodeEvent(fields: string[], position: number): StoredEvent {
  let json = '{}';
  let seq = position;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'e') json = fields[i + 1]!;
    else if (fields[i] === 's' && fields[i + 1] !== '') seq = Number(fields[i + 1]);
  }
  return fromJson(json, seq);
}

export function fromJson(json: string, seq: number): StoredEvent {
  const e = JSON.parse(json) as NewEvent;
  const out: StoredEvent = { seq, id: e.id, name: e.name, payload: e.payload, source: e.source, createdAt: e.createdAt, traceId: e.traceId ?? null };
  if (e.traceparent) out.traceparent = e.traceparent;
  if (e.key !== null && e.key !== undefined) out.key = e.key;
  return out;
}

/**
 * Which groups want which event names, and their wake-up callbacks. `publish` wakes local groups
 * and tells other nodes (the `remote` callback); `local` is what arrives from them.
 */
export class WakeHub {
  /** event name → consumer groups subscribed; '*' holds wildcard subscribers. */
  private readonly byEvent = new Map<string, Set<string>>();
  private readonly wakers = new Map<string, Set<WakeFn>>();

  constructor(private readonly remote: (eventNames: string[]) => void = () => undefined) {}

  subscribe(group: string, eventNames: string[]): void {
    for (const set of this.byEvent.values()) set.delete(group);
    for (const name of eventNames) {
      let set = this.byEvent.get(name);
      if (!set) this.byEvent.set(name, (set = new Set()));
      set.add(group);
    }
  }

  subscribers(eventName: string): string[] {
    return [...new Set([...(this.byEvent.get(eventName) ?? []), ...(this.byEvent.get('*') ?? [])])];
  }

  publish(eventNames: string[]): void {
    this.local(eventNames);
    this.remote(eventNames);
  }

  local(eventNames: string[]): void {
    const woken = new Set<string>();
    for (const name of new Set(eventNames)) {
      for (const g of this.subscribers(name)) {
        if (woken.has(g)) continue;
        woken.add(g);
        for (const w of this.wakers.get(g) ?? []) w();
      }
    }
  }

  onWake(group: string, wake: WakeFn): () => void {
    let set = this.wakers.get(group);
    if (!set) this.wakers.set(group, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
    };
  }
}
