// Market intelligence agent (seed 003 §13, example 3): reads each competitor's prices every hour,
// appends them to a bounded history in state, and reports changes above the threshold with an LLM
// summary for a business audience (event `price_changes_detected`).
import { Agent, Schedule } from 'openclaw-runtime';

interface Competitor {
  name: string;
  pricing_url: string;
}

type Prices = Record<string, number>;

export interface PriceAlert {
  competitor: string;
  product: string;
  old_price: number;
  new_price: number;
  change_pct: number;
}

/** Products whose price moved more than `thresholdPct` since `previous`. */
export function priceChanges(competitor: string, previous: Prices, current: Prices, thresholdPct: number): PriceAlert[] {
  const alerts: PriceAlert[] = [];
  for (const [product, price] of Object.entries(current)) {
    const old = previous[product];
    if (old === undefined || old === 0) continue;
    const change = ((price - old) / old) * 100;
    if (Math.abs(change) > thresholdPct) alerts.push({ competitor, product, old_price: old, new_price: price, change_pct: Math.round(change * 10) / 10 });
  }
  return alerts;
}

export default class MarketIntelAgent extends Agent {
  static schedule = Schedule.every({ hours: 1 });

  override async run(): Promise<void> {
    const competitors = this.config.get<Competitor[]>('competitors', []);
    const timestamp = new Date(this.now()).toISOString();
    const current: Record<string, Prices> = {};
    for (const c of competitors) current[c.name] = (await this.http.get(c.pricing_url)).json<Prices>();

    const history = await this.state.get<Array<{ competitor: string; prices: Prices; timestamp: string }>>('price_history', []);
    history.push(...Object.entries(current).map(([competitor, prices]) => ({ competitor, prices, timestamp })));
    await this.state.set('price_history', history.slice(-this.config.get<number>('history_limit', 5000)));

    const previous = await this.state.get<Record<string, Prices>>('last_prices', {});
    const threshold = this.config.get<number>('change_threshold_pct', 5);
    const alerts = Object.entries(current).flatMap(([name, prices]) => priceChanges(name, previous[name] ?? {}, prices, threshold));
    if (alerts.length > 0) {
      const summary = await this.llm.complete(`Summarize these competitor price changes for a business audience: ${JSON.stringify(alerts)}`);
      await this.emit('price_changes_detected', { alerts, summary: summary.text });
      this.logger.info(`${alerts.length} price change(s): ${summary.text}`);
    } else {
      this.logger.info(`prices of ${Object.keys(current).length} competitor(s) read; no change above ${threshold}%`);
    }
    await this.state.set('last_prices', current);
  }
}
