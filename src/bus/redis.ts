// The Redis Streams bus: one stream per bus prefix, one consumer group per OpenClaw consumer group.
//
// Layout (every key under `prefix`, e.g. `{openclaw:shop}` — the braces are a cluster hash tag, so
// the Lua scripts touch one slot):
//   P:stream      the log; entry ids are `N-0` with N from P:seq, so N is the deliveryId
//   P:seq         the counter behind entry ids
//   P:id:<event>  dedupe marker per event id (SET NX PX window) for `append` (events not from the store)
//   P:relayed     hash origin → the store-log position (tx:seq) of the last relayed event: a relay
//                 that publishes a batch twice (it crashed before moving its cursor; a stale relay)
//                 adds nothing at or below it. The relay reads in log order, so this one mark does
//                 what a marker per event did at a third of Redis's time (each SET NX PX creates a
//                 key with its own expiry); `origin` is the store's own id (a new store starts over)
//   P:subs:<g>    the event names group g receives ('*' = all); others are acked at claim
//   P:lease:<g>   zset entry id → lease expiry (or retry time), by the daemon's clock
//   P:tok:<g>     hash entry id → ack token of the current lease ('' while waiting for a retry)
//   P:nack:<g>    hash entry id → times it was given back (nack): settled deliveries, not crashes
//   P:dlq         dead letters (group, entry, event, attempts, error, time)
//   P:wake        pub/sub channel: another node published events
//
// Why a lease zset beside the PEL: Redis's own idle time is server time, and the Bus contract judges
// leases and retry times by the injected clock (as the embedded bus does with lease_expires_at), so
// the zset is the lease and the PEL is the durable "not acknowledged" set. Every claim, ack, nack
// and extend is one Lua script, so a crash between "read from the group" and "record the lease"
// cannot happen. Delivery counts are the PEL's own (XREADGROUP sets 1, each XCLAIM adds 1); a
// delivery claimed more than `maxDeliveries` times without being settled (a poison event that kills
// its consumer; nacks — handler failures, commit conflicts — do not count) goes to the DLQ at the
// next claim instead of being handed out again. Handler failures are bounded by the consumer's own
// max_attempts, which nacks with `dead`.
//
// XAUTOCLAIM (`sweep`) looks for what the scripts cannot: PEL entries with no lease record (written
// by hand, or left by a script error), which it hands back to the claim path, and entries whose
// payload was trimmed (Redis 7 drops them from the PEL when XAUTOCLAIM meets them). A consumer is
// deleted only when it has no pending entry (XGROUP DELCONSUMER with pending entries leaves
// unclaimable ghosts: redis/redis#9745).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import type { Clock } from '../scheduler/types.js';
import type { DeadLetter } from '../store/types.js';
import type { AckToken, BusDelivery, ClaimRequest, CommitAck, ExternalBus, GroupStats, Nack, NewEvent, RelayedFrom, StoredEvent, WakeFn } from './types.js';
import { decodeEvent, encodeEvent, WakeHub } from './wire.js';

export interface RedisBusOptions {
  url: string;
  /** Key prefix; default `{openclaw}`. Tests use one per test. */
  prefix?: string;
  clock: Clock;
  /** Deliveries of one entry never settled before it is dead-lettered at claim (default 20). */
  maxDeliveries?: number;
  /** How long a published event id is remembered for dedupe (default 10 min). */
  dedupeWindowMs?: number;
}

const CLAIM = `
local now = tonumber(ARGV[3]); local exp = now + tonumber(ARGV[4]); local limit = tonumber(ARGV[5])
local maxd = tonumber(ARGV[7]); local out = {}
local function num(id) return tonumber(string.match(id, '^(%d+)')) end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
table.sort(due, function(a, b) return num(a) < num(b) end)
for _, id in ipairs(due) do
  local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
  if #c == 0 or not c[1] then
    redis.call('ZREM', KEYS[2], id); redis.call('HDEL', KEYS[3], id); redis.call('XACK', KEYS[1], ARGV[1], id)
  else
    local count = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1][4]
    if count - tonumber(redis.call('HGET', KEYS[6], id) or '0') > maxd then
      redis.call('XACK', KEYS[1], ARGV[1], id); redis.call('ZREM', KEYS[2], id); redis.call('HDEL', KEYS[3], id); redis.call('HDEL', KEYS[6], id)
      redis.call('XADD', KEYS[5], '*', 'g', ARGV[1], 'id', id, 'attempts', count, 'at', now,
        'error', 'delivered ' .. (count - 1) .. ' times without being settled (the consumer died each time)', unpack(c[1][2]))
    else
      local tok = ARGV[6] .. id
      redis.call('ZADD', KEYS[2], exp, id); redis.call('HSET', KEYS[3], id, tok)
      out[#out + 1] = {id, c[1][2], count, tok}
    end
  end
end
local all = redis.call('SISMEMBER', KEYS[4], '*') == 1
for _ = 1, 50 do
  if #out >= limit then break end
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', limit - #out, 'STREAMS', KEYS[1], '>')
  if not r or #r[1][2] == 0 then break end
  for _, en in ipairs(r[1][2]) do
    local id = en[1]; local f = en[2]
    if all or redis.call('SISMEMBER', KEYS[4], f[2]) == 1 then
      local tok = ARGV[6] .. id
      redis.call('ZADD', KEYS[2], exp, id); redis.call('HSET', KEYS[3], id, tok)
      out[#out + 1] = {id, f, 1, tok}
    else
      redis.call('XACK', KEYS[1], ARGV[1], id)
    end
  end
end
return out`;

