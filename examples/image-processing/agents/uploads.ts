// agents/uploads.ts
import { Agent } from 'openclaw-runtime';

interface Upload {
  id: string;
  width: number;
  height: number;
  /** Premium sellers' images jump the queue. */
  premium?: boolean;
}

/**
 * Receives uploads (a manual trigger with { uploads: [...] }, or { importPages: N } to start a
 * catalog import) and turns them into jobs. The enqueues are part of this run: they commit with
 * the run's state write, or not at all.
 */
export default class Uploads extends Agent {
  override async run(): Promise<void> {
    const p = (this.trigger?.payload ?? {}) as { uploads?: Upload[]; importPages?: number };
    const uploads = p.uploads ?? [];
    await this.jobs.enqueueBatch(
      uploads.map((u) => ({
        name: 'process-image',
        payload: { id: u.id, width: u.width, height: u.height },
        // The idempotency key makes a re-sent upload a no-op while its job waits or runs.
        opts: { priority: u.premium ? 10 : 0, key: `upload:${u.id}` },
      })),
    );
    for (let page = 0; page < (p.importPages ?? 0); page++) {
      await this.jobs.enqueue('import-catalog', { page }, { key: `import:${page}` });
    }
    await this.state.set('received', (await this.state.get<number>('received', 0)) + uploads.length);
  }
}
