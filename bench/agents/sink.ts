import { Agent } from 'openclaw';

/** Handles each 'bench.evt' in its own run transaction (the ack and the run record commit together). */
export default class Sink extends Agent {
  static handlers = { 'bench.evt': 'handle' };

  async handle(): Promise<void> {}
}
