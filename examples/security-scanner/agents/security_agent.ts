// Security agent (seed 003 §13, example 2): scans the last minute of logs for attack signatures,
// has the LLM rate each suspicious entry, blocks critical and high sources at the firewall and
// emits `threats_detected`. Blocks are remembered in state with their expiry, so an IP is not
// blocked again every minute while its block lasts.
import { Agent, Schedule } from 'openclaw-runtime';

interface LogEntry {
  '@timestamp': string;
  source_ip: string;
  message: string;
}

interface Threat {
  source_ip: string;
  level: 'critical' | 'high' | 'medium' | 'low';
  reason?: string;
}

const PATTERNS = ['sql injection', 'xss', 'path traversal', 'brute force', ' 401 ', ' 403 '];

export function isSuspicious(log: LogEntry): boolean {
  const message = ` ${log.message.toLowerCase()} `;
  return PATTERNS.some((p) => message.includes(p));
}

export default class SecurityAgent extends Agent {
  static schedule = Schedule.every({ minutes: 1 });

  override async run(): Promise<void> {
    const es = this.config.get<string>('elasticsearch_url', '');
    const res = await this.http.post(`${es}/_search`, { query: { range: { '@timestamp': { gte: 'now-1m' } } }, size: 1000 });
    const hits = res.json<{ hits: { hits: Array<{ _source: LogEntry }> } }>().hits.hits;
    const suspicious = hits.map((h) => h._source).filter(isSuspicious);
    if (suspicious.length === 0) return;

    const classification = await this.llm.complete({
      json: true,
      messages: [
        { role: 'system', content: 'Classify each log entry by threat level (critical/high/medium/low). Answer {"threats": [{"source_ip", "level", "reason"}]}.' },
        { role: 'user', content: JSON.stringify(suspicious.slice(0, 20)) },
      ],
    });
    const threats = (classification.json as { threats?: Threat[] } | undefined)?.threats ?? [];

    const now = this.now();
    const blocked = await this.state.get<Record<string, number>>('blocked_until', {});
    const hours = this.config.get<number>('block_hours', 24);
    const newlyBlocked: string[] = [];
    for (const t of threats) {
      if ((t.level !== 'critical' && t.level !== 'high') || (blocked[t.source_ip] ?? 0) > now) continue;
      await this.http.post(`${this.config.get<string>('firewall_api', '')}/block`, { ip: t.source_ip, duration: `${hours}h` });
      blocked[t.source_ip] = now + hours * 3_600_000;
      newlyBlocked.push(t.source_ip);
    }
    await this.state.set('blocked_until', blocked);
    await this.emit('threats_detected', { count: suspicious.length, blocked_ips: newlyBlocked, threats });
    this.logger.info(`${suspicious.length} suspicious entries, ${newlyBlocked.length} IP(s) blocked`);
  }
}
