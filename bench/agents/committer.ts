import { Agent } from 'openclaw';

/** A typical small run: reads one key, writes three, emits two events. */
export default class Committer extends Agent {
  override async run(): Promise<void> {
    const n = (await this.state.get<number>('n', 0)) ?? 0;
    await this.state.set('n', n + 1);
    await this.state.set('last', { at: Date.now(), n });
    await this.state.set(`slot${n % 16}`, { n, text: 'x'.repeat(64) });
    await this.emit('bench.committed', { n });
    await this.emit('bench.audit', { n, ok: true });
  }
}
