// agents/alerter.ts
import { Agent, on, type AgentEvent } from 'openclaw-runtime';
import { PagerDutyClient, SlackNotifier } from 'openclaw-runtime/tools';

interface Report {
  severity: 'normal' | 'warning' | 'critical';
  anomaly_count: number;
  summary?: string;
  details: unknown[];
}

/** Routes alerts based on severity. */
export default class Alerter extends Agent {
  private slack!: SlackNotifier;
  private pagerduty!: PagerDutyClient;

  override async setup(): Promise<void> {
    this.slack = new SlackNotifier({ webhookUrl: this.config.slack_webhook });
    this.pagerduty = new PagerDutyClient({ apiKey: this.config.pagerduty_key });
  }

  @on('report_ready')
  async alert(event: AgentEvent<Report>): Promise<void> {
    const report = event.data;
    const severity = report.severity;

    if (severity === 'normal') {
      return; // No alert needed
    }

    if (severity === 'warning') {
      await this.slack.send(
        `⚠️ *${report.anomaly_count} anomalies detected*\n` + `${report.summary ?? 'See dashboard for details.'}`,
      );
    } else if (severity === 'critical') {
      // Slack + PagerDuty for critical alerts
      await this.slack.send(
        `🚨 *CRITICAL: ${report.anomaly_count} anomalies!*\n` + `${report.summary ?? 'Immediate attention required.'}`,
      );
      await this.pagerduty.triggerIncident({
        title: `Critical anomalies: ${report.anomaly_count}`,
        severity: 'critical',
        details: report.details,
      });
    }
  }
}
