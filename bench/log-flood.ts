// Log flood behind a stalled follower (the pm2 lesson: its daemon grew 106 MB in 35 s behind one
// stalled `pm2 logs`). A daemon in a child process; N replicas of an agent that logs L-byte lines
// as fast as it can (each instance's flood guard passes 1,000 lines/s); one WebSocket follower
// that never reads. Prints the daemon's RSS (/proc VmRSS) every second, what went through, and
// what was dropped where (openclaw_log_dropped_lines_total). Then the same without a follower.
//
//   node --import tsx bench/log-flood.ts [--seconds 30] [--replicas 2] [--bytes 4096]
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { agentFile, arg, jsonLine, log, makeProject, removeTempDirs, rssKb, sleep, startChildDaemon, table, waitFor } from './lib/common.js';

const seconds = arg('seconds', 30);
const replicas = arg('replicas', 2);
const bytes = arg('bytes', 4096);

function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

async function scenario(stalled: boolean) {
  const { dir, configFile } = makeProject(`  flood:\n    source: ${agentFile('flood.ts')}\n    replicas: ${replicas}\n    overlap: allow\n`);
  const d = await startChildDaemon(dir, configFile);
  const metrics = async () => (await fetch(`${d.url}/api/metrics`)).text();
  await waitFor('flood up', async () => sample(await metrics(), 'openclaw_agent_up', { agent: 'flood' }) === 1);
  await sleep(1000);
  const baseMb = rssKb(d.pid) / 1024;

  let ws: WebSocket | null = null;
  if (stalled) {
    ws = new WebSocket(`${d.url.replace(/^http/, 'ws')}/api/agents/flood/logs/follow`);
    ws.on('error', () => {});
    await new Promise<void>((r) => ws!.once('open', () => r()));
    (ws as unknown as { _socket: Socket })._socket.pause();
  }
  for (let i = 0; i < replicas; i++) {
    await fetch(`${d.url}/api/agents/flood/trigger`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payload: { seconds, bytes } }) });
  }
  const series: number[] = [];
  let heldPeak = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < (seconds + 2) * 1000) {
    await sleep(1000);
    series.push(Math.round(rssKb(d.pid) / 1024));
    heldPeak = Math.max(heldPeak, sample(await metrics(), 'openclaw_log_follower_buffered_bytes'));
  }
  const text = await metrics();
  const out = {
    follower: stalled ? 'stalled' : 'none',
    baseMb: Math.round(baseMb),
    peakMb: Math.max(...series),
    lastMb: series[series.length - 1],
    growthMb: Math.max(...series) - Math.round(baseMb),
    followerHeldMb: Math.round((heldPeak / 1048576) * 10) / 10,
    droppedFollower: sample(text, 'openclaw_log_dropped_lines_total', { where: 'follower' }),
    droppedAgent: sample(text, 'openclaw_log_dropped_lines_total', { where: 'agent' }),
    droppedFile: sample(text, 'openclaw_log_dropped_lines_total', { where: 'file' }),
    series,
  };
  ws?.terminate();
  await d.stop();
  return out;
}

log(`log flood: ${replicas} instance(s) × ${bytes}-byte lines for ${seconds}s`);
const rows = [await scenario(true), await scenario(false)];
table(
  'daemon RSS under a log flood',
  ['follower', 'base MB', 'peak MB', 'last MB', 'growth MB', 'held for follower (peak MB)', 'dropped (follower)', 'dropped (agent guard)', 'dropped (file)'],
  rows.map((r) => [r.follower, r.baseMb, r.peakMb, r.lastMb, r.growthMb, r.followerHeldMb, r.droppedFollower, r.droppedAgent, r.droppedFile]),
);
for (const r of rows) log(`${r.follower}: RSS MB per second: ${r.series.join(' ')}`);
jsonLine('log-flood', { seconds, replicas, bytes, rows });
removeTempDirs();
