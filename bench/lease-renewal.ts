// Diagnostic for the issue-11 regression (a lone PostgreSQL daemon with 1,000 shared agents lost its
// leases while starting them): one daemon in this process on a fresh schema with --fleet shared agents
// `every 1s`; prints, relative to the start: join, schedules.start, every renewal slower than 300 ms
// (with the store pool queue length), every 5 s the event-loop delay (monitorEventLoopDelay max/p99,
// stalls of a 50 ms interval over 500 ms) and a `SELECT 1` probe through the store pool (what a
// renewal on the pool would wait). It wraps private LeaseManager methods: a diagnostic, not a bench.
//   node --import tsx lease-renewal.ts --fleet 1000 --seconds 60
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import os from 'node:os';
import { loadConfig } from '../src/config/index.js';
import { Daemon } from '../src/daemon/daemon.js';
import { LeaseManager } from '../src/cluster/leases.js';
import { Schedules } from '../src/daemon/schedules.js';
import { PG_URL, agentFile, arg, makeProject, removeTempDirs, dropSchemas } from './lib/common.js';

const N = arg('fleet', 1000);
const t0 = performance.now();
const T = () => Math.round(performance.now() - t0);
const ev: string[] = [];
const note = (s: string) => { ev.push(`${T()} ${s}`); console.log(`${T()} ${s}`); };
const P = LeaseManager.prototype as any;
const oJoin = P.join, oStart = P.start, oTick = P.renew, oTimer = P.onTimer, oLoseAll = P.loseAll;
P.join = async function (...a: unknown[]) { note('join begin'); const r = await oJoin.apply(this, a); note(`join end: took ${r.length}, deadline in ${Math.round(this.deadline - performance.now())} ms`); return r; };
P.start = function () { note(`placement.start (timer begins); deadline in ${Math.round(this.deadline - performance.now())} ms`); return oStart.call(this); };
let lastTimer = 0;
let skipped = 0; P.onTimer = function () { const now = performance.now(); if (this.renewing) { skipped++; if (skipped % 3 === 0) note(`onTimer: renewal still in flight (${skipped} skipped)`); } else skipped = 0; if (lastTimer) { const gap = now - lastTimer; if (gap > 2500) note(`onTimer gap ${Math.round(gap)} ms (period ${Math.floor(this.cfg.leaseMs / 3)})`); } lastTimer = now; if (performance.now() > this.deadline && this.held.size > 0) note(`onTimer: past deadline by ${Math.round(now - this.deadline)} ms, held ${this.held.size}`); return oTimer.call(this); };
let probePool: any = null; const probes: number[] = [];
P.renew = async function () {
  const pool = this.h.pool; probePool ??= pool; const s = performance.now(); const w = pool.waitingCount;
  try { return await oTick.call(this); } finally { const d = performance.now() - s; if (d > 300) note(`renew took ${Math.round(d)} ms (pool waiting at start ${w}, total ${pool.totalCount})`); }
};
P.loseAll = function (r: string) { note(`loseAll: ${r} held=${this.held.size}`); return oLoseAll.call(this, r); };
const SP = Schedules.prototype as any; const oSS = SP.start; SP.start = async function () { note('schedules.start begin'); await oSS.call(this); note('schedules.start end'); };
let probing = false; setInterval(() => { if (!probePool || probing) return; probing = true; const s = performance.now(); probePool.query('SELECT 1').then(() => { probing = false; probes.push(performance.now() - s); }); }, 250).unref();
const pq = () => { const a = probes.splice(0).sort((x, y) => x - y); return a.length ? `pool SELECT 1 n=${a.length} p50 ${Math.round(a[Math.floor(a.length / 2)])} p99 ${Math.round(a[Math.floor(a.length * 0.99)])} max ${Math.round(a[a.length - 1])} ms` : 'no probes'; };
const h = monitorEventLoopDelay({ resolution: 10 }); h.enable();
let lastBeat = performance.now(); let maxGap = 0; const gaps: number[] = [];
setInterval(() => { const n = performance.now(); const g = n - lastBeat; lastBeat = n; if (g > maxGap) maxGap = g; if (g > 500) gaps.push(Math.round(g)); }, 50).unref();

setInterval(() => { note(`loop delay max ${Math.round(h.max / 1e6)} ms p99 ${Math.round(h.percentile(99) / 1e6)} ms; 50ms-interval gaps>500: ${gaps.splice(0).join(',')}; ${pq()}; load ${os.loadavg()[0].toFixed(1)}`); h.reset(); }, 5000).unref();
const schema = `oc_diag_${Date.now().toString(36)}`;
let yaml = '';
for (let i = 0; i < N; i++) yaml += `  tick${String(i).padStart(4, '0')}:\n    source: ${agentFile('noop.ts')}\n    isolation: shared\n    schedule: every 1s\n`;
const { configFile } = makeProject(yaml, { kind: 'postgres', url: PG_URL, schema });
note(`start, load ${os.loadavg()[0].toFixed(1)}`);
// Daemon.start may not return under heavy load (its schedules arm behind a saturated pool): stop anyway.
setTimeout(() => void dropSchemas([schema]).finally(() => { removeTempDirs(); process.exit(0); }), (arg('seconds', 40) + 90) * 1000).unref();
const d = await Daemon.start(await loadConfig(configFile), { listen: false });
note(`Daemon.start returned; loop delay max ${Math.round(h.max / 1e6)} ms p99 ${Math.round(h.percentile(99) / 1e6)}; gaps>500: ${gaps.join(',')}`);
const until = performance.now() + arg('seconds', 40) * 1000;
while (performance.now() < until) {
  await new Promise((r) => setTimeout(r, 5000));
  const st = await d.listAgents(); const c: Record<string, number> = {};
  for (const a of st) c[a.status] = (c[a.status] ?? 0) + 1;
  note(`statuses ${JSON.stringify(c)}; loop delay max ${Math.round(h.max / 1e6)} ms p99 ${Math.round(h.percentile(99) / 1e6)}; gaps>500: ${gaps.splice(0).join(',')}; ${pq()}; load ${os.loadavg()[0].toFixed(1)}`);
  h.reset();
}
await d.shutdown?.();
await dropSchemas([schema]);
removeTempDirs();
process.exit(0);
