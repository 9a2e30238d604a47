// The NATS JetStream bus: one stream (subject `<stream>.ev`), one durable pull consumer per
// OpenClaw consumer group, a dead-letter stream `<stream>_dlq`.
//
// - Publishing sets `Nats-Msg-Id` to the event id, so the stream drops a batch the relay publishes
//   twice (within `duplicate_window`, default 10 min here). A batch's publishes are in flight
//   together, up to 512 PubAcks outstanding (nats-publish.ts; in order on the connection); if one of them fails, the relay publishes the batch
//   again and the failed event lands after the batch-mates that made it — per-key order can break
//   there (a publish failure, not a normal path). Atomic batch publish (nats-server 2.12) would close it.
// - Consumers: explicit acks, `deliver_policy: new` (a new group sees only later events, as an
//   embedded subscription does), `ack_wait` = the crash lease, and a BOUNDED `max_deliver`
//   (maxDeliveries + 1; JetStream's default is unbounded, so a poison event that kills its
//   consumer would come back for ever). A delivery seen more than maxDeliveries times is written
//   to the DLQ and terminated (+TERM) instead of handed out.
// - Claims pull with `no_wait` (the client's fetch() waits at least 1 s for a batch to fill): a
//   claim returns at once with what is there.
// - Leases and retry times follow the injected clock, as the Bus contract asks: a claimed message
//   stays in flight at the server (kept so with +WPI while its lease or retry time has not come) and
//   its lease lives here. A nacked message waits here for its retry time and is handed out again
//   by this process (a nack is a settled attempt, so it does not spend the server's max_deliver); a
//   lease that runs out makes the next claim send -NAK and pull it again (JetStream redelivers only
//   on a pull: nats-server#1716). If this process dies, `ack_wait` runs out and the server
//   redelivers to any node.
// - Every ack/nak/term waits for the server's reply (JetStream answers an ack sent with a reply
//   subject), so `stats` after an ack sees it.
import { randomUUID } from 'node:crypto';
import { connect, createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, RetentionPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Clock } from '../scheduler/types.js';
import type { DeadLetter } from '../store/types.js';
import type { AckToken, BusDelivery, ClaimRequest, CommitAck, ExternalBus, GroupStats, Nack, NewEvent, StoredEvent, WakeFn } from './types.js';
import { JsPublisher } from './nats-publish.js';
import { encodeEvent, fromJson, WakeHub } from './wire.js';

export interface NatsBusOptions {
  url: string;
  /** Stream name (letters, digits, _ and -); tests use one per test. */
  stream: string;
  clock: Clock;
  /** Deliveries of one message never settled before it is dead-lettered (default 20). */
  maxDeliveries?: number;
  /** The server-side lease: unacknowledged this long after a crash, a message is redelivered (default 60 s). */
  ackWaitMs?: number;
  dedupeWindowMs?: number;
  /** PubAcks outstanding at once while publishing a batch (default 512). */
  publishWindow?: number;
}

interface Held {
  msg: Msg;
  event: StoredEvent;
  attempts: number;
  token: string;
  /** Lease expiry, or the retry time while waiting for one (token ''). */
  until: number;
}

const SEQ_HEADER = 'Openclaw-Seq';
const ns = (ms: number) => ms * 1_000_000;

export class NatsBus implements ExternalBus {
  readonly kind = 'nats' as const;
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private readonly id = randomUUID().slice(0, 8);
  private readonly wakes: WakeHub;
  private readonly subscribed = new Map<string, Set<string>>();
  /** group → stream seq → what this process holds. */
  private readonly held = new Map<string, Map<number, Held>>();
  /** group → stream seq → retries handed out again here (attempts the server did not count). */
  private readonly rehanded = new Map<string, Map<number, number>>();
  private keepalive: NodeJS.Timeout | null = null;
  private publisher!: JsPublisher;
  private readonly maxDeliveries: number;
  private readonly ackWaitMs: number;

