// Scheduled report: every 30 s, reads the other agents' state (read-only) and logs a summary.
import { Agent, Schedule } from 'openclaw-runtime';

export default class Reporter extends Agent {
  static schedule = Schedule.every({ seconds: 30 });

  override async run(): Promise<void> {
    const monitor = await this.state.readFrom('monitor');
    const collector = await this.state.readFrom('collector');
    const analyzer = await this.state.readFrom('analyzer');
    const alerter = await this.state.readFrom('alerter');

    const lastCheck = monitor.get<{ healthy: number; total: number } | null>('last_check', null);
    const report = {
      generated_at: this.nowIso(),
      checks: monitor.get('checks', 0),
      targets_healthy: lastCheck ? `${lastCheck.healthy}/${lastCheck.total}` : 'n/a',
      open_incidents: Object.keys(monitor.get<Record<string, unknown>>('incidents', {})),
      batches_collected: collector.get('batches', 0),
      batches_analyzed: analyzer.get('batches_analyzed', 0),
      anomalies_total: analyzer.get('anomalies_total', 0),
      alerts_sent: alerter.get('alerts_sent', 0),
    };

    const reports = (await this.state.get<number>('reports', 0)) + 1;
    await this.state.set('reports', reports);
    await this.state.set('last_report', report);
    this.logger.info(
      `report #${reports}: ${report.checks} checks, targets ${report.targets_healthy} healthy, ` +
        `open incidents [${report.open_incidents.join(', ')}], ${report.batches_collected} batches collected / ` +
        `${report.batches_analyzed} analyzed, ${report.anomalies_total} anomalies, ${report.alerts_sent} alerts`,
      report,
    );
  }
}
