// Network policy (security.sandbox): the rules, HttpClient with a policy in process (DNS answers
// from a real UDP responder on loopback, redirects, rebinding), and the SSRF must-show through a
// real daemon with real agent workers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { guardrailsModule } from '../../src/security/guardrails/module.js';
import { NetworkPolicy, parseNetworkRule } from '../../src/security/guardrails/network-rules.js';
import { HttpClient } from '../../src/tools/http.js';
import { makeProject, waitFor } from '../helpers/project.js';
import { startDnsServer, type DnsServer } from './helpers/dns-server.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'http-probe.ts');
const METADATA = '169.254.169.254';

let server: http.Server;
let port = 0;
let dns: DnsServer;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/redirect') {
      res.writeHead(302, { location: u.searchParams.get('to') ?? '/' });
      res.end();
      return;
    }
    // Connection: close, so each request opens a new connection (and runs the guarded lookup).
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`hello ${req.headers.host}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  dns = await startDnsServer({
    'meta.test': [METADATA],
    'mapped.test': [`::ffff:${METADATA}`],
    'allowed.test': ['127.0.0.1'],
    'denied.test': ['127.0.0.1'],
    'api.ok.test': ['127.0.0.1'],
  });
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await dns.close();
});

describe('network rules', () => {
  it('blocks cloud metadata by default, in every encoding', () => {
    const p = new NetworkPolicy({ allowed: [], blocked: [], dnsServers: [] });
    for (const a of [METADATA, `::ffff:${METADATA}`, '::ffff:a9fe:a9fe', '64:ff9b::a9fe:a9fe', '169.254.170.2', 'fd00:ec2::254', 'fe80::1']) {
      const v = p.check(null, a);
      expect(v.allowed, a).toBe(false);
    }
    expect(p.check('metadata.google.internal', null).allowed).toBe(false);
    expect(p.check('METADATA.GOOGLE.INTERNAL.', null).allowed).toBe(false);
    expect(p.check(null, '127.0.0.1').allowed).toBe(true);
    expect(p.check('example.com', '93.184.216.34').allowed).toBe(true);
  });

  it('applies wildcard, CIDR and allow-list rules; blocks win; an exact allow lifts the metadata default', () => {
    const p = new NetworkPolicy({ allowed: ['*.internal', 'api.openai.com', '10.0.0.0/8'], blocked: ['bad.internal', '10.9.0.0/16'], dnsServers: [] });
    expect(p.check('svc.internal', '192.168.1.5').allowed).toBe(true);
    expect(p.check('a.b.internal', '192.168.1.5').allowed).toBe(true);
    expect(p.check('internal', '192.168.1.5').allowed).toBe(false); // *.x is below x, not x
    expect(p.check('bad.internal', null)).toMatchObject({ allowed: false, rule: expect.stringContaining("'bad.internal'") });
    expect(p.check('anything.example', '10.1.2.3').allowed).toBe(true);
    expect(p.check('anything.example', '::ffff:10.1.2.3').allowed).toBe(true);
    expect(p.check('anything.example', '10.9.1.1')).toMatchObject({ allowed: false, rule: expect.stringContaining('10.9.0.0/16') });
    expect(p.check('evil.example', '8.8.8.8')).toMatchObject({ allowed: false, rule: expect.stringContaining('allowed_network') });
    // metadata.google.internal matches *.internal, but the default block stays unless listed exactly
    expect(p.check('metadata.google.internal', null).allowed).toBe(false);
    const lifted = new NetworkPolicy({ allowed: [METADATA], blocked: [], dnsServers: [] });
    expect(lifted.check(null, METADATA).allowed).toBe(true);
    expect(lifted.check(null, '169.254.170.2').allowed).toBe(false);
  });

  it('rejects rules it cannot read with a message that says what is accepted', () => {
    expect(() => parseNetworkRule('https://api.example.com')).toThrow(/host alone/);
    expect(() => parseNetworkRule('api.example.com:443')).toThrow(/ports/);
    expect(() => parseNetworkRule('10.0.0.0/99')).toThrow(/CIDR/);
    expect(() => parseNetworkRule('*.')).toThrow(/wildcard/);
  });
});

describe('HttpClient with a network policy', () => {
  const client = (network: ConstructorParameters<typeof HttpClient>[0] extends infer O ? O extends { network?: infer N } ? N : never : never) =>
    new HttpClient({ retries: 2, timeout: 5, network: { dnsServers: [dns.address], ...network } });

  it('refuses metadata addresses, names that resolve to them, and redirects to them, without retrying', async () => {
    const c = client({});
    await expect(c.get(`http://${METADATA}/latest/meta-data/`)).rejects.toMatchObject({ code: 'network_blocked', message: expect.stringContaining(METADATA) });
    const viaDns = c.get(`http://meta.test:${port}/`);
    await expect(viaDns).rejects.toMatchObject({ code: 'network_blocked' });
    await expect(viaDns).rejects.toThrow(`meta.test (resolved to ${METADATA})`);
    await expect(c.get(`http://mapped.test:${port}/`)).rejects.toMatchObject({ code: 'network_blocked' });
    await expect(c.get(`http://[::ffff:${METADATA}]/`)).rejects.toMatchObject({ code: 'network_blocked' });
    await expect(c.get(`http://2852039166/`)).rejects.toMatchObject({ code: 'network_blocked' }); // 169.254.169.254 as one number
    await expect(c.get(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://${METADATA}/`)}`)).rejects.toMatchObject({ code: 'network_blocked' });
    await expect(c.get(`http://127.0.0.1:${port}/redirect?to=${encodeURIComponent(`http://meta.test:${port}/`)}`)).rejects.toMatchObject({ code: 'network_blocked' });
    expect((await c.get(`http://127.0.0.1:${port}/plain`)).text()).toBe(`hello 127.0.0.1:${port}`);
  });

  it('checks the address each connection is opened to: a name rebound to the metadata address is refused', async () => {
    dns.records.set('rebind.test', ['127.0.0.1']);
    const c = client({});
    const first = await c.get(`http://rebind.test:${port}/`);
    expect(first.text()).toBe(`hello rebind.test:${port}`);
    dns.records.set('rebind.test', [METADATA]);
    // The server closed the first connection: the next request resolves again and is checked again.
    await expect(c.get(`http://rebind.test:${port}/`)).rejects.toMatchObject({ code: 'network_blocked', message: expect.stringContaining(METADATA) });
    expect(dns.queries.get('rebind.test')).toBeGreaterThanOrEqual(2);
  });

  it('with an allow list, reaches listed hosts only (name or wildcard), whatever they resolve to', async () => {
    const c = client({ allowed: ['allowed.test', '*.ok.test'] });
    expect((await c.get(`http://allowed.test:${port}/`)).status).toBe(200);
    expect((await c.get(`http://api.ok.test:${port}/`)).status).toBe(200);
    await expect(c.get(`http://denied.test:${port}/`)).rejects.toMatchObject({ code: 'network_blocked', message: expect.stringContaining('allowed_network') });
    await expect(c.get(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'network_blocked' });
    // A redirect from an allowed host to one that is not listed is refused too.
    await expect(c.get(`http://allowed.test:${port}/redirect?to=${encodeURIComponent(`http://denied.test:${port}/`)}`)).rejects.toMatchObject({ code: 'network_blocked' });
  });
});

describe('SSRF through a real daemon and its agent workers', () => {
  let daemons: Daemon[] = [];
  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.shutdown('test end')));
    daemons = [];
  });

  async function start(sandbox: string): Promise<Daemon> {
    const { configFile } = makeProject({
      extra: `security:\n  sandbox:\n${sandbox}    dns_servers: ["${dns.address}"]\n`,
      agents: `  probe:\n    source: ${PROBE}\n`,
    });
    const d = await Daemon.start(await loadConfig(configFile), { modules: [guardrailsModule()] });
    daemons.push(d);
    await waitFor('probe running', async () => (await d.getAgent('probe')).status === 'running');
    return d;
  }

  async function probe(d: Daemon, urls: string[], via = 'this.http'): Promise<Record<string, { status?: number; code?: string; message?: string; body?: string }>> {
    await waitFor('trigger accepted', () => d.trigger('probe', { urls, via }));
    return waitFor(`results via ${via}`, async () => (await d.getState('probe')).state[`results:${via}`] as never);
  }

  it('refuses this.http to the metadata address, to a name resolving to it and to its IPv4-mapped form', async () => {
    const d = await start('');
    const urls = [`http://${METADATA}/latest/meta-data/`, `http://meta.test:${port}/`, `http://[::ffff:${METADATA}]/`, `http://127.0.0.1:${port}/fine`];
    const r = await probe(d, urls);
    for (const u of urls.slice(0, 3)) {
      expect(r[u], u).toMatchObject({ code: 'network_blocked', message: expect.stringContaining('cloud-metadata') });
    }
    expect(r[`http://meta.test:${port}/`].message).toContain(`resolved to ${METADATA}`);
    expect(r[urls[3]]).toEqual({ status: 200, body: `hello 127.0.0.1:${port}` });
    // Clients the agent makes itself and the openclaw/tools notifiers are guarded the same way.
    const own = await probe(d, [`http://meta.test:${port}/`], 'client');
    expect(own[`http://meta.test:${port}/`]).toMatchObject({ code: 'network_blocked' });
    const hook = await probe(d, [`http://${METADATA}/hook`], 'webhook');
    expect(hook[`http://${METADATA}/hook`]).toMatchObject({ code: 'network_blocked' });
  });

  it('with allowed_network, reaches the allow-listed loopback server and refuses the rest', async () => {
    const d = await start(`    allowed_network: ["allowed.test"]\n`);
    const ok = `http://allowed.test:${port}/`;
    const denied = `http://denied.test:${port}/`;
    const literal = `http://127.0.0.1:${port}/`;
    const r = await probe(d, [ok, denied, literal]);
    expect(r[ok]).toEqual({ status: 200, body: `hello allowed.test:${port}` });
    expect(r[denied]).toMatchObject({ code: 'network_blocked', message: expect.stringMatching(/denied\.test \(resolved to 127\.0\.0\.1\).*allowed_network/) });
    expect(r[literal]).toMatchObject({ code: 'network_blocked' });
    const hook = await probe(d, [ok, denied], 'webhook');
    expect(hook[ok]).toMatchObject({ status: 200 });
    expect(hook[denied]).toMatchObject({ code: 'network_blocked' });
  });
});
