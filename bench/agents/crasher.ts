import fs from 'node:fs';
import { Agent } from 'openclaw';

/** Notes the wall-clock time (sub-ms) in config.file, then calls process.exit() inside run(). */
export default class Crasher extends Agent {
  override async run(): Promise<void> {
    fs.appendFileSync(this.config.get('file'), `exit ${performance.timeOrigin + performance.now()}\n`);
    process.exit(3);
  }
}
