// A log flood behind a stalled follower: agents log as fast as they can while a WebSocket
// follower stops reading. The daemon (its own process) drops and counts what the follower cannot
// take, and its memory stays bounded. bench/log-flood.ts measures the bound over a longer flood.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeProject, waitFor } from '../helpers/project.js';
import { daemonRunArgv } from '../helpers/daemon-process.js';
import { sample } from './promtool.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const cleanups: Array<() => void | Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MiB = 1024 * 1024;

describe('log flood with a stalled follower', () => {
  it('drops and counts lines for the follower, and the daemon RSS stays bounded', { timeout: 120_000 }, async () => {
    const { dir } = makeProject({
      agents: `  flood:\n    source: ${path.join(HERE, 'fixtures', 'flood.ts')}\n    replicas: 2\n    overlap: allow\n`,
    });
    // The daemon gets a 128 MB V8 heap: several times less than the flood below sends through it,
    // so a daemon that kept lines for the stalled follower would die of it (heap out of memory).
    const child = spawn(process.execPath, daemonRunArgv(dir, ['--max-old-space-size=128']), { stdio: 'ignore' });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const info = await waitFor('daemon.json', () => {
      try {
        return JSON.parse(fs.readFileSync(path.join(dir, '.openclaw', 'daemon.json'), 'utf8')) as { url: string; pid: number };
      } catch {
        return null;
      }
    });
    const metrics = async () => (await fetch(`${info.url}/api/metrics`)).text();
    // Both replicas running and ready (the agent is up once one of them is): the two triggers below
    // go one to each.
    await waitFor('both flood replicas running', async () => {
      const a = (await (await fetch(`${info.url}/api/agents/flood`)).json()) as { instances: { status: string; ready: boolean }[] };
      return a.instances.length === 2 && a.instances.every((i) => i.status === 'running' && i.ready);
    });
    const rss = async () => sample(await metrics(), 'process_resident_memory_bytes')!;
    const before = await rss();

    // The follower reads nothing: its TCP window fills, then the daemon-side socket buffer.
    const ws = new WebSocket(`${info.url.replace(/^http/, 'ws')}/api/agents/flood/logs/follow`);
    const frames: string[] = [];
    ws.on('message', (m) => frames.push(m.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const sock = (ws as unknown as { _socket: Socket })._socket;
    sock.pause();

    // Two instances, each logging 16 KiB lines as fast as it can for 12 s: the flood guards pass
    // 2 × 1,000 lines/s, about 32 MB/s and ~380 MB in all through the daemon.
    for (let i = 0; i < 2; i++) await fetch(`${info.url}/api/agents/flood/trigger`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payload: { seconds: 12, bytes: 16_000 } }) });
    let peak = before;
    let held = 0;
    const dropped = async () => {
      const text = await metrics();
      peak = Math.max(peak, sample(text, 'process_resident_memory_bytes')!);
      held = Math.max(held, sample(text, 'openclaw_log_follower_buffered_bytes')!);
      return sample(text, 'openclaw_log_dropped_lines_total', { where: 'follower' })!;
    };
    const first = await waitFor('follower drops', async () => ((await dropped()) > 0 ? dropped() : null), 60_000);
    const later = await waitFor('more follower drops', async () => {
      const n = await dropped();
      return n > first + 5000 ? n : null;
    }, 60_000);
    expect(later).toBeGreaterThan(first);
    // The agents themselves were over their flood guard (1,000 lines/s each): counted too.
    expect(sample(await metrics(), 'openclaw_log_dropped_lines_total', { where: 'agent' })).toBeGreaterThan(0);
    await waitFor('flood runs finished', async () => {
      const t = await metrics();
      peak = Math.max(peak, sample(t, 'process_resident_memory_bytes')!);
      held = Math.max(held, sample(t, 'openclaw_log_follower_buffered_bytes')!);
      return sample(t, 'openclaw_agent_runs_total', { agent: 'flood' }) === 2;
    }, 60_000);
    // The daemon lived through it (a 128 MB heap) and its RSS stayed within a bound far below
    // what went through: what it holds per agent is capped (ring 2 MiB, follower queue 2 MiB,
    // socket 1 MiB, file backlog 4 MiB); the rest is garbage V8 collects. bench/log-flood.ts
    // prints the curve.
    expect(child.exitCode).toBeNull();
    expect(peak - before).toBeLessThan(256 * MiB);
    // What it held for the stalled follower never passed its bounds: a 2 MiB queue, a 1 MiB
    // socket buffer (plus the line that crossed it). Unbounded, this grows by ~32 MB/s.
    expect(held).toBeGreaterThan(MiB);
    expect(held).toBeLessThan(4 * MiB);

    // Once the follower reads again it is told how much it missed.
    sock.resume();
    await waitFor('a dropped notice', () => frames.some((f) => f.includes('"type":"dropped"')), 30_000);
    ws.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
});
