// Pipeline step 2: keeps rolling baselines (mean and standard deviation per service and metric)
// in persistent state and flags values beyond `threshold_sigma` deviations. Restart the daemon
// and the baselines are still there: `openclaw state list analyzer`.
import { Agent, on, type AgentEvent } from 'openclaw-runtime';

interface Baseline {
  avg: number;
  stddev: number;
  n: number;
}
type Baselines = Record<string, Record<string, Baseline>>;

interface Batch {
  batch_id: string;
  batch_no: number;
  records: Array<{ source: string; data: { metrics: Record<string, number> } }>;
}

export default class Analyzer extends Agent {
  @on('metrics_collected')
  async analyze(event: AgentEvent<Batch>): Promise<void> {
    const sigma = this.config.get<number>('threshold_sigma', 2);
    const baselines = await this.state.get<Baselines>('baselines', {});
    const anomalies: Array<{ source: string; metric: string; value: number; expected: number; deviation: number }> = [];

    for (const record of event.data.records) {
      const values = record.data.metrics;
      const baseline = (baselines[record.source] ??= {});
      for (const [metric, value] of Object.entries(values)) {
        const b = baseline[metric];
        // Judge against the baseline before this value joins it; wait for a few samples.
        if (b && b.n >= 5 && b.stddev > 0 && Math.abs(value - b.avg) > sigma * b.stddev) {
          anomalies.push({ source: record.source, metric, value, expected: Math.round(b.avg * 1000) / 1000, deviation: Math.round(((value - b.avg) / b.stddev) * 100) / 100 });
        }
        baseline[metric] = update(b, value);
      }
    }

    const analysis = { batch_id: event.data.batch_id, batch_no: event.data.batch_no, anomalies, analyzed_at: this.nowIso() };
    await this.state.set('baselines', baselines);
    await this.state.set('batches_analyzed', (await this.state.get<number>('batches_analyzed', 0)) + 1);
    await this.state.set('anomalies_total', (await this.state.get<number>('anomalies_total', 0)) + anomalies.length);
    await this.state.set('latest_analysis', analysis);
    await this.emit('analysis_complete', analysis);
    this.metrics.counter('anomalies_detected', anomalies.length);
    this.logger.info(`batch #${event.data.batch_no}: ${anomalies.length} anomalies`, anomalies.length ? { anomalies } : undefined);
  }
}

/** Welford's online mean and (population) standard deviation. */
function update(b: Baseline | undefined, value: number): Baseline {
  if (!b) return { avg: value, stddev: 0, n: 1 };
  const n = b.n + 1;
  const avg = b.avg + (value - b.avg) / n;
  const variance = (b.stddev ** 2 * (n - 1) + (value - b.avg) * (value - avg)) / n;
  return { avg, stddev: Math.sqrt(Math.max(0, variance)), n };
}
