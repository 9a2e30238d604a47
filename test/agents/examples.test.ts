// Every example agent file imports (through 'openclaw' and 'openclaw/tools') and declares what its
// openclaw.yaml and README say. Behaviour of the quickstart pipeline is pinned over a fake context.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { describeAgentClass } from '../../src/agents/describe.js';
import { REPO, importWithSdk } from './helpers/sdk-import.js';
import { fakeContext } from './helpers/fake-context.js';

const EXAMPLES = path.join(REPO, 'examples');

const expectations: Record<string, Record<string, { schedule: unknown; handlers: Array<{ event: string; method: string }> }>> = {
  'uptime-monitor': {
    'uptime_monitor.ts': { schedule: { kind: 'every', everyMs: 300_000 }, handlers: [] },
  },
  pipeline: {
    'data_collector.ts': { schedule: { kind: 'every', everyMs: 600_000 }, handlers: [] },
    'analyzer.ts': { schedule: null, handlers: [{ event: 'data_collected', method: 'analyze' }] },
    'reporter.ts': { schedule: null, handlers: [{ event: 'analysis_complete', method: 'report' }] },
    'alerter.ts': { schedule: null, handlers: [{ event: 'report_ready', method: 'alert' }] },
  },
  quickstart: {
    'monitor.ts': { schedule: { kind: 'every', everyMs: 10_000 }, handlers: [] },
    'collector.ts': { schedule: { kind: 'every', everyMs: 5_000 }, handlers: [] },
    'analyzer.ts': { schedule: null, handlers: [{ event: 'metrics_collected', method: 'analyze' }] },
    'alerter.ts': { schedule: null, handlers: [{ event: 'analysis_complete', method: 'alert' }] },
    'reporter.ts': { schedule: { kind: 'every', everyMs: 30_000 }, handlers: [] },
  },
};

describe.each(Object.keys(expectations))('examples/%s', (example) => {
  it.each(Object.keys(expectations[example]!))('agents/%s imports and describes', async (file) => {
    const mod = await importWithSdk(path.join(EXAMPLES, example, 'agents', file));
    const d = describeAgentClass(mod.default);
    expect(d.schedule).toEqual(expectations[example]![file]!.schedule);
    expect(d.handlers).toEqual(expectations[example]![file]!.handlers);
  });

  it('openclaw.yaml points at agent files that exist', () => {
    const doc = parseYaml(readFileSync(path.join(EXAMPLES, example, 'openclaw.yaml'), 'utf8')) as { agents: Record<string, { source?: string; args?: string[] }> };
    const sources = Object.values(doc.agents).flatMap((a) => (a.source ? [path.basename(a.source)] : []));
    expect(sources.sort()).toEqual(Object.keys(expectations[example]!).sort());
    for (const a of Object.values(doc.agents)) {
      for (const rel of [a.source, ...(a.args ?? [])].filter((x): x is string => !!x && /\.(ts|mjs)$/.test(x))) {
        expect(() => readFileSync(path.join(EXAMPLES, example, rel))).not.toThrow();
      }
    }
  });
});

describe('quickstart pipeline over a fake context', () => {
  it('collector → analyzer flags the latency spike against persistent baselines → alerter counts it', async () => {
    const load = async (f: string) => (await importWithSdk(path.join(EXAMPLES, 'quickstart', 'agents', f))).default as new () => any;
    const [Collector, Analyzer, Alerter] = await Promise.all([load('collector.ts'), load('analyzer.ts'), load('alerter.ts')]);

    const cctx = fakeContext({ agentName: 'collector', config: { sources: ['checkout', 'search'] } });
    const actx = fakeContext({ agentName: 'analyzer', config: { threshold_sigma: 2 } });
    const lctx = fakeContext({ agentName: 'alerter', config: {} });
    const collector = new Collector();
    collector.__attach(cctx);
    const alerter = new Alerter();
    alerter.__attach(lctx);
    await alerter.setup();

    for (let i = 0; i < 8; i++) {
      await collector.run();
      // The analyzer is a fresh instance each time: the baselines must come from state.
      const analyzer = new Analyzer();
      analyzer.__attach(actx);
      const ev = cctx.emitted.at(-1)!;
      await analyzer.analyze({ id: `e${i}`, name: ev.name, data: ev.data, source: 'collector', createdAt: 0, attempt: 1 });
      const out = actx.emitted.at(-1)!;
      await alerter.alert({ id: `a${i}`, name: out.name, data: out.data, source: 'analyzer', createdAt: 0, attempt: 1 });
    }

    expect(cctx.store.get('batches')).toBe(8);
    expect(actx.store.get('batches_analyzed')).toBe(8);
    const last = actx.emitted.at(-1)!.data as { batch_no: number; anomalies: Array<{ source: string; metric: string }> };
    expect(last.batch_no).toBe(8);
    expect(last.anomalies).toContainEqual(expect.objectContaining({ source: 'checkout', metric: 'latency_ms' }));
    expect(lctx.store.get('alerts_sent')).toBeGreaterThanOrEqual(1);
    expect(lctx.logs.some((l) => l.level === 'warning' && l.msg.includes('checkout.latency_ms'))).toBe(true);
  });
});

describe('quickstart monitor against the real targets service', () => {
  it('opens one incident for the 503 endpoint, alerts the sink once, and does not re-alert', async () => {
    const { spawn } = await import('node:child_process');
    const { closedPort } = await import('../tools/helpers/loopback.js');
    const port = await closedPort();
    const child = spawn(process.execPath, [path.join(EXAMPLES, 'quickstart', 'services', 'targets.mjs')], {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    try {
      while (!out.includes('listening')) {
        if (child.exitCode !== null) throw new Error(`targets.mjs exited: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const Monitor = (await importWithSdk(path.join(EXAMPLES, 'quickstart', 'agents', 'monitor.ts'))).default as new () => any;
      const base = `http://127.0.0.1:${port}`;
      const ctx = fakeContext({
        agentName: 'monitor',
        config: {
          alert_webhook: `${base}/alerts`,
          targets: [
            { name: 'healthy-api', url: `${base}/healthy`, expected_status: 200, timeout: 5 },
            { name: 'broken-api', url: `${base}/broken`, expected_status: 200, timeout: 5 },
          ],
        },
      });
      const monitor = new Monitor();
      monitor.__attach(ctx);
      await monitor.setup();
      await monitor.run();
      await monitor.run();
      await monitor.teardown();

      expect(Object.keys(ctx.store.get('incidents') as object)).toEqual(['broken-api']);
      expect(ctx.store.get('checks')).toBe(2);
      expect(ctx.store.get('last_check')).toMatchObject({ healthy: 1, total: 2 });
      // A marker alert after both runs: the server prints alerts in the order they arrive, so once
      // the marker is printed every alert of the monitor is too, and the marker's number counts them.
      await fetch(`${base}/alerts`, { method: 'POST', body: JSON.stringify({ agent: 'test', text: 'marker' }) });
      while (!out.includes('[test] marker')) await new Promise((r) => setTimeout(r, 20));
      expect(out.match(/ALERT #\d+ received: \[monitor\] 🚨 broken-api is DOWN: .*HTTP 503/g)).toHaveLength(1);
      expect(out).toContain('ALERT #2 received: [test] marker'); // the monitor alerted once, not on its second run
    } finally {
      child.kill('SIGTERM');
    }
  });
});
