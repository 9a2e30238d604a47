import { Agent } from 'openclaw';

/** Emits payload.n 'bench.evt' events in one run (one commit: the outbox gets all n at once). */
export default class Emitter extends Agent {
  override async run(): Promise<void> {
    const p = (this.trigger?.payload ?? {}) as { n?: number };
    const n = p.n ?? 1;
    for (let i = 0; i < n; i++) await this.emit('bench.evt', { i });
  }
}
