// CPU accounting for the throughput benches (events, jobs): CPU time of this process (the
// in-process daemon) and of its children (agent hosts), and an optional CPU profile of the
// daemon's main thread (node:inspector) written to bench/profiles/ with its top self-time
// functions.
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { BENCH_DIR, childrenOf, log, r1 } from './common.js';

/** utime+stime of a process and its descendants from /proc/<pid>/stat, in ms (`self`: the process alone). */
export function procCpuMs(pid: number, self = false): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(f[11]) + Number(f[12])) * 1000) / tick;
    } catch {
      // gone
    }
    if (!self) stack.push(...childrenOf(p));
  }
  return total;
}

/** utime+stime per thread name of one process (/proc/<pid>/task/*), in ms: main thread, V8 workers, libuv pool… */
export function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '#');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid === String(pid) ? 'main' : name, (out.get(tid === String(pid) ? 'main' : name) ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / 100);
    } catch {
      // gone
    }
  }
  return out;
}

export interface CpuWindow {
  /** Daemon (this process) user+system ms and hosts (children) ms since the window opened. */
  stop(): Promise<{ daemonUserMs: number; daemonSysMs: number; hostsMs: number; topSelf?: TopSelf[] }>;
}

export type TopSelf = { fn: string; selfMs: number; pct: number };

/** Opens a CPU window; with `profileName`, also a CPU profile of this thread. */
export async function cpuWindow(profileName: string | null): Promise<CpuWindow> {
  let session: Session | null = null;
  if (profileName) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  const hostPids = childrenOf(process.pid);
  const cpu0 = process.cpuUsage();
  const hostCpu0 = hostPids.reduce((a, p) => a + procCpuMs(p), 0);
  return {
    async stop() {
      const cpu = process.cpuUsage(cpu0);
      const hostsMs = Math.round(hostPids.reduce((a, p) => a + procCpuMs(p), 0) - hostCpu0);
      let topSelf: TopSelf[] | undefined;
      if (session) {
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        fs.mkdirSync(path.join(BENCH_DIR, 'profiles'), { recursive: true });
        const file = path.join(BENCH_DIR, 'profiles', `${profileName}-${Date.now()}.cpuprofile`);
        fs.writeFileSync(file, JSON.stringify(profile));
        log(`CPU profile written to ${file}`);
        topSelf = summarizeProfile(profile as unknown as CpuProfile);
      }
      return { daemonUserMs: Math.round(cpu.user / 1000), daemonSysMs: Math.round(cpu.system / 1000), hostsMs, ...(topSelf ? { topSelf } : {}) };
    },
  };
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  startTime: number;
  endTime: number;
  samples: number[];
}

export function summarizeProfile(p: CpuProfile, top = 20): TopSelf[] {
  const totalHits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
  const durMs = (p.endTime - p.startTime) / 1000;
  const by = new Map<string, number>();
  for (const n of p.nodes) {
    const cf = n.callFrame;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|src)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    by.set(key, (by.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, hits]) => ({ fn, selfMs: Math.round((hits / totalHits) * durMs), pct: r1((hits / totalHits) * 100) }));
}
