import { Agent } from 'openclaw';

/** Does nothing: the run still goes through admission, invoke, commit and the run record. */
export default class Noop extends Agent {
  override async run(): Promise<void> {}
}
