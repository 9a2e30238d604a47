import { Agent } from 'openclaw';

/**
 * payload { op: 'fill', keys } writes keys k0..k{keys-1};
 * payload { op: 'read', keys, cachedReads } reads each key once (first read in the run: an RPC to
 * the daemon, the worker's cache is empty because the namespace version moved), then reads them
 * again `cachedReads` times in total (served by the worker's read cache). Each read is timed with
 * performance.now() in agent code; the samples come back through state.
 */
export default class StateReader extends Agent {
  override async run(): Promise<void> {
    const p = (this.trigger?.payload ?? {}) as { op: string; keys: number; cachedReads?: number; round?: number };
    if (p.op === 'fill') {
      for (let i = 0; i < p.keys; i++) await this.state.set(`k${i}`, { i, name: `value-${i}`, tags: ['a', 'b'] });
      return;
    }
    const uncached: number[] = [];
    const cached: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < p.keys; i++) {
      const t = performance.now();
      await this.state.get(`k${i}`);
      uncached.push(performance.now() - t);
    }
    for (let i = 0; i < (p.cachedReads ?? p.keys); i++) {
      const t = performance.now();
      await this.state.get(`k${i % p.keys}`);
      cached.push(performance.now() - t);
    }
    for (let i = 0; i < Math.min(200, p.keys); i++) {
      const t = performance.now();
      await this.state.get(`absent-${p.round ?? 0}-${i}`, null);
      missing.push(performance.now() - t);
    }
    await this.state.set('samples', { uncached, cached, missing });
  }
}
