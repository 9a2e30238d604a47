// Once a minute (cron): logs which fire this is. One fire per minute across the three daemons.
import { Agent } from 'openclaw-runtime';

export default class Minutely extends Agent {
  override async run(): Promise<void> {
    const fires = (await this.state.get<number>('fires', 0)) + 1;
    await this.state.set('fires', fires);
    this.logger.info(`fire #${fires}`);
  }
}
