// `openclaw dev`: the daemon in the foreground with hot reload. Rewriting one agent's source
// restarts that agent alone (its new code shows in its state); its neighbour keeps its instance;
// Ctrl-C (SIGINT) drains and exits 0.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/project.js';
import type { AgentView } from '../../src/daemon/control.js';
import { alive, apiGet, cleanup, descendants, e2eFixture, readDaemonJson, spawnOpenclaw, tempDir, trackPid, trackProject, waitGone } from './helpers.js';

afterAll(cleanup);

describe('openclaw dev', () => {
  it('reloads the changed agent only, and stops cleanly on SIGINT', async () => {
    const dir = trackProject(tempDir());
    fs.mkdirSync(path.join(dir, 'agents'));
    for (const f of ['alpha.ts', 'beta.ts']) fs.copyFileSync(e2eFixture(`dev/${f}`), path.join(dir, 'agents', f));
    fs.writeFileSync(
      path.join(dir, 'openclaw.yaml'),
      ['project: dev-reload', 'api:', '  port: 0', 'agents:', '  alpha:', '    source: agents/alpha.ts', '    schedule: every 1s', '  beta:', '    source: agents/beta.ts', '    schedule: every 1s', ''].join('\n'),
    );

    const dev = spawnOpenclaw(['dev'], { cwd: dir });
    const failed = dev.exit.then((r) => {
      throw new Error(`openclaw dev exited early (${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    });
    failed.catch(() => undefined);
    // In the foreground the daemon is the CLI process itself.
    const info = await Promise.race([waitFor('daemon.json of openclaw dev', () => readDaemonJson(dir)?.pid === dev.child.pid && readDaemonJson(dir)), failed]);
    trackPid(info.pid);
    expect(dev.stdout()).toMatch(/openclaw: project 'dev-reload' running 2 agent\(s\); control API on http:\/\/127\.0\.0\.1:\d+/);

    const agent = (name: string) => apiGet<AgentView>(dir, `/api/agents/${name}`);
    const state = async (name: string) => (await apiGet<{ state: { value?: string; runs?: number } }>(dir, `/api/agents/${name}/state`)).state;
    await waitFor('alpha wrote v1', async () => (await state('alpha')).value === 'v1');
    await waitFor('beta ran', async () => ((await state('beta')).runs ?? 0) >= 1);
    const alphaBefore = await agent('alpha');
    const betaBefore = await agent('beta');
    for (const a of [alphaBefore, betaBefore]) trackPid(a.instances[0].pid);
    expect(alphaBefore.status).toBe('running');
    expect(betaBefore.status).toBe('running');

    // Edit alpha the way a user would: same file, new constant.
    const file = path.join(dir, 'agents', 'alpha.ts');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("const VALUE = 'v1';", "const VALUE = 'v2';"));

    await Promise.race([waitFor('alpha reloaded and wrote v2', async () => (await state('alpha')).value === 'v2'), failed]);
    const alphaAfter = await agent('alpha');
    expect(alphaAfter.status).toBe('running');
    expect(alphaAfter.instances[0].startedAt).toBeGreaterThan(alphaBefore.instances[0].startedAt!);
    // Its state survived the reload: the run counter went on.
    expect((await state('alpha')).runs).toBeGreaterThan(1);

    // beta kept its instance: same process, same start, no restart; and it kept running.
    const betaRuns = (await state('beta')).runs!;
    await waitFor('beta runs on', async () => (await state('beta')).runs! > betaRuns);
    const betaAfter = await agent('beta');
    expect(betaAfter.status).toBe('running');
    expect(betaAfter.instances[0].pid).toBe(betaBefore.instances[0].pid);
    expect(betaAfter.instances[0].startedAt).toBe(betaBefore.instances[0].startedAt);
    expect(betaAfter.instances[0].restarts).toBe(betaBefore.instances[0].restarts);
    expect(betaAfter.restarts).toBe(betaBefore.restarts);

    // The terminal shows what happened (dev echoes agent logs).
    await waitFor('reload echoed', () => /\[alpha\] reloading: source changed: alpha\.ts/.test(dev.stdout()));
    expect(dev.stdout()).toMatch(/alpha wrote v2/);
    expect(dev.stdout()).not.toMatch(/\[beta\] reloading/);

    // A source that no longer loads is not swapped in: alpha keeps running the last good code.
    fs.writeFileSync(file, 'export const broken = ;\n');
    await waitFor('bad source reported', () => /\[alpha\] not reloaded, the new source does not load/.test(dev.stdout()));
    expect((await agent('alpha')).status).toBe('running');

    // Ctrl-C: drains, removes daemon.json, exits 0, leaves no agent host behind.
    const hosts = descendants(info.pid);
    for (const p of hosts) trackPid(p);
    dev.child.kill('SIGINT');
    const end = await dev.exit;
    expect(end.stderr).toBe('');
    expect(end.code).toBe(0);
    expect(end.stdout).toMatch(/openclaw: SIGINT, draining agents/);
    expect(end.stdout).toMatch(/openclaw: stopped\n$/);
    expect(readDaemonJson(dir)).toBeNull();
    expect(alive(info.pid)).toBe(false);
    for (const p of hosts) await waitGone(p, 'agent host');
  });
});
