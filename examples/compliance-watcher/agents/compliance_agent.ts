// Compliance agent (seed 003 §13, example 5): watches regulatory feeds for new or updated
// regulations (by id and updated_at, remembered in state), asks the LLM for their impact on a
// SaaS company's data handling, emits `regulatory_changes`, and alerts legal on Slack when any
// change is rated high.
import { Agent, Schedule } from 'openclaw-runtime';
import { SlackNotifier } from 'openclaw-runtime/tools';

interface Regulation {
  id: string;
  title: string;
  updated_at: string;
}

export default class ComplianceAgent extends Agent {
  static schedule = Schedule.every({ hours: 6 });

  private slack!: SlackNotifier;

  override async setup(): Promise<void> {
    this.slack = new SlackNotifier({ webhookUrl: this.config.get<string>('slack_webhook', ''), http: this.http });
  }

  override async run(): Promise<void> {
    const known = await this.state.get<Record<string, string>>('known_regulations', {});
    const changes: Regulation[] = [];
    for (const source of this.config.get<Array<{ name: string; url: string }>>('regulatory_sources', [])) {
      const { regulations = [] } = (await this.http.get(source.url)).json<{ regulations?: Regulation[] }>();
      for (const reg of regulations) {
        if (known[reg.id] === reg.updated_at) continue;
        changes.push(reg);
        known[reg.id] = reg.updated_at;
      }
    }
    await this.state.set('known_regulations', known);
    if (changes.length === 0) {
      this.logger.info('no new or updated regulations');
      return;
    }

    const impact = await this.llm.complete(
      'Analyze these regulatory changes and assess their impact on a SaaS company\'s data handling and privacy policies. ' +
        `For each change, rate impact as high/medium/low and explain why, one line each as "<id>: <rating> - <why>".\nChanges: ${JSON.stringify(changes)}`,
    );
    const highImpact = impact.text.split('\n').filter((line) => /:\s*high\b/i.test(line));
    await this.emit('regulatory_changes', { changes, impact_analysis: impact.text, high_impact_count: highImpact.length });
    this.logger.info(`${changes.length} new or updated regulation(s), ${highImpact.length} high impact`);
    if (highImpact.length > 0) {
      await this.slack.send(`⚖️ *${changes.length} regulatory changes detected*, ${highImpact.length} high impact\n${impact.text.slice(0, 500)}`);
    }
  }
}
