// Memory of idle dedicated agents in one agent host, through the runtime alone (no daemon, no
// store): the host's RSS with 1 agent and with N agents (each in its own runtime and host, all N
// started at once as a daemon's boot does), and the difference per agent — the marginal cost of
// one more idle dedicated agent, which `agents-capacity --scenario idle-memory` (host RSS / agents)
// mixes with the host's own base (a Node process, its spare worker). Also each worker's heap used,
// from the memory samples the workers send. From dist (`npm run build` first): what users run.
//
//   node --import tsx worker-memory.ts [--agents 20] [--settle-s 6]
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { BENCH_DIR, agentFile, arg, jsonLine, log, r1, sleep, table } from './lib/common.js';

const N = arg('agents', 20);
const SETTLE_S = arg('settle-s', 6);
const TARGET_MB = 10;

type RuntimeModule = typeof import('../src/runtime/index.js');
const mod = (await import(path.join(BENCH_DIR, '..', 'dist', 'runtime', 'index.js'))) as RuntimeModule;

const kb = (pid: number, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

async function host(n: number): Promise<{ rssMb: number; anonMb: number; heapUsedMb: number }> {
  const heap = new Map<string, number>();
  const listener = {
    rpc: async () => null,
    log: () => undefined,
    metrics: () => undefined,
    memory: (id: string, _agent: string, s: { heapUsed: number }) => void heap.set(id, s.heapUsed),
    logsDropped: () => undefined,
  };
  const rt = mod.createRuntime(listener, {});
  try {
    await rt.describe(agentFile('noop.ts'));
    const handles = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const h = await rt.startAgent({ instanceId: `idle-${i}#0`, agent: `idle-${i}`, replica: 0, file: agentFile('noop.ts'), config: {}, isolation: 'dedicated', memory: {}, heartbeatTimeoutMs: 10_000, logLevel: 'info' });
        const res = await h.invoke({ runId: randomUUID(), kind: 'setup', versions: {} });
        if (!res.ok) throw new Error(`setup failed: ${res.error?.message}`);
        return h;
      }),
    );
    await sleep(SETTLE_S * 1000);
    const pid = handles[0]!.pid;
    const heaps = [...heap.values()];
    return { rssMb: kb(pid, 'VmRSS'), anonMb: kb(pid, 'RssAnon'), heapUsedMb: heaps.reduce((a, b) => a + b, 0) / Math.max(1, heaps.length) / 1048576 };
  } finally {
    await rt.shutdown();
  }
}

log(`1 idle dedicated agent in a host`);
const one = await host(1);
log(`${N} idle dedicated agents in a host, started at once`);
const many = await host(N);
const marginal = (many.rssMb - one.rssMb) / (N - 1);
table(`Idle dedicated agents in one host, runtime from dist (settled ${SETTLE_S} s)`, ['agents', 'host RSS MB', 'anonymous MB', 'heap used per worker MB', 'host RSS / agents MB', 'marginal MB per agent (target ≤ 10)'], [
  [1, r1(one.rssMb), r1(one.anonMb), r1(one.heapUsedMb), r1(one.rssMb), ''],
  [N, r1(many.rssMb), r1(many.anonMb), r1(many.heapUsedMb), r1(many.rssMb / N), r1(marginal)],
]);
jsonLine('worker-memory', { agents: N, settleS: SETTLE_S, one, many, perAgentMb: r1(many.rssMb / N), marginalMb: r1(marginal), met: marginal <= TARGET_MB });
