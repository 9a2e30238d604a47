// `openclaw keys create|list|revoke` through the real CLI against a real daemon; the key works on /v1.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../fakes/index.js';
import { runCli } from '../cli/run-cli.js';
import { dropSchemas, llmProject, provider, startDaemon, stopDaemons } from './helpers.js';

let fake: FakeServer;
beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: 'sk-test' });
});
afterAll(async () => {
  await fake.close();
  await dropSchemas();
});
afterEach(async () => {
  await stopDaemons();
  fake.reset().setDefault({});
});

describe('openclaw keys', () => {
  it('creates a key printed once, lists it without the secret, and revokes it', async () => {
    const { configFile, dir } = llmProject({ llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini', 'claude-3-haiku'])}` });
    const d = await startDaemon(configFile);
    const env = { OPENCLAW_URL: d.url };
    const created = await runCli(['keys', 'create', '--name', 'ci', '--budget-daily', '5', '--tpm', '10000', '--models', 'gpt-4o-mini,claude-3-haiku'], { cwd: dir, env });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const key = /(ock_\S+)/.exec(created.stdout)![1]!;
    const id = /Created key (key_[0-9a-f]+)/.exec(created.stdout)![1]!;
    expect(created.stdout).toMatch(/only time the key is shown/);

    const ok = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(ok.status).toBe(200);

    const list = await runCli(['keys', 'list'], { cwd: dir, env });
    expect(list.stdout).toMatch(new RegExp(`${id}.*ci.*\\$5\\.00.*10000.*gpt-4o-mini,claude-3-haiku.*active`));
    expect(list.stdout).not.toContain(key);
    const json = JSON.parse((await runCli(['keys', 'list', '--json'], { cwd: dir, env })).stdout) as { keys: Array<Record<string, unknown>> };
    expect(json.keys[0]).toMatchObject({ id, name: 'ci', budgetDailyUsd: 5, tpm: 10000, models: ['gpt-4o-mini', 'claude-3-haiku'], revokedAt: null });
    expect(JSON.stringify(json)).not.toContain(key);

    const revoked = await runCli(['keys', 'revoke', id], { cwd: dir, env });
    expect(revoked.stdout).toMatch(`Revoked key ${id}`);
    const denied = await fetch(`${d.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(denied.status).toBe(401);
    const missing = await runCli(['keys', 'revoke', 'key_nope'], { cwd: dir, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/key 'key_nope' not found/);
  });

  it('creates a key without --name, named after its id, like every other create (issue 14 item 15)', async () => {
    const { configFile, dir } = llmProject({ llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini'])}` });
    const d = await startDaemon(configFile);
    const created = await runCli(['keys', 'create', '--json'], { cwd: dir, env: { OPENCLAW_URL: d.url } });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const res = JSON.parse(created.stdout) as { id: string; name: string; key: string };
    expect(res.name).toBe(`key-${res.id.slice('key_'.length)}`);
    expect(res.key).toMatch(/^ock_/);
    const listed = JSON.parse((await runCli(['keys', 'list', '--json'], { cwd: dir, env: { OPENCLAW_URL: d.url } })).stdout) as { keys: Array<{ id: string; name: string }> };
    expect(listed.keys).toContainEqual(expect.objectContaining({ id: res.id, name: res.name }));
  });
});
