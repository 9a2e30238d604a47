// DevOps agent (seed 003 §13, example 1): monitors the cluster, diagnoses unhealthy pods with the
// LLM, posts status to Slack, and scales up deployments whose pods run above the CPU threshold.
// Replica counts live in state, so a restart does not scale a deployment twice.
import { Agent, Schedule } from 'openclaw-runtime';
import { SlackNotifier } from 'openclaw-runtime/tools';

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  status: { phase: string; reason?: string };
}

interface PodMetric {
  metadata: { name: string; labels?: Record<string, string> };
  containers: Array<{ usage: { cpu: string } }>;
  /** CPU limit in millicores, from the pod spec (the metrics API reports usage only). */
  limitMillicores?: number;
}

/** "250m" → 250 millicores, "1" → 1000. */
export function millicores(cpu: string): number {
  return cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
}

export default class DevOpsAgent extends Agent {
  static schedule = Schedule.every({ minutes: 2 });

  private slack!: SlackNotifier;
  private k8s = '';

  override async setup(): Promise<void> {
    this.slack = new SlackNotifier({ webhookUrl: this.config.get<string>('slack_webhook', ''), http: this.http });
    this.k8s = this.config.get<string>('kubernetes_api_url', '');
  }

  override async run(): Promise<void> {
    const pods = (await this.http.get(`${this.k8s}/api/v1/pods`, { query: { fieldSelector: 'status.phase!=Running' } })).json<{ items: Pod[] }>();
    const unhealthy = pods.items.filter((p) => p.status.phase === 'Failed' || p.status.reason === 'CrashLoopBackOff');
    if (unhealthy.length > 0) {
      const diagnosis = await this.llm.complete(
        `Diagnose these Kubernetes pod failures and suggest fixes: ${unhealthy.map((p) => `${p.metadata.name}: ${p.status.reason ?? 'unknown'}`).join('; ')}`,
      );
      await this.slack.send(`🔧 *${unhealthy.length} unhealthy pods detected*\nDiagnosis: ${diagnosis.text}`);
      this.metrics.gauge('unhealthy_pods', unhealthy.length);
    }

    const threshold = this.config.get<number>('cpu_threshold_pct', 80);
    const metrics = (await this.http.get(`${this.k8s}/apis/metrics.k8s.io/v1beta1/pods`)).json<{ items: PodMetric[] }>();
    const hot = new Set<string>();
    for (const m of metrics.items) {
      const used = m.containers.reduce((n, c) => n + millicores(c.usage.cpu), 0);
      const pct = m.limitMillicores ? (used / m.limitMillicores) * 100 : 0;
      const app = m.metadata.labels?.app;
      if (app && pct > threshold) hot.add(app);
    }
    for (const deployment of hot) await this.scaleUp(deployment);
  }

  private async scaleUp(deployment: string): Promise<void> {
    const current = await this.state.get<number>(`replicas_${deployment}`, 2);
    const next = Math.min(current + 1, this.config.get<number>('max_replicas', 10));
    if (next === current) return;
    await this.http.patch(`${this.k8s}/apis/apps/v1/namespaces/default/deployments/${deployment}/scale`, { spec: { replicas: next } });
    await this.state.set(`replicas_${deployment}`, next);
    await this.slack.send(`📈 Scaled *${deployment}* to ${next} replicas`);
    this.logger.info(`scaled ${deployment} to ${next} replicas`);
  }
}
