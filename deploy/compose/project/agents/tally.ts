// Counts the ticks it handled and remembers the last one: after a failover the count goes on
// from where the previous owner committed it, with no tick counted twice.
import { Agent, on, type AgentEvent } from 'openclaw-runtime';

export default class Tally extends Agent {
  @on('tick')
  async count(event: AgentEvent<{ seq: number }>): Promise<void> {
    await this.state.set('handled', (await this.state.get<number>('handled', 0)) + 1);
    await this.state.set('last_seq', event.data.seq);
  }
}
