// {{name}}: a periodic report. Reads other agents' state (read-only), builds a summary, keeps the
// last reports in its own state and emits `report_ready` for whoever delivers it.
import { Agent, Schedule } from 'openclaw-runtime';

export default class {{className}} extends Agent {
  static schedule = Schedule.daily({ hour: 9, minute: 0, tz: 'UTC' });

  override async run(): Promise<void> {
    const sources = this.config.get<string[]>('sources', []);
    const sections: Record<string, Record<string, unknown>> = {};
    for (const agent of sources) {
      const state = await this.state.readFrom(agent);
      sections[agent] = state.toJSON();
    }
    const report = {
      id: this.generateId(),
      generated_at: this.nowIso(),
      sources: Object.keys(sections),
      keys: Object.fromEntries(Object.entries(sections).map(([a, s]) => [a, Object.keys(s).length])),
      sections,
    };
    const history = await this.state.get<Array<{ id: string; generated_at: string }>>('reports', []);
    history.push({ id: report.id, generated_at: report.generated_at });
    await this.state.set('reports', history.slice(-100));
    await this.state.set('last_report', report);
    await this.emit('report_ready', report);
    this.logger.info(`report ${report.id} covers ${report.sources.length} agents`);
  }
}
