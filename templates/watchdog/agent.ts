// {{name}}: checks a list of HTTP endpoints on a schedule, remembers open incidents across
// restarts, and alerts once when a target goes down and once when it recovers.
import { Agent, Schedule } from 'openclaw-runtime';
import { HttpClient, SlackNotifier, WebhookNotifier } from 'openclaw-runtime/tools';

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

export default class {{className}} extends Agent {
  static schedule = Schedule.every({ minutes: 1 });

  private targets: Target[] = [];
  private notify: (text: string) => Promise<void> = async () => {};

  override async setup(): Promise<void> {
    this.http = new HttpClient({ timeout: this.config.get('default_timeout', 10), retries: 1, retryDelay: 2, signal: () => this.signal });
    this.targets = this.config.get<Target[]>('targets', []);
    const slackWebhook = this.config.get<string | null>('slack_webhook', null);
    const webhookUrl = this.config.get<string | null>('alert_webhook', null);
    if (slackWebhook) {
      const slack = new SlackNotifier({ webhookUrl: slackWebhook });
      this.notify = (text) => slack.send(text);
    } else if (webhookUrl) {
      const hook = new WebhookNotifier({ url: webhookUrl });
      this.notify = async (text) => void (await hook.send({ agent: this.name, text }));
    } else {
      this.notify = async (text) => this.logger.warning(`alert (no slack_webhook or alert_webhook configured): ${text}`);
    }
    this.logger.info(`watchdog ready with ${this.targets.length} targets`);
  }

  override async run(): Promise<void> {
    const results = await Promise.all(this.targets.map((t) => this.check(t)));
    let healthy = 0;
    for (const [i, target] of this.targets.entries()) {
      const result = results[i]!;
      const key = `incident_${target.name}`;
      const open = await this.state.get<boolean>(key, false);
      if (result.status === 'healthy') {
        healthy++;
        if (open) {
          await this.notify(`✅ ${target.name} is back UP (latency ${result.latency_ms} ms)`);
          await this.state.set(key, false);
        }
      } else if (!open) {
        await this.notify(`🚨 ${target.name} is DOWN: ${target.url} status ${result.http_status ?? 'n/a'} ${result.error ?? ''}`.trim());
        await this.state.set(key, true);
        this.logger.warning(`${target.name} is down`, { ...result });
      }
    }
    await this.state.set('last_check', { at: this.nowIso(), healthy, total: this.targets.length });
    this.metrics.gauge('targets_healthy', healthy);
    this.metrics.gauge('targets_total', this.targets.length);
  }

  private async check(target: Target): Promise<CheckResult> {
    const expected = target.expected_status ?? 200;
    try {
      const response = await this.http.get(target.url, { timeout: target.timeout ?? 10 });
      return response.statusCode === expected
        ? { status: 'healthy', http_status: response.statusCode, latency_ms: response.latencyMs }
        : { status: 'unhealthy', http_status: response.statusCode, latency_ms: response.latencyMs };
    } catch (err) {
      return { status: 'error', error: (err as Error).message, latency_ms: null };
    }
  }

  override async teardown(): Promise<void> {
    await this.http.close();
  }
}
