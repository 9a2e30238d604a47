// Budgets across a kill -9 of the daemon in the middle of a burst of /v1 calls: no settled spend is
// lost (every call a client saw succeed is in the ledger after the restart) and the provider is never
// called for more than the budget plus one call's maximum cost, counting the calls cut off in flight.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../fakes/index.js';
import { fixture, tsxUrls, waitFor } from '../helpers/project.js';
import { dropSchemas, llmProject, provider } from './helpers.js';

const BUDGET = 0.1;
const MAX_TOKENS = 1000;
// gpt-4o: $2.50 in, $10 out per million tokens; the fake reports 12 in, 1000 out: ~$0.01 a call.
const CALL_COST = (12 * 2.5 + MAX_TOKENS * 10) / 1e6;
const MAX_CALL_COST = (40 * 2.5 + MAX_TOKENS * 10) / 1e6;

let fake: FakeServer;
const children: ChildProcess[] = [];
beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: 'sk-test' });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await fake.close();
  await dropSchemas();
});

async function startChild(dir: string, configFile: string): Promise<{ child: ChildProcess; url: string }> {
  fs.rmSync(path.join(dir, '.openclaw', 'daemon.json'), { force: true });
  const child = spawn(process.execPath, ['--import', tsxUrls().loader, fixture('run-daemon.ts'), configFile], { cwd: dir, stdio: 'ignore' });
  children.push(child);
  const url = await waitFor(
    'daemon.json',
    () => {
      try {
        const info = JSON.parse(fs.readFileSync(path.join(dir, '.openclaw', 'daemon.json'), 'utf8')) as { pid: number; url: string };
        return info.pid === child.pid ? info.url : null;
      } catch {
        return null;
      }
    },
    60_000,
  );
  return { child, url };
}

function call(url: string, key: string, i: number): Promise<number> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `call ${i}` }], max_tokens: MAX_TOKENS }),
  }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    () => 0, // cut off by the kill
  );
}

async function spent(url: string): Promise<number> {
  const res = (await (await fetch(`${url}/api/llm/usage?by=model&since=1d`)).json()) as { total: { costUsd: number } };
  return res.total.costUsd;
}

describe('budget across kill -9 (sqlite)', () => {
  it('keeps every settled call and never overspends by more than one call', async () => {
    const { dir, configFile } = llmProject({
      llm: `  providers:\n${provider('openai', fake.baseUrl, ['gpt-4o'])}  defaults:\n    primary: gpt-4o\n  budgets:\n    timezone: Europe/Paris\n    global:\n      daily_limit_usd: ${BUDGET}\n`,
    });
    fake.setDefault({ latencyMs: 150, usage: { input: 12, output: MAX_TOKENS } });

    let d = await startChild(dir, configFile);
    const res = await fetch(`${d.url}/api/llm/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'kill' }) });
    expect(res.status).toBe(201);
    const { key } = (await res.json()) as { key: string };

    // Calls one after another in 4 lanes; kill -9 once a few have settled and others are in flight.
    const statuses: number[] = [];
    let stop = false;
    const lanes = Array.from({ length: 4 }, async (_, lane) => {
      for (let i = 0; !stop && i < 20; i++) statuses.push(await call(d.url, key, lane * 100 + i));
    });
    await waitFor('calls settled and more in flight', () => statuses.filter((s) => s === 200).length >= 3 && fake.chatRequests.length > statuses.filter((s) => s === 200).length);
    d.child.kill('SIGKILL');
    stop = true;
    await Promise.all(lanes);
    const settledBeforeKill = statuses.filter((s) => s === 200).length;

    d = await startChild(dir, configFile);
    // No settled spend lost: every call a client saw succeed is in the ledger.
    expect(await spent(d.url)).toBeGreaterThanOrEqual(settledBeforeKill * CALL_COST - 1e-9);

    // Spend on until refused: the provider never saw more than the budget plus one call.
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => call(d.url, key, 1000 + i)));
    expect(after.every((s) => s === 200 || s === 429)).toBe(true);
    expect(after.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(fake.chatRequests.length * CALL_COST).toBeLessThanOrEqual(BUDGET + MAX_CALL_COST);
    d.child.kill('SIGTERM');
    await new Promise((r) => d.child.once('exit', r));
  });
});
