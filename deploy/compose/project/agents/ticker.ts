// Every 5 s: emits `tick` with a sequence number that survives restarts and failovers (state).
import { Agent } from 'openclaw-runtime';

export default class Ticker extends Agent {
  override async run(): Promise<void> {
    const seq = (await this.state.get<number>('seq', 0)) + 1;
    await this.state.set('seq', seq);
    await this.emit('tick', { seq, at: this.nowIso() });
  }
}
