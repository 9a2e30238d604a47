// The external bus backends the relay and daemon tests run against, each on its real local
// service with its own key prefix (Redis) or stream (NATS); unreachable → skipped locally, a
// failure under CI=true (test/helpers/services.ts).
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsBus } from '../../src/bus/nats.js';
import { RedisBus } from '../../src/bus/redis.js';
import type { ExternalBus } from '../../src/bus/types.js';
import type { Clock } from '../../src/scheduler/types.js';
import { haveNats, haveRedis, NATS_URL, REDIS_URL, uniqueSchema } from '../helpers/services.js';

export interface BackendFactory {
  name: string;
  /** A new bus on its own prefix / stream; `ackWaitMs` is the NATS server-side lease. */
  open(clock: Clock, opts?: { maxDeliveries?: number; ackWaitMs?: number }): Promise<ExternalBus>;
  /** Another process's view: a second connection on the same prefix / stream as `bus`. */
  reopen(bus: ExternalBus, clock: Clock, opts?: { ackWaitMs?: number }): Promise<ExternalBus>;
}

const redisPrefixes: string[] = [];

/** Deletes every key under the given prefixes (a test file's afterAll). */
export async function dropRedisPrefixes(prefixes: string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const r = new Redis(REDIS_URL);
  for (const p of prefixes.splice(0)) {
    const keys = await r.keys(`${p}:*`);
    if (keys.length > 0) await r.del(...keys);
  }
  await r.quit();
}

export function redisPrefix(): string {
  const p = `{${uniqueSchema('oc_bus')}}`;
  redisPrefixes.push(p);
  return p;
}

export const redisBackend: BackendFactory = {
  name: 'redis',
  open: (clock, opts = {}) => new RedisBus({ url: REDIS_URL, prefix: redisPrefix(), clock, maxDeliveries: opts.maxDeliveries }).connect(),
  reopen: (bus, clock) => new RedisBus({ url: REDIS_URL, prefix: (bus as RedisBus).prefix, clock }).connect(),
};

const natsStreams: string[] = [];

/** Deletes the test streams (and their DLQ streams). */
export async function dropNatsStreams(names: string[]): Promise<void> {
  if (names.length === 0) return;
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for (const n of names.splice(0)) {
    await jsm.streams.delete(n).catch(() => false);
    await jsm.streams.delete(`${n}_dlq`).catch(() => false);
  }
  await nc.close();
}

export function natsStream(): string {
  const s = uniqueSchema('oc_bus');
  natsStreams.push(s);
  return s;
}

export const natsBackend: BackendFactory = {
  name: 'nats',
  open: (clock, opts = {}) => new NatsBus({ url: NATS_URL, stream: natsStream(), clock, ...opts }).connect(),
  reopen: (bus, clock, opts = {}) => new NatsBus({ url: NATS_URL, stream: (bus as NatsBus).stream, clock, ...opts }).connect(),
};

afterAll(async () => {
  await dropRedisPrefixes(redisPrefixes);
  await dropNatsStreams(natsStreams);
});

/** The backends whose service answers. */
export async function busBackends(): Promise<BackendFactory[]> {
  const out: BackendFactory[] = [];
  if (await haveRedis()) out.push(redisBackend);
  if (await haveNats()) out.push(natsBackend);
  return out;
}
