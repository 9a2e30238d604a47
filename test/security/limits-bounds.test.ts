// Issue 14, item 8: every number in the agent schema has a sane upper bound; events and state
// values have default maximum sizes (configurable per agent); each route has a body limit (1 MiB
// unless it carries bulk data).
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { fixture, makeProject } from '../helpers/project.js';

function configError(agentYaml: string): string {
  try {
    parseConfig(`project: p\nagents:\n  a:\n    source: ${fixture('counter.ts')}\n${agentYaml}`, '/tmp/openclaw.yaml');
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

it('refuses absurd numbers at load, naming the bound', () => {
  expect(configError('    replicas: 100000\n')).toMatch(/agents\.a\.replicas: must be at most 1000 \(got 100000\)/);
  expect(configError('    events: { concurrency: 1000000000 }\n')).toMatch(/agents\.a\.events\.concurrency: must be at most 1000/);
  expect(configError('    events: { max_attempts: 1000000 }\n')).toMatch(/max_attempts: must be at most 1000/);
  expect(configError('    replicas: 3\n')).toBe('');
});

it('limits request bodies per route, event sizes and state value sizes', async () => {
  const { dir, configFile } = makeProject({ agents: `  a:\n    source: ${fixture('counter.ts')}\n    resources: { max_state_value_size: 64Ki }\n` });
  const daemon = await Daemon.start(await loadConfig(configFile), { modules: createModules() });
  const post = (method: string, route: string, body: unknown) =>
    fetch(daemon.url + route, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string; message: string } } }));
  try {
    // 2 MiB event: over the 1 MiB body limit of POST /api/events.
    const big = await post('POST', '/api/events', { name: 'x', data: 'y'.repeat(2 * 1024 * 1024) });
    expect(big.status).toBe(413);
    // A state write under the route's 16 MiB body limit but over the agent's 64 KiB value limit.
    const value = await post('PUT', '/api/agents/a/state', { writes: [{ key: 'k', value: 'v'.repeat(100 * 1024) }] });
    expect([value.status, value.body.error?.code]).toEqual([413, 'value_too_large']);
    expect(value.body.error?.message).toContain('resources.max_state_value_size');
    expect((await post('PUT', '/api/agents/a/state', { writes: [{ key: 'k', value: 'small' }] })).status).toBe(200);
  } finally {
    await daemon.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
