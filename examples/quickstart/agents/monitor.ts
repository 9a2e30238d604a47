// Watchdog: every 10 s, checks each target; opens an incident (and alerts once) when a target is
// down, closes it (and alerts once) when it recovers. Incidents live in state, so a restart of
// this agent or of the daemon does not re-alert for an incident already reported.
import { Agent, Schedule } from 'openclaw-runtime';
import { HttpClient, WebhookNotifier } from 'openclaw-runtime/tools';

interface Target {
  name: string;
  url: string;
  expected_status?: number;
  timeout?: number; // seconds
}

interface CheckResult {
  status: 'healthy' | 'unhealthy' | 'error';
  http_status?: number;
  latency_ms: number | null;
  error?: string;
}

interface Incident {
  opened_at: string;
  reason: string;
}

export default class Monitor extends Agent {
  static schedule = Schedule.every({ seconds: 10 });

  private targets: Target[] = [];
  private webhook: WebhookNotifier | null = null;

  override async setup(): Promise<void> {
    // One quick retry: the quickstart should notice an outage within one 10 s cycle.
    this.http = new HttpClient({ timeout: 3, retries: 1, retryDelayMs: 200, signal: () => this.signal });
    this.targets = this.config.get('targets', []);
    const url = this.config.get<string | null>('alert_webhook', null);
    this.webhook = url ? new WebhookNotifier({ url, http: new HttpClient({ timeout: 3, retries: 0 }) }) : null;
    this.logger.info(`monitor watching ${this.targets.length} targets`, { targets: this.targets.map((t) => t.url) });
  }

  override async run(): Promise<void> {
    const results = await Promise.all(this.targets.map((t) => this.check(t)));
    const incidents = await this.state.get<Record<string, Incident>>('incidents', {});
    let healthy = 0;

    for (const [i, target] of this.targets.entries()) {
      const result = results[i]!;
      const open = incidents[target.name];
      if (result.status === 'healthy') {
        healthy++;
        if (open && (await this.alert(`✅ ${target.name} is back UP (latency ${result.latency_ms} ms)`))) {
          delete incidents[target.name];
        }
      } else if (!open) {
        const reason = result.error ?? `HTTP ${result.http_status}`;
        this.logger.warning(`${target.name} is DOWN: ${reason}`, { url: target.url, ...result });
        // Only remember the incident once the alert went out, so a failed alert is retried next run.
        if (await this.alert(`🚨 ${target.name} is DOWN: ${target.url} (${reason})`)) {
          incidents[target.name] = { opened_at: this.nowIso(), reason };
        }
      }
    }

    const checks = (await this.state.get<number>('checks', 0)) + 1;
    await this.state.set('checks', checks);
    await this.state.set('incidents', incidents);
    await this.state.set('last_check', { at: this.nowIso(), healthy, total: this.targets.length, results: Object.fromEntries(this.targets.map((t, i) => [t.name, results[i]])) });
    this.metrics.gauge('targets_healthy', healthy);
    this.metrics.gauge('targets_total', this.targets.length);
    this.logger.info(`check #${checks}: ${healthy}/${this.targets.length} healthy, ${Object.keys(incidents).length} open incident(s)`);
  }

  private async check(target: Target): Promise<CheckResult> {
    const expected = target.expected_status ?? 200;
    try {
      const response = await this.http.get(target.url, { timeout: target.timeout ?? 3 });
      return {
        status: response.statusCode === expected ? 'healthy' : 'unhealthy',
        http_status: response.statusCode,
        latency_ms: response.latencyMs,
      };
    } catch (err) {
      return { status: 'error', error: (err as Error).message, latency_ms: null };
    }
  }

  /** True when the alert was delivered (or there is nowhere to send it and it was logged). */
  private async alert(text: string): Promise<boolean> {
    if (!this.webhook) {
      this.logger.warning(`ALERT (no alert_webhook configured): ${text}`);
      return true;
    }
    try {
      await this.webhook.send({ agent: this.name, text, at: this.nowIso() });
      this.metrics.counter('alerts_sent');
      return true;
    } catch (err) {
      this.logger.warning(`could not deliver alert, will retry next run: ${(err as Error).message}`);
      return false;
    }
  }

  override async teardown(): Promise<void> {
    await this.http.close();
  }
}
