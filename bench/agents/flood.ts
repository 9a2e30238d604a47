import { Agent } from 'openclaw';

/** Logs as fast as it can: lines of `bytes` characters for `seconds` (trigger payload). */
export default class Flood extends Agent {
  override async run(): Promise<void> {
    const p = (this.trigger?.payload ?? {}) as { seconds?: number; bytes?: number };
    const until = Date.now() + (p.seconds ?? 5) * 1000;
    const pad = 'x'.repeat(p.bytes ?? 1024);
    let i = 0;
    while (Date.now() < until && !this.signal.aborted) {
      this.logger.info(`flood ${i++} ${pad}`);
      // Yield now and then so the worker's heartbeat and output flush keep turning.
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
  }
}