  constructor(private readonly opts: NatsBusOptions) {
    this.maxDeliveries = opts.maxDeliveries ?? 20;
    this.ackWaitMs = opts.ackWaitMs ?? 60_000;
    this.wakes = new WakeHub((names) => this.nc?.publish(this.subject('wake'), JSON.stringify({ from: this.id, names })));
  }

  get stream(): string {
    return this.opts.stream;
  }

  private subject(s: string): string {
    return `${this.opts.stream}.${s}`;
  }

  async connect(): Promise<this> {
    // noAsyncTraces: the client otherwise builds an Error (a stack capture) per request to locate a
    // later failure, which was half the relay's CPU at one publish per event.
    this.nc = await connect({ servers: this.opts.url, noAsyncTraces: true });
    this.jsm = await jetstreamManager(this.nc);
    this.js = jetstream(this.nc);
    this.publisher = new JsPublisher(this.nc, this.opts.publishWindow ?? 512);
    const window = ns(this.opts.dedupeWindowMs ?? 600_000);
    // The log keeps a message while a consumer group still needs it (interest retention); the DLQ
    // has no consumers, so it keeps everything (limits).
    for (const [name, subject, retention] of [
      [this.opts.stream, this.subject('ev'), RetentionPolicy.Interest],
      [`${this.opts.stream}_dlq`, this.subject('dlq'), RetentionPolicy.Limits],
    ] as const) {
      await this.jsm.streams.info(name).catch(() => this.jsm.streams.add({ name, subjects: [subject], duplicate_window: window, retention }));
    }
    const sub = this.nc.subscribe(this.subject('wake'), {
      callback: (_err, m) => {
        const w = m.json<{ from: string; names: string[] }>();
        if (w.from !== this.id) this.wakes.local(w.names);
      },
    });
    void sub.closed;
    // In-flight messages whose lease or retry time has not come stay in flight at the server.
    this.keepalive = setInterval(() => this.refresh(), Math.max(1000, this.ackWaitMs / 3));
    this.keepalive.unref();
    return this;
  }

  private refresh(): void {
    const now = this.opts.clock.now();
    for (const group of this.held.values()) for (const h of group.values()) if (h.until > now) h.msg.respond('+WPI');
  }

  async subscribe(group: string, eventNames: string[]): Promise<void> {
    const durable = consumerName(group);
    this.subscribed.set(group, new Set(eventNames));
    this.wakes.subscribe(group, eventNames);
    if (eventNames.length === 0) {
      // No longer subscribed: the group stops holding messages in the log (interest retention).
      await this.jsm.consumers.delete(this.opts.stream, durable).catch(() => false);
      return;
    }
    const config = {
      durable_name: durable,
      description: group,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: ns(this.ackWaitMs),
      max_deliver: this.maxDeliveries + 1,
      max_ack_pending: 20_000,
      filter_subject: this.subject('ev'),
    };
    const existing = await this.jsm.consumers.info(this.opts.stream, durable).catch(() => null);
    if (!existing) await this.jsm.consumers.add(this.opts.stream, config);
  }

  async groups(): Promise<string[]> {
    const out: string[] = [];
    for await (const c of this.jsm.consumers.list(this.opts.stream)) out.push(c.config.description ?? c.name);
    return out;
  }

  append(events: NewEvent[]): Promise<number> {
    return this.add(events, null);
  }

  publishStored(events: StoredEvent[]): Promise<number> {
    return this.add(events, events.map((e) => e.seq));
  }

  /** Publishes in order with a window of PubAcks outstanding (nats-publish.ts); the JSON is built once per event. */
  private async add(events: NewEvent[], seqs: number[] | null): Promise<number> {
    const r = await this.publisher.publish(
      this.subject('ev'),
      events.map((e, i) => ({ msgId: e.id, data: encodeEvent(e), ...(seqs ? { headers: [[SEQ_HEADER, String(seqs[i])] as [string, string]] } : {}) })),
    );
    if (r.stored > 0) this.published(events.map((e) => e.name));
    return r.stored;
  }

  published(eventNames: string[]): void {
    this.wakes.publish(eventNames);
  }

  onWake(group: string, wake: WakeFn): () => void {
    return this.wakes.onWake(group, wake);
  }

