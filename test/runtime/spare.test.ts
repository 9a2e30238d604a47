// The host's spare worker: booted ahead (SDK loaded) once an instance is up, and handed to the next
// dedicated start. The host tells the daemon when the spare is ready (`sparesReady`), and each
// instance tells how it got its worker (`workerSource`): the cold-start bench measures a start on
// a ready spare separately from one that came while the spare was still booting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, sparesReady, workerSource } from '../../src/runtime/index.js';
import type { Runtime } from '../../src/runtime/index.js';
import { RecordingListener, spec } from './harness.js';

describe('spare worker hand-over', () => {
  const listener = new RecordingListener();
  let rt: Runtime;

  beforeAll(() => {
    rt = createRuntime(listener);
  });
  afterAll(() => rt.shutdown());

  it('the first start spawns; once the spare is ready the next start takes it booted, and it runs', async () => {
    const first = await rt.startAgent(spec('first', 'basic.ts'));
    expect(workerSource(first)).toBe('spawned');
    expect((await first.invoke({ runId: 'first-setup', kind: 'setup', versions: {} })).ok).toBe(true);

    await sparesReady(rt); // resolves only once the host reported its spare booted
    const second = await rt.startAgent(spec('second', 'basic.ts', { instanceId: 'second#0' }));
    expect(workerSource(second)).toBe('spare-ready');
    expect(second.pid).toBe(first.pid);
    const r = await second.invoke({ runId: 'second-run', kind: 'run', versions: {} });
    expect(r.ok).toBe(true);

    // Taken: the host has no ready spare until the next one boots (after second's first answer).
    await sparesReady(rt);
    const third = await rt.startAgent(spec('third', 'basic.ts', { instanceId: 'third#0' }));
    expect(workerSource(third)).toBe('spare-ready');
    await Promise.all([first.dispose(), second.dispose(), third.dispose()]);
  });
});
