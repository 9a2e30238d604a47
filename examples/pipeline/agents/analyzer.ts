// agents/analyzer.ts
import { Agent, on, type AgentEvent } from 'openclaw-runtime';

interface Baseline {
  avg: number;
  stddev: number;
  n: number;
}
type Baselines = Record<string, Record<string, Baseline>>;

interface Batch {
  batch_id: string;
  records: Array<{ source: string; data: { metrics?: Record<string, number> } }>;
}

export interface Anomaly {
  source: string;
  metric: string;
  value: number;
  expected: number;
  deviation: number;
}

/** Analyzes collected data for anomalies and trends. */
export default class Analyzer extends Agent {
  @on('data_collected')
  async analyze(event: AgentEvent<Batch>): Promise<void> {
    const records = event.data.records;
    const batchId = event.data.batch_id;

    const analysis = {
      batch_id: batchId,
      anomalies: [] as Anomaly[],
      trends: [] as unknown[],
      summary: {} as Record<string, unknown>,
    };

    // Load historical baselines from persistent state
    const baselines = await this.state.get<Baselines>('baselines', {});

    for (const record of records) {
      const source = record.source;
      const values = record.data?.metrics ?? {};

      const baseline = baselines[source] ?? {};
      for (const [metric, value] of Object.entries(values)) {
        const avg = baseline[metric]?.avg ?? value;
        const stddev = baseline[metric]?.stddev ?? 0;

        // Flag anomalies beyond 2 standard deviations
        if (stddev > 0 && Math.abs(value - avg) > 2 * stddev) {
          analysis.anomalies.push({
            source,
            metric,
            value,
            expected: avg,
            deviation: Math.round(((value - avg) / stddev) * 100) / 100,
          });
        }
      }

      // Update rolling baselines
      this.updateBaseline(baselines, source, values);
    }

    await this.state.set('baselines', baselines);
    await this.emit('analysis_complete', analysis);
  }

  /** Update rolling average and stddev for each metric. */
  updateBaseline(baselines: Baselines, source: string, values: Record<string, number>): void {
    if (!(source in baselines)) {
      baselines[source] = {};
    }
    for (const [metric, value] of Object.entries(values)) {
      const b = baselines[source]![metric] ?? { avg: value, stddev: 0, n: 0 };
      const n = b.n + 1;
      const oldAvg = b.avg;
      const newAvg = oldAvg + (value - oldAvg) / n;
      b.stddev = Math.sqrt((b.stddev ** 2 * (n - 1) + (value - oldAvg) * (value - newAvg)) / n);
      b.avg = newAvg;
      b.n = n;
      baselines[source]![metric] = b;
    }
  }
}
