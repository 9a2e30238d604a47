// The store: where every run's state, events, deliveries and records live. `openStore` picks the
// dialect from config, runs pending migrations and hands back the one contract both implement.
import type { StoreConfig } from '../config/types.js';
import { systemClock, type Clock } from '../scheduler/types.js';
import type { Store } from './types.js';

export * from './types.js';

export async function openStore(config: StoreConfig, opts: { clock?: Clock } = {}): Promise<Store> {
  const clock = opts.clock ?? systemClock;
  // Each driver is loaded only when configured: an embedded daemon never pays for `pg`, and the
  // reverse (the idle-memory target is 60 MB RSS).
  let store: Store;
  if (config.kind === 'sqlite') {
    const { SqliteStore } = await import('./sqlite/store.js');
    store = new SqliteStore(config.path, clock);
  } else {
    const { PostgresStore } = await import('./postgres/store.js');
    store = new PostgresStore(config.url, config.schema, clock);
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}