// Returns 1 or 0 per (id, token): acks of several callers go in one call (RedisBus.ack).
const ACK = `
local out = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[3], id) == ARGV[i + 1] then
    redis.call('XACK', KEYS[1], ARGV[1], id); redis.call('ZREM', KEYS[2], id); redis.call('HDEL', KEYS[3], id); redis.call('HDEL', KEYS[4], id); out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`;

// ARGV: group, now, then (id, token, retryAt | 'dead', error) per delivery.
const NACK = `
local n = 0
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[3], id) == ARGV[i + 1] then
    n = n + 1
    if ARGV[i + 2] == 'dead' then
      local e = redis.call('XRANGE', KEYS[1], id, id)
      local count = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1][4]
      redis.call('XACK', KEYS[1], ARGV[1], id); redis.call('ZREM', KEYS[2], id); redis.call('HDEL', KEYS[3], id); redis.call('HDEL', KEYS[5], id)
      if #e > 0 then
        redis.call('XADD', KEYS[4], '*', 'g', ARGV[1], 'id', id, 'attempts', count, 'at', ARGV[2], 'error', ARGV[i + 3], unpack(e[1][2]))
      end
    else
      redis.call('ZADD', KEYS[2], ARGV[i + 2], id); redis.call('HSET', KEYS[3], id, ''); redis.call('HINCRBY', KEYS[5], id, 1)
    end
  end
end
return n`;

const EXTEND = `
local n = 0
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[i]); n = n + 1
  end
end
return n`;

// ARGV: window, then (event id, name, encoded event, store seq or '') per event.
const APPEND = `
local n = 0
for i = 2, #ARGV, 4 do
  if redis.call('SET', KEYS[3] .. ARGV[i], '1', 'NX', 'PX', ARGV[1]) then
    local c = redis.call('INCR', KEYS[2])
    if ARGV[i + 3] == '' then
      redis.call('XADD', KEYS[1], c .. '-0', 'n', ARGV[i + 1], 'e', ARGV[i + 2])
    else
      redis.call('XADD', KEYS[1], c .. '-0', 'n', ARGV[i + 1], 'e', ARGV[i + 2], 's', ARGV[i + 3])
    end
    n = n + 1
  end
end
return n`;

// ARGV: origin, then (name, encoded event, store seq, tx) per event in log order. Entries at or
// below the origin's mark are skipped; one INCRBY numbers the rest.
const RELAY = `
local function above(tx, sq, htx, hsq)
  if #tx ~= #htx then return #tx > #htx end
  if tx ~= htx then return tx > htx end
  if #sq ~= #hsq then return #sq > #hsq end
  return sq > hsq
end
local first = 2
local mark = redis.call('HGET', KEYS[3], ARGV[1])
if mark then
  local htx, hsq = string.match(mark, '^(%d+):(%d+)$')
  while first <= #ARGV and not above(ARGV[first + 3], ARGV[first + 2], htx, hsq) do first = first + 4 end
end
local n = (#ARGV - first + 1) / 4
if n <= 0 then return 0 end
local c = redis.call('INCRBY', KEYS[2], n) - n
for i = first, #ARGV, 4 do
  c = c + 1
  redis.call('XADD', KEYS[1], c .. '-0', 'n', ARGV[i], 'e', ARGV[i + 1], 's', ARGV[i + 2])
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[#ARGV] .. ':' .. ARGV[#ARGV - 1])
return n`;

