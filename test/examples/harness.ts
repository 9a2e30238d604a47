// One daemon per seed example, run the way `openclaw dev` runs it in the example's folder (its data
// directory in a temp dir, so .openclaw/ stays out of the repo), its fake outside services
// (a command agent in the example) listen on a free port, and a FakeClock holds the schedules still
// so that every run in a test is one the test triggered.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { freePort } from '../e2e/helpers.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { waitFor } from '../helpers/project.js';

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

export interface ExampleRun {
  daemon: Daemon;
  /** The fakes' base URL, e.g. http://127.0.0.1:41234 */
  fakes: string;
  /** What the fakes received (POSTs to Slack, the firewall, the CMS, …), from their /_received. */
  received(): Promise<Array<{ path: string; body: unknown }>>;
  /** Triggers `agent` and waits for the run to finish; returns its record. */
  run(agent: string): Promise<{ status: string; error: unknown }>;
  stop(): Promise<void>;
}

/** Starts examples/<name> with its fakes on a free port (env var `portVar`). */
export async function startExample(name: string, portVar: string): Promise<ExampleRun> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `openclaw-example-${name}-`));
  const port = await freePort();
  process.env[portVar] = String(port);
  const config = await loadConfig(path.join(EXAMPLES, name, 'openclaw.yaml'));
  const store = { kind: 'sqlite' as const, path: path.join(dataDir, 'openclaw.db') };
  const daemon = await Daemon.start({ ...config, dataDir, store, api: { ...config.api, port: 0 } }, { clock: new FakeClock() });
  const fakes = `http://127.0.0.1:${port}`;
  await waitFor(`${name}: every agent running and the fakes answering`, async () => {
    const agents = await daemon.listAgents();
    if (!agents.every((a) => a.status === 'running')) return false;
    return (await fetch(`${fakes}/_received`).catch(() => null))?.ok ?? false;
  }, 60_000, 100);
  return {
    daemon,
    fakes,
    received: async () => (await (await fetch(`${fakes}/_received`)).json()) as Array<{ path: string; body: unknown }>,
    run: async (agent) => {
      const { runId } = await daemon.trigger(agent);
      return waitFor(`${agent} run ${runId} finished`, async () => {
        // A run is recorded when it commits (succeeded) or fails; until then it is not listed.
        return (await daemon.listRuns(agent, { limit: 20 })).find((x) => x.id === runId) ?? null;
      }, 60_000, 50);
    },
    stop: async () => {
      await daemon.shutdown('test end');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One example daemon for the test file: started before its tests, stopped after them. */
export function useExample(name: string, portVar: string): () => ExampleRun {
  let ex: ExampleRun | undefined;
  beforeAll(async () => {
    ex = await startExample(name, portVar);
  }, 90_000);
  afterAll(() => ex?.stop());
  return () => ex!;
}
