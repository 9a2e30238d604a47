// Daemon-level helpers for the LLM tests: a project whose llm: section points at fake upstreams,
// a daemon started in process on a real store (SQLite file or a PostgreSQL schema), virtual keys.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { startFakeOpenAI, type FakeServer } from '../fakes/index.js';
import { makeProject } from '../helpers/project.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas as dropSchemasNamed } from '../helpers/services.js';

export type Backend = 'sqlite' | 'postgres';

export const pgAvailable = await havePostgres();
export const backends: Backend[] = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

const schemas: string[] = [];
export function storeFor(backend: Backend) {
  if (backend === 'sqlite') return undefined;
  const schema = uniqueSchema('oc_llm');
  schemas.push(schema);
  return { kind: 'postgres' as const, url: PG_URL, schema };
}

export function dropSchemas(): Promise<void> {
  return dropSchemasNamed(schemas);
}

/** YAML of an llm: section (indented body given as text after `llm:`). */
export function llmProject(opts: { llm: string; agents?: string; backend?: Backend }) {
  return makeProject({
    store: storeFor(opts.backend ?? 'sqlite'),
    extra: `llm:\n${opts.llm}`,
    agents: opts.agents ?? '  {}\n',
  });
}

const running: Daemon[] = [];
export async function startDaemon(configFile: string): Promise<Daemon> {
  const d = await Daemon.start(await loadConfig(configFile));
  running.push(d);
  return d;
}

export async function stopDaemons(): Promise<void> {
  await Promise.all(running.splice(0).map((d) => d.shutdown('test end').catch(() => undefined)));
}

export async function createKey(d: Daemon, body: Record<string, unknown> = { name: 'test' }): Promise<{ id: string; key: string }> {
  const res = await fetch(`${d.url}/api/llm/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`key create: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; key: string };
}

export function provider(name: string, baseUrl: string, models: string[], extra = ''): string {
  return `    ${name}:\n      api_key: sk-test\n      base_url: ${baseUrl}\n      models: [${models.join(', ')}]\n${extra}`;
}

/**
 * The fake OpenAI upstream of a test file (api key sk-test): started before the file's tests and
 * closed after them (with the file's PostgreSQL schemas); after each test the daemons stop and the
 * fake forgets its requests and script. Call at the top level of the file; the returned handle
 * forwards to the server once it runs (use it inside tests and hooks, not at import time).
 */
export function useFakeOpenAI(): FakeServer {
  let fake: FakeServer | undefined;
  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-test' });
  });
  afterAll(async () => {
    await fake?.close();
    await dropSchemas();
  });
  afterEach(async () => {
    await stopDaemons();
    fake?.reset().setDefault({});
  });
  return new Proxy({} as FakeServer, {
    get(_target, prop) {
      if (!fake) throw new Error('useFakeOpenAI: the fake upstream is not started yet (use it inside tests and hooks)');
      const v = Reflect.get(fake, prop, fake) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(fake) : v;
    },
  });
}
