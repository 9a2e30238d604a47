// {{name}}: handles events with an LLM. Each `item_received` event's data.text is sent to the
// model with the configured instructions; the result is kept in state and emitted as
// `item_processed` (committed together, so a crash never loses or duplicates the result).
import { Agent, on, type AgentEvent } from 'openclaw-runtime';

interface Item {
  id?: string;
  text: string;
}

export default class {{className}} extends Agent {
  private instructions = '';

  override async setup(): Promise<void> {
    this.instructions = this.config.get('instructions', 'Summarise the following text in one sentence.');
  }

  @on('item_received')
  async process(event: AgentEvent<Item>): Promise<void> {
    const text = event.data?.text;
    if (typeof text !== 'string' || text.trim() === '') {
      this.logger.warning('item_received without data.text; skipped', { eventId: event.id });
      return;
    }
    const completion = await this.llm.complete(`${this.instructions}\n\n${text}`);
    const result = {
      id: event.data.id ?? event.id,
      output: completion.text,
      model: completion.model,
      tokens: completion.usage.totalTokens,
      processed_at: this.nowIso(),
    };
    const processed = await this.state.get<number>('processed_count', 0);
    await this.state.set('processed_count', processed + 1);
    await this.state.set('last_result', result);
    await this.emit('item_processed', result);
    this.metrics.counter('items_processed');
    this.logger.info(`processed item ${result.id}`, { tokens: result.tokens });
  }
}
