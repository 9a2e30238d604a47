// Tracing against a real OTLP/HTTP receiver on loopback: a daemon started with
// OPENCLAW_OTEL_ENDPOINT exports spans for run cycles, state operations, emits and event handling,
// parented as they happen; log lines and events carry the trace id; shutdown flushes the batch.
// One trace links a run to the jobs it enqueued and to the workflow run its event started, with
// that workflow's steps and the agent calls they make (issue 14, item 16).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { makeProject, waitFor } from '../helpers/project.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, unknown>;
  status?: { code?: number };
}

/** A minimal OTLP/HTTP JSON receiver: POST /v1/traces, keeps every span. */
async function receiver() {
  const spans: Span[] = [];
  const requests: Array<{ url: string; type: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', type: req.headers['content-type'] });
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const doc = JSON.parse(body) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Omit<Span, 'attributes'> & { attributes?: Array<{ key: string; value: Record<string, unknown> }> }> }> }>;
      };
      for (const rs of doc.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes: Record<string, unknown> = {};
            for (const a of s.attributes ?? []) attributes[a.key] = Object.values(a.value)[0];
            spans.push({ ...s, attributes, parentSpanId: s.parentSpanId || undefined });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, spans, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  delete process.env.OPENCLAW_OTEL_ENDPOINT;
});

