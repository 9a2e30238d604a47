// examples/market-watcher end to end: the seed's market intelligence agent against its fakes.
import { describe, expect, it } from 'vitest';
import { useExample } from './harness.js';

const ex = useExample('market-watcher', 'MARKET_PORT');

describe('examples/market-watcher', () => {
  it('keeps the price history and reports only the change above the threshold, with the summary', async () => {
    expect(await ex().run('market-intel')).toMatchObject({ status: 'succeeded' });
    expect(await ex().daemon.listEvents({ name: 'price_changes_detected' })).toEqual([]); // a first read has nothing to compare

    expect(await ex().run('market-intel')).toMatchObject({ status: 'succeeded' });
    const events = await ex().daemon.listEvents({ name: 'price_changes_detected' });
    expect(events.map((e) => e.payload)).toEqual([
      {
        alerts: [{ competitor: 'acme', product: 'pro', old_price: 49, new_price: 59, change_pct: 20.4 }],
        summary: 'acme moved pro from $49 to $59 (+20.4%).',
      },
    ]);
    const { state } = await ex().daemon.getState('market-intel');
    expect(state.last_prices).toEqual({ acme: { starter: 19, pro: 59 }, globex: { team: 102 } });
    expect((state.price_history as unknown[]).length).toBe(4);
  });
});
