// Pipeline step 3: turns analyses with anomalies into alerts (to the local sink served by the
// `targets` agent, or the log when no webhook is configured) and counts them in state.
import { Agent, on, type AgentEvent } from 'openclaw-runtime';
import { HttpClient, WebhookNotifier } from 'openclaw-runtime/tools';

interface Analysis {
  batch_id: string;
  batch_no: number;
  anomalies: Array<{ source: string; metric: string; value: number; expected: number; deviation: number }>;
}

export default class Alerter extends Agent {
  private webhook: WebhookNotifier | null = null;

  override async setup(): Promise<void> {
    const url = this.config.get<string | null>('alert_webhook', null);
    this.webhook = url ? new WebhookNotifier({ url, http: new HttpClient({ timeout: 3, retries: 1, retryDelayMs: 500 }) }) : null;
  }

  @on('analysis_complete')
  async alert(event: AgentEvent<Analysis>): Promise<void> {
    const { anomalies, batch_no } = event.data;
    if (anomalies.length === 0) return;

    const severity = anomalies.length > 3 ? 'critical' : 'warning';
    const lines = anomalies.map((a) => `${a.source}.${a.metric}=${a.value} (expected ~${a.expected}, ${a.deviation}σ)`);
    const text = `${severity === 'critical' ? '🚨' : '⚠️'} ${anomalies.length} anomalies in batch #${batch_no}: ${lines.join('; ')}`;

    this.logger.warning(text, { severity });
    if (this.webhook) {
      // A failed delivery throws: the event is redelivered (at-least-once) and the alert retried.
      await this.webhook.send({ agent: this.name, severity, text });
    }
    await this.state.set('alerts_sent', (await this.state.get<number>('alerts_sent', 0)) + 1);
    await this.state.set('last_alert', { at: this.nowIso(), severity, text });
    this.metrics.counter('alerts_sent', 1, { severity });
  }
}