describe('tracing (OPENCLAW_OTEL_ENDPOINT)', () => {
  it('exports run, state, emit and event spans with their parents, and stamps trace ids on logs and events', { timeout: 60_000 }, async () => {
    const otlp = await receiver();
    cleanups.push(otlp.close);
    process.env.OPENCLAW_OTEL_ENDPOINT = otlp.url;
    const { configFile } = makeProject({
      agents: [`  busy:\n    source: ${path.join(FIX, 'busy.ts')}\n`, `  sink:\n    source: ${path.join(FIX, 'sink.ts')}\n`].join(''),
    });
    const config = await loadConfig(configFile);
    const d = await Daemon.start(config);
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await d.shutdown('test end');
    });
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));

    const { runId } = await d.trigger('busy');
    const byName = (name: string) => otlp.spans.filter((s) => s.name === name);
    const run = await waitFor('the run span', () => otlp.spans.find((s) => s.name === 'openclaw.run' && s.attributes['openclaw.run_id'] === runId));
    expect(run.parentSpanId).toBeUndefined();
    expect(run.attributes).toMatchObject({ 'openclaw.agent': 'busy', 'openclaw.trigger': 'manual', 'openclaw.invocation': 'run', 'openclaw.instance': 'busy#0' });
    const inRun = (name: string) => byName(name).filter((s) => s.traceId === run.traceId);
    // The worker's state.get went to the daemon as an RPC carrying the run's traceparent.
    const get = await waitFor('state.get span', () => inRun('openclaw.rpc.state.get')[0]);
    expect(get.parentSpanId).toBe(run.spanId);
    expect(get.attributes).toMatchObject({ 'openclaw.agent': 'busy', 'openclaw.state.namespace': 'busy' });
    const commit = inRun('openclaw.state.commit')[0];
    expect(commit.parentSpanId).toBe(run.spanId);
    expect(commit.attributes).toMatchObject({ 'openclaw.state.writes': 1, 'openclaw.events.emitted': 1 });
    const emit = inRun('openclaw.emit')[0];
    expect(emit.parentSpanId).toBe(commit.spanId);
    expect(emit.attributes['openclaw.event.name']).toBe('work.done');

    // The event row carries the emitting run's trace; its handling is a span of its own.
    const [event] = await d.listEvents({ name: 'work.done' });
    expect(event.traceId).toBe(run.traceId);
    const handled = await waitFor('event span', () => byName('openclaw.event').find((s) => s.attributes['openclaw.event.id'] === event.id));
    expect(handled.attributes).toMatchObject({ 'openclaw.agent': 'sink', 'openclaw.event.name': 'work.done', 'openclaw.trigger': 'event' });
    // Handling continues the emitter's trace (issue 14 item 16): one trace shows emit → handler.
    expect(handled.traceId).toBe(run.traceId);
    expect([emit.spanId, commit.spanId]).toContain(handled.parentSpanId);
    expect(event.traceparent).toMatch(new RegExp(`^00-${run.traceId}-[0-9a-f]{16}-01$`));
    expect(otlp.requests.every((r) => r.url === '/v1/traces' && r.type === 'application/json')).toBe(true);

    // Log lines of the run (worker side and file) carry its trace and span ids.
    const line = (await d.recentLogs('busy')).find((l) => l.msg === 'busy run 1');
    expect(line).toMatchObject({ traceId: run.traceId, spanId: run.spanId, runId });
    const file = fs.readFileSync(path.join(config.dataDir, 'logs', 'busy.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(file.find((l) => l.msg === 'busy run 1')).toMatchObject({ level: 30, traceId: run.traceId, runId, agent: 'busy', n: 1 });

    // A failed run is an error span. Shutdown flushes spans still in the batch.
    const failed = await d.trigger('busy', { fail: true });
    await waitFor('the failed run recorded', async () => (await d.listRuns('busy')).some((r) => r.id === failed.runId && r.status === 'failed'));
    await d.shutdown('test end');
    stopped = true;
    const failedSpan = otlp.spans.find((s) => s.name === 'openclaw.run' && s.attributes['openclaw.run_id'] === failed.runId);
    expect(failedSpan?.status?.code).toBe(2); // STATUS_CODE_ERROR
  });

  it('continues one trace from a run to the job it enqueued and to the workflow its event started, through the steps', { timeout: 60_000 }, async () => {
    const otlp = await receiver();
    cleanups.push(otlp.close);
    process.env.OPENCLAW_OTEL_ENDPOINT = otlp.url;
    const { configFile } = makeProject({
      agents: [`  producer:\n    source: ${path.join(FIX, 'trace-producer.ts')}\n`, `  worker:\n    source: ${path.join(FIX, 'trace-worker.ts')}\n`].join(''),
      extra: 'workflows:\n  traced:\n    triggers: [{ event: trace.go }]\n    steps:\n      - { id: call, type: agent, agent: worker, method: step, payload: { n: 1 } }\n',
    });
    const d = await Daemon.start(await loadConfig(configFile), { modules: createModules() });
    cleanups.push(() => d.shutdown('test end'));
    await waitFor('agents running', async () => (await d.listAgents()).every((a) => a.status === 'running'));

    const { runId } = await d.trigger('producer');
    const run = await waitFor('the producer run span', () => otlp.spans.find((s) => s.name === 'openclaw.run' && s.attributes['openclaw.run_id'] === runId));
    const span = (what: string, pred: (s: Span) => boolean) => waitFor(what, () => otlp.spans.find(pred));
    const call = (trigger: string) => (s: Span) => s.name === 'openclaw.call' && s.attributes['openclaw.trigger'] === trigger && s.attributes['openclaw.agent'] === 'worker';

    // The job: stored with the enqueuing run's trace; its handler's run continues it.
    const jobs = (await (await fetch(`${d.url}/api/jobs?queue=traced`)).json()) as { jobs: { traceparent: string | null }[] };
    expect(jobs.jobs.map((j) => j.traceparent)).toEqual([expect.stringMatching(new RegExp(`^00-${run.traceId}-[0-9a-f]{16}-01$`))]);
    const handled = await span('the job handler span', call('job'));
    expect(handled.traceId).toBe(run.traceId);
    expect(handled.parentSpanId).toBe(jobs.jobs[0]!.traceparent!.split('-')[2]);

    // The workflow run its event started, its step, and the agent call the step made.
    const wfRun = await span('the workflow run span', (s) => s.name === 'openclaw.workflow.run');
    expect(wfRun.attributes).toMatchObject({ 'openclaw.workflow': 'traced', 'openclaw.trigger': 'event' });
    expect(wfRun.traceId).toBe(run.traceId);
    const step = await span('the step span', (s) => s.name === 'openclaw.workflow.step');
    expect([step.traceId, step.parentSpanId, step.attributes['openclaw.workflow.step']]).toEqual([run.traceId, wfRun.spanId, 'call']);
    const stepCall = await span('the step’s agent call span', call('workflow'));
    expect([stepCall.traceId, stepCall.parentSpanId]).toEqual([run.traceId, step.spanId]);

    // A job enqueued over the API continues the caller's W3C traceparent.
    const caller = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) };
    const res = await fetch(`${d.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${caller.traceId}-${caller.spanId}-01` },
      body: JSON.stringify({ name: 'traced', payload: { n: 2 } }),
    });
    expect(res.status).toBe(201);
    const apiJob = await span('the API job’s handler span', (s) => call('job')(s) && s.traceId === caller.traceId);
    expect(apiJob.parentSpanId).toBe(caller.spanId);
  });
});
