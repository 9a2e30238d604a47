// agents/data_collector.ts
import { Agent, Schedule } from 'openclaw-runtime';

interface DataSource {
  name: string;
  url: string;
}

/** Collects data from multiple sources every 10 minutes. */
export default class DataCollector extends Agent {
  static schedule = Schedule.every({ minutes: 10 });

  private sources: DataSource[] = [];

  override async setup(): Promise<void> {
    this.sources = this.config.get('data_sources', []);
  }

  override async run(): Promise<void> {
    const collected = [];
    for (const source of this.sources) {
      const data = await this.http.get(source.url);
      collected.push({
        source: source.name,
        data: data.json(),
        collected_at: this.nowIso(),
      });
    }

    // Emit to the pipeline - Analyzer will pick this up
    await this.emit('data_collected', {
      batch_id: this.generateId(),
      records: collected,
      count: collected.length,
    });
    this.logger.info(`Collected ${collected.length} records`);
  }
}