  private heldOf(group: string): Map<number, Held> {
    let m = this.held.get(group);
    if (!m) this.held.set(group, (m = new Map()));
    return m;
  }

  async claim(group: string, req: ClaimRequest): Promise<BusDelivery[]> {
    const now = this.opts.clock.now();
    const held = this.heldOf(group);
    const rehanded = this.rehanded.get(group) ?? new Map<number, number>();
    this.rehanded.set(group, rehanded);
    const out: BusDelivery[] = [];
    const lease = (seq: number, h: Held): BusDelivery => {
      h.token = `${group}\u0000${randomUUID()}`;
      h.until = now + req.leaseMs;
      held.set(seq, h);
      return { deliveryId: seq, consumer: group, event: h.event, attempts: h.attempts, leaseToken: h.token, leaseExpiresAt: h.until };
    };
    const expired: Held[] = [];
    for (const [seq, h] of [...held.entries()].sort((a, b) => a[0] - b[0])) {
      if (h.until > now) continue;
      if (h.token === '' && out.length < req.limit) {
        // A retry whose time came: it stayed in flight at the server, so hand it out again here —
        // a nack (handler failure, commit conflict) is not a lost delivery and must not spend
        // the server's max_deliver.
        rehanded.set(seq, (rehanded.get(seq) ?? 0) + 1);
        h.attempts++;
        out.push(lease(seq, h));
      } else if (h.token !== '') {
        // A lease that ran out (its handler hung): back to the server, which redelivers it on this pull.
        held.delete(seq);
        expired.push(h);
      }
    }
    await Promise.all(expired.map((h) => this.settle(h.msg, '-NAK')));
    const subs = this.subscribed.get(group) ?? new Set<string>();
    const msgs = out.length < req.limit && subs.size > 0 ? await this.pull(group, req.limit - out.length) : [];
    const settling: Array<Promise<unknown>> = [];
    for (const msg of msgs) {
      const info = ackInfo(msg.reply!);
      const event = fromJson(msg.string(), Number(msg.headers?.get(SEQ_HEADER) || info.streamSeq));
      if (!subs.has('*') && !subs.has(event.name)) {
        settling.push(this.settle(msg, '+ACK'));
      } else if (info.delivered > this.maxDeliveries) {
        rehanded.delete(info.streamSeq);
        settling.push(this.deadLetter(group, msg, event, info.delivered, `delivered ${info.delivered - 1} times without being settled (the consumer died each time)`));
      } else {
        out.push(lease(info.streamSeq, { msg, event, attempts: info.delivered + (rehanded.get(info.streamSeq) ?? 0), token: '', until: 0 }));
      }
    }
    await Promise.all(settling);
    return out;
  }

