// Pipelined JetStream publishing for the NATS bus. A JetStream publish is a core NATS message to the
// stream's subject with a reply subject; the server answers with a PubAck (`{"stream","seq",
// "duplicate"}` or `{"error"}`). The client's `js.publish` does one request per message (a reply
// subscription entry, a timer and, unless disabled, an Error for async traces each): about 45 µs
// of Node CPU per event, which capped the relay near 2–5k events/s. Here every message of a batch
// goes out in order on the one connection with a reply subject under one wildcard subscription,
// with at most `window` PubAcks outstanding; one timer covers the whole batch.
//
// Order: messages leave in the given order on one connection, so the stream stores them in that
// order. Retries: the event id is the `Nats-Msg-Id`, so a batch published again (a failure, or the
// relay crashed before moving its cursor) adds only what the stream did not store — but an event
// whose publish failed lands after later batch-mates that made it (nats-server before 2.12 has no
// atomic batch publish); a failed batch is therefore reported as failed, never partly.
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export interface OutMsg {
  /** The Nats-Msg-Id (the event id). */
  msgId: string;
  data: string | Uint8Array;
  /** Extra headers (e.g. the store sequence). */
  headers?: Array<[string, string]>;
}

export interface PublishResult {
  stored: number;
  duplicates: number;
}

export class JsPublisher {
  private sub: Subscription | null = null;
  private prefix = '';
  private next = 0;
  private readonly waiting = new Map<string, (m: Msg | Error) => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly window = 512,
    private readonly timeoutMs = 10_000,
  ) {}

  private ensure(): void {
    if (this.sub) return;
    this.prefix = `${createInbox()}.`;
    this.sub = this.nc.subscribe(`${this.prefix}*`, {
      callback: (err, m) => {
        if (err) {
          for (const done of this.waiting.values()) done(err);
          this.waiting.clear();
          // The subscription is dead (e.g. a permissions error on the inbox): the next batch subscribes anew.
          this.sub = null;
          return;
        }
        const token = m.subject.slice(this.prefix.length);
        const done = this.waiting.get(token);
        if (!done) return; // late answer of a batch that already failed
        this.waiting.delete(token);
        done(m);
      },
    });
  }

  /** Publishes `msgs` to `subject` in order; resolves when every one has its PubAck, rejects if any failed. */
  publish(subject: string, msgs: OutMsg[]): Promise<PublishResult> {
    if (msgs.length === 0) return Promise.resolve({ stored: 0, duplicates: 0 });
    this.ensure();
    return new Promise<PublishResult>((resolve, reject) => {
      const result: PublishResult = { stored: 0, duplicates: 0 };
      const tokens: string[] = [];
      let sent = 0;
      let answered = 0;
      let failed = false;
      const finish = (err: Error | null): void => {
        if (failed) return;
        if (err) {
          failed = true;
          clearTimeout(timer);
          for (const t of tokens) this.waiting.delete(t);
          reject(err);
        } else if (answered === msgs.length) {
          clearTimeout(timer);
          resolve(result);
        }
      };
      const timer = setTimeout(() => finish(new Error(`JetStream publish: ${msgs.length - answered} of ${msgs.length} PubAcks missing after ${this.timeoutMs} ms`)), this.timeoutMs);
      const onAnswer = (m: Msg | Error): void => {
        answered++;
        if (m instanceof Error) return finish(m);
        const err = pubAckError(m);
        if (err) return finish(err);
        if (/"duplicate":\s*true/.test(m.string())) result.duplicates++;
        else result.stored++;
        if (!failed) send();
        finish(null);
      };
      const send = (): void => {
        while (sent < msgs.length && sent - answered < this.window && !failed) {
          const msg = msgs[sent++]!;
          const token = String(++this.next);
          tokens.push(token);
          this.waiting.set(token, onAnswer);
          const h = headers();
          h.set('Nats-Msg-Id', msg.msgId);
          for (const [k, v] of msg.headers ?? []) h.set(k, v);
          try {
            this.nc.publish(subject, msg.data, { reply: `${this.prefix}${token}`, headers: h });
          } catch (err) {
            return finish(err as Error);
          }
        }
      };
      send();
    });
  }

  close(): void {
    this.sub?.unsubscribe();
    this.sub = null;
    for (const done of this.waiting.values()) done(new Error('JetStream publisher closed'));
    this.waiting.clear();
  }
}

/** A PubAck that is an error: a status message (503 no responders: no stream for the subject) or `{"error"}`. */
function pubAckError(m: Msg): Error | null {
  const code = m.headers?.code ?? 0;
  if (code >= 300 || (m.data.length === 0 && code > 0)) return new Error(`JetStream publish: ${code === 503 ? 'no stream listens on the subject (503)' : `status ${code} ${m.headers?.description ?? ''}`}`);
  if (m.data.length === 0) return new Error('JetStream publish: empty PubAck');
  const s = m.string();
  if (s.includes('"error"')) {
    const e = (JSON.parse(s) as { error?: { code?: number; description?: string } }).error;
    if (e) return new Error(`JetStream publish: ${e.description ?? 'error'} (${e.code ?? '?'})`);
  }
  return null;
}
