// The `http` step against a real HTTP server on loopback: method, headers and a JSON body built
// from templates reach the server; the output is { status, headers, body } with a JSON body parsed
// and read by a dependent step; a timeout and any non-2xx answer fail the step (the answer kept as
// its output); redirects are followed. Http steps go through the project's network policy
// (security.sandbox), like agents' HTTP: cloud metadata is refused without spending retries, and a
// blocked_network entry in openclaw.yaml applies to them through a real daemon.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { RunDetail } from '../../src/workflows/routes.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { dropSchemas, finished, makeHarness, type Harness } from './harness.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
const seen: Seen[] = [];
const hanging: http.ServerResponse[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/echo') {
        res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'x-reply': 'yes' });
        res.end(JSON.stringify({ received: body ? JSON.parse(body) : null, query: Object.fromEntries(u.searchParams), token: req.headers['x-token'] ?? null }));
      } else if (u.pathname === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('plain words');
      } else if (u.pathname === '/moved') {
        res.writeHead(302, { location: '/text' });
        res.end();
      } else if (u.pathname.startsWith('/status/')) {
        const status = Number(u.pathname.slice('/status/'.length));
        res.writeHead(status, status === 304 ? {} : { 'content-type': 'application/json' });
        res.end(status === 304 ? undefined : JSON.stringify({ error: `status ${status} on purpose` }));
      } else if (u.pathname === '/hang') {
        hanging.push(res); // never answers; closed in afterAll
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

const open: Harness[] = [];
afterAll(async () => {
  for (const h of open) await h.close().catch(() => undefined);
  for (const r of hanging) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await dropSchemas();
});

async function harness(yaml: string, opts?: Parameters<typeof makeHarness>[2]): Promise<Harness> {
  const h = await makeHarness('sqlite', yaml, opts);
  open.push(h);
  return h;
}
const stepsOf = async (h: Harness, runId: string) => Object.fromEntries((await h.repo.getSteps(runId)).map((s) => [s.key, s]));

describe('http steps against a loopback server', () => {
  it('sends the templated method, headers and JSON body; the output is status, headers and the parsed body', async () => {
    const h = await harness(`
  call:
    inputs: { who: ada, n: 3 }
    steps:
      - id: post
        type: http
        method: POST
        url: '\${{ inputs.base }}/echo?who=\${{ inputs.who }}'
        headers: { x-token: 'tok-\${{ inputs.n }}' }
        body: { who: '\${{ inputs.who }}', items: '\${{ [inputs.n, inputs.n + 1] }}', nested: { n: '\${{ inputs.n }}' } }
      - id: use
        type: shell
        needs: post
        env: { WHO: '\${{ steps.post.output.body.received.who }}', STATUS: '\${{ steps.post.output.status }}', REPLY: '\${{ steps.post.output.headers["x-reply"] }}' }
        command: 'echo "$WHO $STATUS $REPLY"'
      - { id: text, type: http, needs: post, url: '\${{ inputs.base }}/moved' }
`);
    const before = seen.length;
    const { runId } = await h.engine.start('call', { base });
    const run = await finished(h, runId);
    expect(run.status).toBe('succeeded');
    const s = await stepsOf(h, runId);

    const req = seen.slice(before).find((r) => r.url.startsWith('/echo'))!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/echo?who=ada');
    expect(req.headers['x-token']).toBe('tok-3');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual({ who: 'ada', items: [3, 4], nested: { n: 3 } });

    const out = s.post.output as { status: number; headers: Record<string, string>; body: unknown };
    expect(out.status).toBe(201);
    expect(out.headers['x-reply']).toBe('yes');
    expect(out.headers['content-type']).toContain('application/json');
    expect(out.body).toEqual({ received: { who: 'ada', items: [3, 4], nested: { n: 3 } }, query: { who: 'ada' }, token: 'tok-3' });
    expect((s.use.output as { stdout: string }).stdout.trim()).toBe('ada 201 yes');
    // The redirect was followed; a non-JSON body stays text.
    expect(s.text.output).toMatchObject({ status: 200, body: 'plain words' });
  });

  it('fails on a timeout and on any non-2xx answer, keeping the answer as the output', async () => {
    const h = await harness(`
  hang:
    steps:
      - { id: slow, type: http, url: '\${{ inputs.base }}/hang', timeout: 300ms }
  bad:
    steps:
      - { id: down, type: http, method: DELETE, url: '\${{ inputs.base }}/status/503', retry: { attempts: 2, delay: 20ms } }
  notmodified:
    steps:
      - { id: cached, type: http, url: '\${{ inputs.base }}/status/304' }
  nothing:
    steps:
      - { id: empty, type: http, method: PUT, url: '\${{ inputs.base }}/status/204', body: 'raw text' }
`);
    const hang = await h.engine.start('hang', { base });
    expect((await finished(h, hang.runId)).status).toBe('failed');
    const slow = (await stepsOf(h, hang.runId)).slow;
    expect(slow.status).toBe('failed');
    expect(slow.error).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/hang: request stopped: timed out after 300ms$/);

    const before = seen.filter((r) => r.url === '/status/503').length;
    const bad = await h.engine.start('bad', { base });
    expect((await finished(h, bad.runId)).status).toBe('failed');
    const down = (await stepsOf(h, bad.runId)).down;
    expect(down).toMatchObject({ status: 'failed', attempt: 2 });
    expect(down.error).toMatch(/DELETE http:\/\/127\.0\.0\.1:\d+\/status\/503 answered HTTP 503 Service Unavailable/);
    expect(down.output).toMatchObject({ status: 503, body: { error: 'status 503 on purpose' } });
    expect(seen.filter((r) => r.url === '/status/503' && r.method === 'DELETE').length - before).toBe(2);

    const nm = await h.engine.start('notmodified', { base });
    expect((await finished(h, nm.runId)).status).toBe('failed');
    expect((await stepsOf(h, nm.runId)).cached.error).toContain('answered HTTP 304');

    const ok = await h.engine.start('nothing', { base });
    expect((await finished(h, ok.runId)).status).toBe('succeeded');
    expect((await stepsOf(h, ok.runId)).empty.output).toMatchObject({ status: 204, body: '' });
    expect(seen.at(-1)).toMatchObject({ method: 'PUT', body: 'raw text' });
  });
});

