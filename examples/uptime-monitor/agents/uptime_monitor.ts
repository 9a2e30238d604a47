// agents/uptime_monitor.ts
import { Agent, Schedule } from 'openclaw-runtime';
import { HttpClient, SlackNotifier } from 'openclaw-runtime/tools';

interface Target {
  url: string;
  name: string;
  expected_status?: number;
  timeout?: number; // seconds
}

interface CheckResult {
  status: 'healthy' | 'unhealthy' | 'error';
  http_status?: number;
  expected_status?: number;
  latency_ms: number | null;
  error?: string;
}

type HistoryEntry = CheckResult & { target: string; url: string; timestamp: string };

/** 24/7 website uptime monitoring agent with Slack alerting. */
export default class UptimeMonitor extends Agent {
  static schedule = Schedule.every({ minutes: 5 });

  private slack!: SlackNotifier;
  private targets: Target[] = [];

  /** Initialize HTTP client, Slack notifier, and load targets. */
  override async setup(): Promise<void> {
    this.http = new HttpClient({
      timeout: this.config.get('default_timeout', 15),
      retries: 2,
      retryDelay: 3,
    });
    this.slack = new SlackNotifier({
      webhookUrl: this.config.slack_webhook,
    });
    this.targets = this.config.get('targets', []);
    this.logger.info(`Uptime monitor initialized with ${this.targets.length} targets`);
  }

  /** Check all targets and process results. */
  override async run(): Promise<void> {
    const results = await Promise.allSettled(this.targets.map((t) => this.checkTarget(t)));

    // Load persistent history from state store
    const history = await this.state.get<HistoryEntry[]>('check_history', []);
    const timestamp = this.nowIso();

    for (const [i, target] of this.targets.entries()) {
      const settled = results[i]!;
      const result: CheckResult =
        settled.status === 'fulfilled'
          ? settled.value
          : { status: 'error', error: String(settled.reason), latency_ms: null };

      history.push({ target: target.name, url: target.url, timestamp, ...result });

      // Alert on downtime
      if (result.status !== 'healthy') {
        await this.handleDowntime(target, result);
      } else {
        // Clear incident state if target recovered
        const incidentKey = `incident_${target.name}`;
        const wasDown = await this.state.get(incidentKey, false);
        if (wasDown) {
          await this.slack.send(`✅ *${target.name}* is back UP (latency: ${result.latency_ms}ms)`);
          await this.state.set(incidentKey, false);
        }
      }
    }

    // Keep last 10,000 entries, persist to state store
    await this.state.set('check_history', history.slice(-10000));

    // Update summary metrics
    const healthy = results.filter((r) => r.status === 'fulfilled' && r.value.status === 'healthy').length;
    this.metrics.gauge('targets_healthy', healthy);
    this.metrics.gauge('targets_total', this.targets.length);
  }

  /** Check a single target URL and return status. */
  async checkTarget(target: Target): Promise<CheckResult> {
    const timeout = target.timeout ?? 15;
    const expected = target.expected_status ?? 200;

    const start = performance.now();
    try {
      const response = await this.http.get(target.url, { timeout });
      const latency = Math.round(performance.now() - start);

      if (response.statusCode === expected) {
        return { status: 'healthy', http_status: response.statusCode, latency_ms: latency };
      } else {
        return { status: 'unhealthy', http_status: response.statusCode, expected_status: expected, latency_ms: latency };
      }
    } catch (e) {
      return { status: 'error', error: (e as Error).message, latency_ms: null };
    }
  }

  /** Send alert and track incident state. */
  async handleDowntime(target: Target, result: CheckResult): Promise<void> {
    const incidentKey = `incident_${target.name}`;
    const alreadyAlerted = await this.state.get(incidentKey, false);

    if (!alreadyAlerted) {
      const status = result.http_status ?? 'N/A';
      const error = result.error ?? 'unexpected status';
      await this.slack.send(
        `🚨 *${target.name}* is DOWN!\n` + `URL: ${target.url}\n` + `Status: ${status}\n` + `Error: ${error}`,
      );
      await this.state.set(incidentKey, true);
      this.logger.warning(`Target ${target.name} is down`, { ...result });
    }
  }

  /** Cleanup on graceful shutdown. */
  override async teardown(): Promise<void> {
    await this.http.close();
    this.logger.info('Uptime monitor shut down gracefully');
  }
}
