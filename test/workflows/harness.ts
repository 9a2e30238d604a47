// Builds workflow engines over real stores (a SQLite file, a PostgreSQL schema) from YAML text, for
// tests that drive the engine directly. Daemon-level tests use the real daemon instead.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/load.js';
import type { StoreConfig } from '../../src/config/types.js';
import { noAudit, noSecrets, type DaemonServices } from '../../src/daemon/modules.js';
import { systemClock } from '../../src/scheduler/types.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import type { WorkflowDef, WorkflowsSection } from '../../src/workflows/config.js';
import { WorkflowEngine, type EngineOptions } from '../../src/workflows/engine.js';
import { loadDefinitions } from '../../src/workflows/module.js';
import { WorkflowRepository } from '../../src/workflows/store.js';
import { counter, histogram } from '../../src/observability/metrics.js';
import { PG_URL, uniqueSchema, dropSchemas as dropSchemasNamed } from '../helpers/services.js';

export type Backend = 'sqlite' | 'postgres';

const schemas: string[] = [];

export function dropSchemas(): Promise<void> {
  return dropSchemasNamed(schemas);
}

export function storeConfig(backend: Backend, dir: string): StoreConfig {
  if (backend === 'sqlite') return { kind: 'sqlite', path: path.join(dir, '.openclaw', 'openclaw.db') };
  const schema = uniqueSchema('oc_wf');
  schemas.push(schema);
  return { kind: 'postgres', url: PG_URL, schema };
}

export interface Harness {
  dir: string;
  store: Store;
  engine: WorkflowEngine;
  repo: WorkflowRepository;
  metrics: Registry;
  logs: string[];
  defs: Map<string, WorkflowDef>;
  services: DaemonServices;
  /** A fresh engine over the same store (a daemon restart); the old one is stopped first. */
  restart(): Promise<WorkflowEngine>;
  close(): Promise<void>;
}

/** `yaml` is the body of `workflows:` (indented by two spaces). */
export async function makeHarness(backend: Backend, yaml: string, opts: { services?: Partial<DaemonServices>; callAgent?: EngineOptions['callAgent']; network?: EngineOptions['network']; storeConfig?: StoreConfig; dir?: string } = {}): Promise<Harness> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-wf-'));
  const cfgFile = path.join(dir, 'openclaw.yaml');
  fs.writeFileSync(cfgFile, `project: wf-test\nworkflows:\n${yaml}`);
  const config = parseConfig(fs.readFileSync(cfgFile, 'utf8'), cfgFile);
  const defs = await loadDefinitions(config.extensions?.workflows as WorkflowsSection, dir, cfgFile);
  const store = await openStore(opts.storeConfig ?? storeConfig(backend, dir));
  const repo = await WorkflowRepository.open(store);
  const metrics = new Registry();
  const logs: string[] = [];
  const services: DaemonServices = { audit: noAudit, secrets: noSecrets, ...opts.services };
  const make = () =>
    new WorkflowEngine({
      repo,
      clock: systemClock,
      root: dir,
      services,
      defs: () => defs,
      log: (level, msg, f) => void logs.push(`${level}: ${msg}${f?.stack ? "\n" + String(f.stack) : ""}`),
      metrics: {
        runs: counter(metrics, { name: 'openclaw_workflow_runs_total', help: 'x', labelNames: ['workflow', 'status'] as const }),
        stepDuration: histogram(metrics, { name: 'openclaw_workflow_step_duration_seconds', help: 'x', labelNames: ['workflow', 'step'] as const, buckets: [0.1, 1, 10] }),
      },
      callAgent: opts.callAgent,
      network: opts.network,
    });
  const h: Harness = {
    dir,
    store,
    engine: make(),
    repo,
    metrics,
    logs,
    defs,
    services,
    async restart() {
      await h.engine.stop();
      h.engine = make();
      await h.engine.resume();
      return h.engine;
    },
    async close() {
      await h.engine.stop();
      await store.close();
    },
  };
  return h;
}

export function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** The run once finished; fails (with the engine's log) rather than hang when it does not finish. */
export async function finished(h: Harness, runId: string, timeoutMs = 30_000) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`run ${runId} did not finish within ${timeoutMs}ms; log:\n${h.logs.slice(-20).join('\n')}`)), timeoutMs);
  });
  try {
    return await Promise.race([h.engine.waitFor(runId), late]);
  } finally {
    clearTimeout(timer);
  }
}