describe('http steps and the network policy', () => {
  it('refuses cloud metadata (IP literal, IPv6 and the metadata name) without spending retries', async () => {
    const h = await harness(`
  imds:
    steps:
      - { id: v4, type: http, url: 'http://169.254.169.254/latest/meta-data/', retry: { attempts: 3, delay: 20ms } }
      - { id: v6, type: http, url: 'http://[fd00:ec2::254]/latest/meta-data/' }
      - { id: gcp, type: http, url: 'http://metadata.google.internal/computeMetadata/v1/' }
      - { id: local, type: http, url: '\${{ inputs.base }}/text' }
`);
    const { runId } = await h.engine.start('imds', { base });
    expect((await finished(h, runId)).status).toBe('failed');
    const s = await stepsOf(h, runId);
    for (const key of ['v4', 'v6', 'gcp']) {
      expect(s[key].status).toBe('failed');
      expect(s[key].attempt).toBe(1);
      expect(s[key].error).toContain('network policy refused a connection');
      expect(s[key].error).toContain('built-in cloud-metadata block');
    }
    expect(s.v4.error).toContain('to 169.254.169.254');
    // Loopback is not blocked by default.
    expect(s.local.status).toBe('succeeded');
  });

  it('applies security.sandbox from openclaw.yaml to http steps run by the daemon', async () => {
    const yaml = `security:
  sandbox:
    blocked_network: [127.0.0.1]
workflows:
  fetch:
    steps:
      - { id: get, type: http, url: '\${{ inputs.url }}' }
`;
    const { configFile } = makeProject({ agents: '', extra: yaml });
    const d = await Daemon.start(await loadConfig(configFile));
    try {
      const before = seen.length;
      const res = await fetch(`${d.url}/api/workflows/fetch/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: { url: `${base}/text` } }) });
      const { runId } = (await res.json()) as { runId: string };
      const detail = await waitFor('the run finished', async () => {
        const r = (await (await fetch(`${d.url}/api/workflow-runs/${runId}`)).json()) as RunDetail;
        return r.run.status === 'running' ? null : r;
      });
      expect(detail.run.status).toBe('failed');
      expect(detail.steps[0].error).toContain("blocked by blocked_network entry '127.0.0.1'");
      expect(seen.length).toBe(before); // the request never reached the server
    } finally {
      await d.shutdown('test end');
    }
  });
});
