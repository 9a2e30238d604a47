import { Agent, job } from 'openclaw';

/** bench/jobs.ts: a no-op job handler (the run still commits the job's completion). */
export default class JobNoop extends Agent {
  @job('noop')
  async noop(): Promise<void> {}

  /**
   * The latency phase: when the handler started, on a sub-millisecond clock comparable across
   * processes (epoch ms with a fraction), stored as the job's result.
   */
  @job('stamp')
  async stamp(): Promise<number> {
    return performance.timeOrigin + performance.now();
  }
}
