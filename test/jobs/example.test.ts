// examples/image-processing loads, and processes a few jobs offline: premium uploads start first,
// the throttled import fans out one image job per product, each image is processed exactly once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { JobsModule } from '../../src/jobs/module.js';
import { REPO } from '../cli/run-cli.js';
import { waitFor } from '../helpers/project.js';

const dirs: string[] = [];
let d: Daemon | undefined;
afterAll(async () => {
  await d?.shutdown('test end');
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});

describe('examples/image-processing', () => {
  it('loads, prioritises premium uploads, throttles the import, processes each image once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-example-images-'));
    dirs.push(dir);
    fs.cpSync(path.join(REPO, 'examples', 'image-processing'), dir, { recursive: true });
    const config = await loadConfig(path.join(dir, 'openclaw.yaml'));
    const mod = new JobsModule();
    d = await Daemon.start(config, { modules: [mod] });
    await waitFor('agents running', async () => (await d!.listAgents()).every((a) => a.status === 'running'));
    const svc = mod.service!;

    const queues = await svc.queues();
    expect(queues.find((q) => q.queue === 'process-image')).toMatchObject({ agent: 'image-processor', method: 'processImage', policy: { concurrency: 4, maxAttempts: 3 } });
    expect(queues.find((q) => q.queue === 'import-catalog')?.policy).toMatchObject({ concurrency: 1, rateLimit: '2/s' });

    const uploads = [
      ...Array.from({ length: 6 }, (_, i) => ({ id: `std-${i}`, width: 640, height: 480 })),
      { id: 'vip-1', width: 800, height: 600, premium: true },
      { id: 'vip-2', width: 300, height: 300, premium: true },
    ];
    await d.trigger('uploads', { uploads, importPages: 3 });
    const expected = [...uploads.map((u) => u.id), 'mug-01', 'mug-02', 'tee-01', 'tee-02', 'cap-01'];
    const state = await waitFor('every image processed', async () => {
      const s = (await d!.getState('image-processor')).state;
      return expected.every((id) => s[`image:${id}`]) ? s : null;
    }, 60_000, 100);
    for (const id of expected) expect((state[`image:${id}`] as { thumbnails: Array<{ width: number }> }).thumbnails.map((t) => t.width)).toHaveLength(2);
    expect(state['import:page:1']).toEqual(['tee-01', 'tee-02']);

    const jobs = await svc.store.list({ queue: 'process-image', limit: 100 });
    expect(jobs).toHaveLength(expected.length);
    expect(jobs.every((j) => j.status === 'completed' && j.attempts === 1)).toBe(true);
    const started = (id: string) => jobs.find((j) => (j.payload as { id: string }).id === id)!.startedAt!;
    const firstStandard = Math.min(...uploads.filter((u) => !u.premium).map((u) => started(u.id)));
    expect(started('vip-1')).toBeLessThanOrEqual(firstStandard);
    expect(started('vip-2')).toBeLessThanOrEqual(firstStandard);
    // The import is throttled to 2 pages a second: three pages take at least one refill.
    const imports = (await svc.store.list({ queue: 'import-catalog' })).map((j) => j.startedAt!).sort((a, b) => a - b);
    expect(imports).toHaveLength(3);
    expect(imports[2]! - imports[0]!).toBeGreaterThanOrEqual(400);
    // Re-sending an upload whose job already completed is a new job (keys dedupe waiting/running jobs).
    const again = await svc.enqueue([{ name: 'process-image', payload: { id: 'std-0', width: 10, height: 10 }, opts: { key: 'upload:std-0' } }]);
    expect(again[0]!.created).toBe(true);
  }, 120_000);
});
