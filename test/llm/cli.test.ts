// `openclaw keys create|list|revoke` through the real CLI against a real daemon; the key works on /v1.
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { llmProject, provider, startDaemon, useFakeOpenAI } from './helpers.js';

const fake = useFakeOpenAI();

describe('openclaw keys', () => {
  it('creates a key printed once, lists it without the secret, and revokes it', { timeout: 180_000 }, async () => {
    const { configFile, dir } = llmProject({ llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o-mini', 'claude-3-haiku'])}` });
    const d = await startDaemon(configFile);
    const env = { OPENCLAW_URL: d.url };
    const created = await runCli(['keys', 'create', '--name', 'ci', '--budget-daily', '5', '--tpm', '10000', '--models', 'gpt-4o-mini,claude-3-haiku'], { cwd: dir, env });
    expect(created.code).toBe(0);
    // stdout is the key and nothing else (KEY=$(openclaw keys create …)); the details go to stderr.
    expect(created.stdout).toMatch(/^ock_\S+\n$/);
    const key = created.stdout.trim();
    const id = /Created key (key_[0-9a-f]+) \(ci\)/.exec(created.stderr)![1]!;
    expect(created.stderr).toMatch(/only time the key is shown/);

    const ok = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(ok.status).toBe(200);

    // usage --by key names the key, not just its id.
    const usage = await runCli(['usage', '--by', 'key'], { cwd: dir, env });
    expect(usage.stdout).toMatch(new RegExp(`│ ci \\(${id}\\) +│ +1 │`));
    const usageJson = (await (await fetch(`${d.url}/api/llm/usage?by=key`)).json()) as { rows: Array<{ group: string; name: string }> };
    expect(usageJson.rows).toEqual([expect.objectContaining({ group: id, name: 'ci', requests: 1 })]);

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
