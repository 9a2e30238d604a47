// The embedded bus: the store's event log and delivery rows are the durable part; this is the
// in-process wake-up that tells a consumer group there is something to claim, so nothing polls
// in a tight loop. (Redis Streams / NATS JetStream relays arrive with scale-out.)

export type WakeFn = () => void;

export class EmbeddedBus {
  /** event name → consumer groups subscribed; '*' holds wildcard subscribers. */
  private readonly byEvent = new Map<string, Set<string>>();
  private readonly wakers = new Map<string, WakeFn>();

  setSubscriptions(consumer: string, eventNames: string[]): void {
    for (const set of this.byEvent.values()) set.delete(consumer);
    for (const name of eventNames) {
      let set = this.byEvent.get(name);
      if (!set) this.byEvent.set(name, (set = new Set()));
      set.add(consumer);
    }
  }

  subscribers(eventName: string): string[] {
    return [...(this.byEvent.get(eventName) ?? []), ...(this.byEvent.get('*') ?? [])];
  }

  /** Registers the wake-up of a consumer group (its dispatcher). */
  register(consumer: string, wake: WakeFn): () => void {
    this.wakers.set(consumer, wake);
    return () => {
      if (this.wakers.get(consumer) === wake) this.wakers.delete(consumer);
    };
  }

  /** Called after events with these names were committed. */
  published(eventNames: string[]): void {
    const woken = new Set<string>();
    for (const name of eventNames) {
      for (const c of this.subscribers(name)) {
        if (woken.has(c)) continue;
        woken.add(c);
        this.wakers.get(c)?.();
      }
    }
  }
}
