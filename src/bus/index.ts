// What the bus folder offers the daemon: `openBus` builds the configured backend — the embedded bus
// on the store, or Redis Streams / NATS JetStream fed by the outbox relay with the consumers' inbox
// in the store (outbox-bus.ts) — and its housekeeping timers.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { BusConfig } from '../config/types.js';
import type { Clock } from '../scheduler/types.js';
import type { Store } from '../store/types.js';
import { EmbeddedBus } from './embedded.js';
import { OutboxBus } from './outbox-bus.js';
import { OutboxStore, outboxStoreModule } from './outbox-store.js';
import type { RedisBus } from './redis.js';
import { OutboxRelay } from './relay.js';
import type { Bus, ExternalBus } from './types.js';

export type { Bus } from './types.js';
export { OutboxBus } from './outbox-bus.js';

export interface OpenedBus {
  bus: Bus;
  /** Stops the relay (handing its lease over) and closes the connections. */
  close(): Promise<void>;
}

/** Inbox rows are kept this long: a redelivery comes within a lease, not a day later. */
const INBOX_RETENTION_MS = 24 * 3_600_000;
/** PEL entries with no lease record and idle this long are adopted by the sweep (Redis). */
const ORPHAN_IDLE_MS = 10 * 60_000;

export async function openBus(cfg: BusConfig | undefined, store: Store, clock: Clock, opts: { project: string; nodeId?: string; onError?: (err: Error) => void }): Promise<OpenedBus> {
  if (!cfg || cfg.backend === 'embedded') return { bus: new EmbeddedBus(store, clock, opts.nodeId), close: async () => undefined };
  const name = cfg.name ?? opts.project.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  // The clients (ioredis, the NATS client) load only when configured: an embedded daemon never pays for them.
  let external: ExternalBus;
  let sweep: ((idleMs: number) => Promise<unknown>) | null = null;
  if (cfg.backend === 'redis') {
    const { RedisBus } = await import('./redis.js');
    const redis: RedisBus = await new RedisBus({ url: cfg.url!, prefix: `{openclaw:${name}}`, clock, maxDeliveries: cfg.maxDeliveries }).connect();
    sweep = (idleMs) => redis.sweep(idleMs);
    external = redis;
  } else {
    const { NatsBus } = await import('./nats.js');
    external = await new NatsBus({ url: cfg.url!, stream: `openclaw_${name}`, clock, maxDeliveries: cfg.maxDeliveries }).connect();
  }
  await store.migrateModule(outboxStoreModule);
  const outbox = new OutboxStore(store.handle());
  const owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const relay = new OutboxRelay(outbox, external, { stream: `${cfg.backend}:${name}`, owner, clock, onError: opts.onError });
  // Take the lease (or see who holds it) before anything can commit events: a first relay starts
  // at the head of the log.
  await relay.pass();
  relay.start();
  const timers = [
    setInterval(() => {
      if (relay.stats.active && sweep) void sweep(ORPHAN_IDLE_MS).catch((err: Error) => opts.onError?.(err));
    }, 60_000),
    setInterval(() => void outbox.prune(clock.now() - INBOX_RETENTION_MS).catch((err: Error) => opts.onError?.(err)), 3_600_000),
  ];
  for (const t of timers) t.unref();
  return {
    bus: new OutboxBus(store, external, relay, outbox),
    async close() {
      for (const t of timers) clearInterval(t);
      await relay.stop();
      await external.close();
    },
  };
}