type Script = (keys: string[], args: Array<string | number>) => Promise<unknown>;

export class RedisBus implements ExternalBus {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private sub: Redis | null = null;
  readonly prefix: string;
  private readonly consumer = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly wakes: WakeHub;
  private readonly scripts: Record<'claim' | 'ack' | 'nack' | 'extend' | 'append' | 'relay', Script>;
  private readonly maxDeliveries: number;
  private readonly window: number;

  constructor(private readonly opts: RedisBusOptions) {
    this.prefix = opts.prefix ?? '{openclaw}';
    this.maxDeliveries = opts.maxDeliveries ?? 20;
    this.window = opts.dedupeWindowMs ?? 600_000;
    this.redis = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.wakes = new WakeHub((names) => void this.redis.publish(this.key('wake'), JSON.stringify({ from: this.consumer, names })).catch(() => 0));
    const def = (lua: string): Script => {
      const name = `oc${Math.random().toString(36).slice(2)}`;
      this.redis.defineCommand(name, { lua });
      return (keys, args) => (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(keys.length, ...keys, ...args);
    };
    this.scripts = { claim: def(CLAIM), ack: def(ACK), nack: def(NACK), extend: def(EXTEND), append: def(APPEND), relay: def(RELAY) };
  }

  /** Connects and listens for other nodes' wake-ups. */
  async connect(): Promise<this> {
    await this.redis.connect();
    this.sub = this.redis.duplicate();
    await this.sub.subscribe(this.key('wake'));
    this.sub.on('message', (_ch: string, msg: string) => {
      const m = JSON.parse(msg) as { from: string; names: string[] };
      if (m.from !== this.consumer) this.wakes.local(m.names);
    });
    return this;
  }

  private key(k: string): string {
    return `${this.prefix}:${k}`;
  }

  private groupKeys(group: string): string[] {
    return [this.key('stream'), this.key(`lease:${group}`), this.key(`tok:${group}`)];
  }

  async subscribe(group: string, eventNames: string[]): Promise<void> {
    const subs = this.key(`subs:${group}`);
    const m = this.redis.multi().del(subs);
    if (eventNames.length > 0) m.sadd(subs, ...eventNames);
    await m.exec();
    this.wakes.subscribe(group, eventNames);
    // A group with no subscriptions keeps its pending entries but no longer holds the log (sweep).
    if (eventNames.length === 0) return;
    // A new group starts at the end of the log, as an embedded subscription sees only later events.
    await this.redis.xgroup('CREATE', this.key('stream'), group, '$', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
  }

  async groups(): Promise<string[]> {
    const groups = (await this.redis.xinfo('GROUPS', this.key('stream')).catch(() => [])) as Array<Array<string | number>>;
    return groups.map((g) => String(pairs(g).name));
  }

  append(events: NewEvent[]): Promise<number> {
    return this.add(events.map((e) => ({ e, seq: null })));
  }

  async publishStored(events: StoredEvent[], relayed?: RelayedFrom): Promise<number> {
    if (!relayed) return this.add(events.map((e) => ({ e, seq: e.seq })));
    if (events.length === 0) return 0;
    const args: Array<string | number> = [relayed.origin];
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const at = relayed.positions[i]!;
      args.push(e.name, encodeEvent(e), String(at.seq), at.tx);
    }
    const n = Number(await this.scripts.relay([this.key('stream'), this.key('seq'), this.key('relayed')], args));
    if (n > 0) this.published(events.slice(events.length - n).map((e) => e.name));
    return n;
  }

  private async add(items: Array<{ e: NewEvent; seq: number | null }>): Promise<number> {
    if (items.length === 0) return 0;
    const args: Array<string | number> = [this.window];
    for (const { e, seq } of items) args.push(e.id, e.name, encodeEvent(e), seq === null ? '' : seq);
    const n = Number(await this.scripts.append([this.key('stream'), this.key('seq'), this.key('id:')], args));
    if (n > 0) this.published(items.map((i) => i.e.name));
    return n;
  }

  published(eventNames: string[]): void {
    this.wakes.publish(eventNames);
  }

  onWake(group: string, wake: WakeFn): () => void {
    return this.wakes.onWake(group, wake);
  }

  async claim(group: string, req: ClaimRequest): Promise<BusDelivery[]> {
    const now = this.opts.clock.now();
    const keys = [...this.groupKeys(group), this.key(`subs:${group}`), this.key('dlq'), this.key(`nack:${group}`)];
    const tokenPrefix = `${group}\u0000${randomUUID()}:`;
    const rows = (await this.scripts.claim(keys, [group, this.consumer, now, req.leaseMs, req.limit, tokenPrefix, this.maxDeliveries])) as Array<[string, string[], number, string]>;
    return rows.map(([id, fields, attempts, token]) => ({
      deliveryId: entryNumber(id),
      consumer: group,
      event: decodeEvent(fields, entryNumber(id)),
      attempts,
      leaseToken: token,
      leaseExpiresAt: now + req.leaseMs,
    }));
  }

  /**
   * Acks that arrive in the same turn of the event loop go to Redis in one script call per group:
   * a group commit settles its runs together and each run acks its own delivery after the commit,
   * which was one round trip (and one socket write) per event.
   */
  ack(tokens: AckToken[]): Promise<number> {
    if (tokens.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      this.acks.push({ tokens, resolve, reject });
      if (this.acks.length === 1) setImmediate(() => void this.flushAcks());
    });
  }

