import { Agent, job } from 'openclaw';

/** bench/jobs.ts: a no-op job handler (the run still commits the job's completion). */
export default class JobNoop extends Agent {
  @job('noop')
  async noop(): Promise<void> {}
}
