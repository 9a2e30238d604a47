// Pipeline step 1: every 5 s, "collects" metrics from a few services. Offline, so the numbers are
// synthetic: steady noise, with a latency spike on every 8th batch for the analyzer to catch.
import { Agent, Schedule } from 'openclaw-runtime';

const BASE: Record<string, { latency_ms: number; error_rate: number; rps: number }> = {
  checkout: { latency_ms: 180, error_rate: 0.01, rps: 40 },
  search: { latency_ms: 90, error_rate: 0.002, rps: 220 },
  payments: { latency_ms: 260, error_rate: 0.005, rps: 15 },
};

function jitter(value: number, spread: number): number {
  return Math.round(value * (1 + (Math.random() * 2 - 1) * spread) * 1000) / 1000;
}

export default class Collector extends Agent {
  static schedule = Schedule.every({ seconds: 5 });

  override async run(): Promise<void> {
    const batchNo = (await this.state.get<number>('batches', 0)) + 1;
    const spike = batchNo % 8 === 0;
    const sources = this.config.get<string[]>('sources', Object.keys(BASE));

    const records = sources.map((source) => {
      const base = BASE[source] ?? { latency_ms: 100, error_rate: 0.01, rps: 50 };
      return {
        source,
        data: {
          metrics: {
            latency_ms: jitter(spike && source === 'checkout' ? base.latency_ms * 4 : base.latency_ms, 0.05),
            error_rate: jitter(base.error_rate, 0.1),
            rps: jitter(base.rps, 0.05),
          },
        },
        collected_at: this.nowIso(),
      };
    });

    await this.state.set('batches', batchNo);
    await this.state.set('last_batch_at', this.nowIso());
    await this.emit('metrics_collected', { batch_id: this.generateId(), batch_no: batchNo, records, count: records.length });
    this.metrics.counter('batches_collected');
    this.logger.info(`batch #${batchNo}: ${records.length} records${spike ? ' (checkout latency spike)' : ''}`);
  }
}