  private acks: Array<{ tokens: AckToken[]; resolve: (n: number) => void; reject: (err: Error) => void }> = [];

  private async flushAcks(): Promise<void> {
    const batch = this.acks;
    this.acks = [];
    // Per group: the tokens in order, and which caller each belongs to.
    const byGroup = new Map<string, Array<{ t: AckToken; caller: number }>>();
    batch.forEach((b, caller) => {
      for (const t of b.tokens) {
        const group = groupOf(t);
        let list = byGroup.get(group);
        if (!list) byGroup.set(group, (list = []));
        list.push({ t, caller });
      }
    });
    const counts = batch.map(() => 0);
    // A group whose script failed rejects only the callers with a token in it: the others' acks
    // went through, and a caller that sees a rejection takes its own (e.g. nacks the failed ones).
    const failed = new Map<number, Error>();
    await Promise.all(
      [...byGroup].map(async ([group, list]) => {
        try {
          const res = (await this.scripts.ack([...this.groupKeys(group), this.key(`nack:${group}`)], [group, ...list.flatMap(({ t }) => [entryId(t.deliveryId), t.leaseToken])])) as number[];
          list.forEach(({ caller }, i) => (counts[caller]! += Number(res[i] ?? 0)));
        } catch (err) {
          for (const { caller } of list) failed.set(caller, err as Error);
        }
      }),
    );
    batch.forEach((b, i) => {
      const err = failed.get(i);
      if (err) b.reject(err);
      else b.resolve(counts[i]!);
    });
  }

  async nack(nacks: Nack[]): Promise<number> {
    const now = this.opts.clock.now();
    return this.perGroup(nacks, (group, ns) =>
      this.scripts.nack([...this.groupKeys(group), this.key('dlq'), this.key(`nack:${group}`)], [group, now, ...ns.flatMap((n) => [entryId(n.deliveryId), n.leaseToken, n.dead ? 'dead' : (n.retryAt ?? now), n.error])]),
    );
  }

  async extend(tokens: AckToken[], leaseMs: number): Promise<number> {
    const until = this.opts.clock.now() + leaseMs;
    return this.perGroup(tokens, (group, ts) => this.scripts.extend(this.groupKeys(group), [until, ...ts.flatMap((t) => [entryId(t.deliveryId), t.leaseToken])]));
  }

  /** Tokens carry their group (see groupOf): one script call per group. */
  private async perGroup<T extends AckToken>(items: T[], run: (group: string, items: T[]) => Promise<unknown>): Promise<number> {
    const byGroup = new Map<string, T[]>();
    for (const t of items) {
      const group = groupOf(t);
      let list = byGroup.get(group);
      if (!list) byGroup.set(group, (list = []));
      list.push(t);
    }
    let n = 0;
    for (const [group, list] of byGroup) n += Number(await run(group, list));
    return n;
  }

  commitAck(): CommitAck {
    return { ackAfterCommit: true };
  }

  async stats(group: string): Promise<GroupStats> {
    const groups = (await this.redis.xinfo('GROUPS', this.key('stream')).catch(() => [])) as Array<Array<string | number>>;
    const info = groups.map(pairs).find((g) => g.name === group);
    if (!info) return { depth: 0, lagMs: 0 };
    const last = String(info['last-delivered-id'] ?? '0-0');
    const head = Number((await this.redis.get(this.key('seq'))) ?? 0);
    const depth = Number(info.pending ?? 0) + Math.max(0, head - entryNumber(last));
    if (depth === 0) return { depth, lagMs: 0 };
    const summary = (await this.redis.xpending(this.key('stream'), group)) as [number, string | null, string | null, unknown];
    const oldest = summary[0] > 0 && summary[1] ? summary[1] : entryId(entryNumber(last) + 1);
    const [entry] = (await this.redis.xrange(this.key('stream'), oldest, '+', 'COUNT', 1)) as Array<[string, string[]]>;
    const createdAt = entry ? decodeEvent(entry[1], entryNumber(entry[0])).createdAt : this.opts.clock.now();
    return { depth, lagMs: Math.max(0, this.opts.clock.now() - createdAt) };
  }

