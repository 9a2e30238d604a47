// agents/reporter.ts
import { Agent, on, type AgentEvent } from 'openclaw-runtime';

interface Analysis {
  batch_id: string;
  anomalies: unknown[];
}

/** Generates human-readable reports from analysis results. */
export default class Reporter extends Agent {
  @on('analysis_complete')
  async report(event: AgentEvent<Analysis>): Promise<void> {
    const analysis = event.data;
    const anomalyCount = analysis.anomalies.length;

    const report: Record<string, unknown> = {
      batch_id: analysis.batch_id,
      generated_at: this.nowIso(),
      anomaly_count: anomalyCount,
      severity: anomalyCount > 5 ? 'critical' : anomalyCount > 0 ? 'warning' : 'normal',
      details: analysis.anomalies,
    };

    // Use LLM to generate a natural-language summary
    if (anomalyCount > 0) {
      const summary = await this.llm.complete(
        `Summarize these anomalies in 2-3 sentences for an ops team: ` + JSON.stringify(analysis.anomalies),
      );
      report.summary = summary.text;
    }

    await this.emit('report_ready', report);
    this.logger.info(`Report generated: ${anomalyCount} anomalies`);
  }
}