  /** One pull with no_wait: whatever is there now, up to `limit`. */
  private async pull(group: string, limit: number): Promise<Msg[]> {
    const inbox = createInbox();
    const msgs: Msg[] = [];
    const sub = this.nc.subscribe(inbox, { timeout: 5000 });
    this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.opts.stream}.${consumerName(group)}`, JSON.stringify({ batch: limit, no_wait: true }), { reply: inbox });
    try {
      for await (const m of sub) {
        if (m.headers && m.headers.code >= 400) break; // 404 no messages, 408 request expired
        if (m.data.length === 0 && m.headers?.code) continue; // heartbeats, flow control
        msgs.push(m);
        if (msgs.length >= limit) break;
      }
    } finally {
      sub.unsubscribe();
    }
    return msgs;
  }

  private async settle(msg: Msg, verb: '+ACK' | '-NAK' | '+TERM'): Promise<void> {
    await this.nc.request(msg.reply!, verb, { timeout: 5000 });
  }

  private async deadLetter(group: string, msg: Msg, event: StoredEvent, attempts: number, error: string): Promise<void> {
    const record: DeadLetter = { deliveryId: ackInfo(msg.reply!).streamSeq, consumer: group, event, attempts, lastError: error, deadAt: this.opts.clock.now() };
    await this.js.publish(this.subject('dlq'), JSON.stringify(record), { msgID: `${group}:${event.id}:${ackInfo(msg.reply!).streamSeq}` });
    await this.settle(msg, '+TERM');
  }

  /** The delivery this token still holds, or null (stale: the lease moved on). */
  private take(t: AckToken): Held | null {
    const h = this.held.get(groupOf(t))?.get(t.deliveryId);
    return h && h.token === t.leaseToken && t.leaseToken !== '' ? h : null;
  }

  async ack(tokens: AckToken[]): Promise<number> {
    const held = tokens.map((t) => [t, this.take(t)] as const).filter(([, h]) => h !== null);
    for (const [t] of held) this.forget(groupOf(t), t.deliveryId);
    await Promise.all(held.map(([, h]) => this.settle(h!.msg, '+ACK')));
    return held.length;
  }

  async nack(nacks: Nack[]): Promise<number> {
    let n = 0;
    for (const x of nacks) {
      const h = this.take(x);
      if (!h) continue;
      n++;
      const group = groupOf(x);
      if (x.dead) {
        this.forget(group, x.deliveryId);
        await this.deadLetter(group, h.msg, h.event, h.attempts, x.error);
      } else {
        // Held (in flight at the server) until its retry time; the claim after that pulls it again.
        h.token = '';
        h.until = x.retryAt ?? this.opts.clock.now();
      }
    }
    return n;
  }

  private forget(group: string, seq: number): void {
    this.held.get(group)?.delete(seq);
    this.rehanded.get(group)?.delete(seq);
  }

  async extend(tokens: AckToken[], leaseMs: number): Promise<number> {
    let n = 0;
    for (const t of tokens) {
      const h = this.take(t);
      if (!h) continue;
      h.until = this.opts.clock.now() + leaseMs;
      h.msg.respond('+WPI');
      n++;
    }
    return n;
  }

  commitAck(): CommitAck {
    return { ackAfterCommit: true };
  }

  async stats(group: string): Promise<GroupStats> {
    const info = await this.jsm.consumers.info(this.opts.stream, consumerName(group)).catch(() => null);
    if (!info) return { depth: 0, lagMs: 0 };
    const depth = info.num_pending + info.num_ack_pending;
    if (depth === 0) return { depth, lagMs: 0 };
    const oldest = await this.jsm.streams.getMessage(this.opts.stream, { seq: info.ack_floor.stream_seq + 1 }).catch(() => null);
    const createdAt = oldest ? (JSON.parse(oldest.string()) as { createdAt: number }).createdAt : this.opts.clock.now();
    return { depth, lagMs: Math.max(0, this.opts.clock.now() - createdAt) };
  }

  /** Dead letters of a group (or all), oldest first, read from the DLQ stream. */
  async deadLetters(group: string | null, limit = 100): Promise<DeadLetter[]> {
    const name = `${this.opts.stream}_dlq`;
    const si = await this.jsm.streams.info(name);
    const out: DeadLetter[] = [];
    for (let seq = si.state.first_seq; seq <= si.state.last_seq && out.length < limit; seq++) {
      const m = await this.jsm.streams.getMessage(name, { seq }).catch(() => null);
      const r = m ? (JSON.parse(m.string()) as DeadLetter) : null;
      if (r && (group === null || r.consumer === group)) out.push(r);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.keepalive) clearInterval(this.keepalive);
    this.publisher?.close();
    await this.nc?.drain().catch(() => undefined);
  }
}

/** Consumer names may not contain `.`, `*`, `>`, slashes or whitespace. */
function consumerName(group: string): string {
  return group.replace(/[.*>/\\\s]/g, '_');
}

function groupOf(t: AckToken): string {
  const i = t.leaseToken.indexOf('\u0000');
  return i < 0 ? '' : t.leaseToken.slice(0, i);
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (with domain and account hash tokens on newer servers). */
function ackInfo(reply: string): { delivered: number; streamSeq: number } {
  const t = reply.split('.');
  const base = t.length >= 12 ? 4 : 2;
  return { delivered: Number(t[base + 2]), streamSeq: Number(t[base + 3]) };
}