  /**
   * Housekeeping (the relay owner runs it): XAUTOCLAIM finds PEL entries idle past `orphanIdleMs`
   * that have no lease record and hands them to the claim path; consumers with nothing pending and
   * idle past `orphanIdleMs` are deleted; the stream is trimmed below what every group that still
   * subscribes to something needs.
   */
  async sweep(orphanIdleMs: number): Promise<{ adopted: number; trimmed: number }> {
    const stream = this.key('stream');
    const groups = ((await this.redis.xinfo('GROUPS', stream).catch(() => [])) as Array<Array<string | number>>).map(pairs);
    let adopted = 0;
    let keep = Number((await this.redis.get(this.key('seq'))) ?? 0) + 1;
    for (const g of groups) {
      const group = String(g.name);
      const [, tok] = this.groupKeys(group);
      for (let cursor = '0-0'; ; ) {
        // JUSTID: looking does not count as a delivery.
        const [next, ids] = (await this.redis.xautoclaim(stream, group, this.consumer, orphanIdleMs, cursor, 'COUNT', 100, 'JUSTID')) as [string, string[]];
        for (const id of ids) {
          if ((await this.redis.hexists(tok!, id)) === 0) {
            await this.redis.multi().zadd(this.key(`lease:${group}`), 0, id).hset(tok!, id, '').exec();
            adopted++;
          }
        }
        if (next === '0-0') break;
        cursor = next;
      }
      const consumers = ((await this.redis.xinfo('CONSUMERS', stream, group)) as Array<Array<string | number>>).map(pairs);
      for (const c of consumers) {
        if (Number(c.pending) === 0 && Number(c.idle) >= orphanIdleMs && c.name !== this.consumer) await this.redis.xgroup('DELCONSUMER', stream, group, String(c.name));
      }
      if ((await this.redis.scard(this.key(`subs:${group}`))) === 0) continue; // retired: does not hold the log
      const summary = (await this.redis.xpending(stream, group)) as [number, string | null];
      const needed = summary[0] > 0 && summary[1] ? entryNumber(summary[1]) : entryNumber(String(g['last-delivered-id'])) + 1;
      keep = Math.min(keep, needed);
    }
    const trimmed = groups.length > 0 ? Number(await this.redis.xtrim(stream, 'MINID', entryId(keep))) : 0;
    return { adopted, trimmed };
  }

  /** Dead letters of a group (or all), oldest first. */
  async deadLetters(group: string | null, limit = 100): Promise<DeadLetter[]> {
    const rows = (await this.redis.xrange(this.key('dlq'), '-', '+', 'COUNT', Math.max(limit * 4, 100))) as Array<[string, string[]]>;
    const out: DeadLetter[] = [];
    for (const [, f] of rows) {
      const m = pairs(f);
      if (group !== null && m.g !== group) continue;
      const id = entryNumber(String(m.id));
      const event = decodeEvent(['e', String(m.e), ...(m.s !== undefined ? ['s', String(m.s)] : [])], id);
      out.push({ deliveryId: id, consumer: String(m.g), event, attempts: Number(m.attempts), lastError: String(m.error), deadAt: Number(m.at) });
      if (out.length >= limit) break;
    }
    return out;
  }

  async close(): Promise<void> {
    this.sub?.disconnect();
    await this.redis.quit().catch(() => undefined);
  }
}

function entryId(n: number): string {
  return `${n}-0`;
}

function entryNumber(id: string): number {
  return Number(id.split('-')[0]);
}

/** The group is the first segment of the lease token (`<group>\u0000<uuid>:<entry>`). */
function groupOf(t: AckToken): string {
  const i = t.leaseToken.indexOf('\u0000');
  return i < 0 ? '' : t.leaseToken.slice(0, i);
}

function pairs(a: Array<string | number>): Record<string, string | number> {
  const m: Record<string, string | number> = {};
  for (let i = 0; i + 1 < a.length; i += 2) m[String(a[i])] = a[i + 1]!;
  return m;
}
