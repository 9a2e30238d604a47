// Issue 14, items 2, 3 and 9, from inside real agents: a daemon with a secret in its environment
// and a network allowlist runs the same probe as a module agent in each isolation kind and as a
// command agent. None sees the daemon's environment; module agents cannot read .openclaw/, write
// outside their data directory or start processes; every network path (fetch, node:http, net,
// tls) to a host outside the allowlist is refused while an allowed one works; a command agent's
// HTTP through its egress proxy is refused for the blocked host.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createModules } from '../../src/daemon/module-list.js';
import { makeProject, waitFor } from '../helpers/project.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SECRET = 'daemon-only-secret-value';

let daemon: Daemon;
let dir: string;
let server: http.Server;
let tlsLike: net.Server;
let port: number;
let tlsPort: number;
let saved: string | undefined;

beforeAll(async () => {
  // A server on 127.0.0.2 (outside the allowlist) that would answer if the policy let anything
  // through, and the same on 127.0.0.1 (allowed).
  server = http.createServer((_req, res) => res.end('reached'));
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  port = (server.address() as net.AddressInfo).port;
  tlsLike = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => tlsLike.listen(0, '0.0.0.0', r));
  tlsPort = (tlsLike.address() as net.AddressInfo).port;

  saved = process.env.OPENCLAW_TEST_DAEMON_SECRET;
  process.env.OPENCLAW_TEST_DAEMON_SECRET = SECRET;
  const probe = path.join(HERE, 'fixtures', 'sandbox-probe.ts');
  const project = makeProject({ agents: '' });
  dir = project.dir;
  const cfg = (extra: string) =>
    `    source: ${probe}\n    env: { PROBE_DECLARED: declared }\n${extra}    config: { dataDir: ${dir}/.openclaw, projectDir: ${dir}, blockedHost: 127.0.0.2, allowedUrl: "http://127.0.0.1:${port}/", port: ${port}, tlsPort: ${tlsPort} }\n`;
  const agents = [
    `  probe-dedicated:\n${cfg('    isolation: dedicated\n')}`,
    `  probe-shared:\n${cfg('    isolation: shared\n')}`,
    `  probe-process:\n${cfg('    isolation: process\n')}`,
    `  probe-command:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(path.join(HERE, 'fixtures', 'sandbox-probe.mjs'))}]\n` +
      `    env: { PROBE_DECLARED: declared, PROBE_DATA_DIR: ${dir}/.openclaw, PROBE_BLOCKED_URL: "http://127.0.0.2:${port}/", PROBE_ALLOWED_URL: "http://127.0.0.1:${port}/" }\n`,
  ].join('');
  const text = fs.readFileSync(project.configFile, 'utf8') + agents + 'security:\n  sandbox:\n    allowed_network: ["127.0.0.1"]\n';
  fs.writeFileSync(project.configFile, text);
  daemon = await Daemon.start(await loadConfig(project.configFile), { modules: createModules() });
}, 60_000);

afterAll(async () => {
  await daemon?.shutdown();
  if (saved === undefined) delete process.env.OPENCLAW_TEST_DAEMON_SECRET;
  else process.env.OPENCLAW_TEST_DAEMON_SECRET = saved;
  server?.close();
  tlsLike?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function probeOf(agent: string): Promise<Record<string, unknown>> {
  return waitFor(`${agent}'s probe`, async () => {
    const s = await daemon.getState(agent);
    return (s.state as Record<string, Record<string, unknown>>).probe;
  });
}

describe('agent sandbox', () => {
  for (const kind of ['dedicated', 'shared', 'process'] as const) {
    it(`a ${kind} module agent sees no daemon secret, cannot read .openclaw/ or spawn, and every network path is policed`, async () => {
      await waitFor(`probe-${kind} running`, () => daemon.trigger(`probe-${kind}`).then(() => true));
      const p = await probeOf(`probe-${kind}`);
      expect(p.secretInEnv).toBeNull();
      expect(p.masterKeyInEnv).toBeNull();
      // Shared workers hold several agents in one isolate: they keep the base environment.
      expect(p.declaredEnv).toBe(kind === 'shared' ? null : 'declared');
      expect(p.readToken).toBe('refused:ERR_ACCESS_DENIED');
      expect(p.listDataDir).toBe('refused:ERR_ACCESS_DENIED');
      expect(p.readProject).toBe('ok');
      expect(p.writeProject).toBe('refused:ERR_ACCESS_DENIED');
      if (kind === 'process') expect(p.writeDataDir).toBe('ok');
      // A host that transforms TypeScript must let esbuild run (src/runtime/sandbox.ts): from source
      // every host does, so this holds only for JavaScript agents run from dist.
      if (!process.env.VITEST) expect(p.spawn).toBe('refused:ERR_ACCESS_DENIED');
      expect(p.workerEscape).toBe('refused:ERR_ACCESS_DENIED');
      expect({ fetch: p.fetch, http: p.http, net: p.net, tls: p.tls }).toEqual({
        fetch: 'refused:network_blocked',
        http: 'refused:network_blocked',
        net: 'refused:network_blocked',
        tls: 'refused:network_blocked',
      });
      expect(p.allowed).toBe('ok');
      expect(fs.existsSync(path.join(dir, 'pwned.txt'))).toBe(false);
    }, 30_000);
  }

  it('a command agent gets the base environment, its declared env and its scoped OPENCLAW_*; its proxy refuses blocked hosts', async () => {
    const p = await probeOf('probe-command');
    expect(p.secretInEnv).toBeNull();
    expect(p.masterKeyInEnv).toBeNull();
    expect(p.declaredEnv).toBe('declared');
    const keys = p.envKeys as string[];
    expect(keys).toEqual(expect.arrayContaining(['OPENCLAW_URL', 'OPENCLAW_TOKEN', 'OPENCLAW_AGENT', 'HTTP_PROXY']));
    expect(keys.filter((k) => k.startsWith('OPENCLAW_')).sort()).toEqual(['OPENCLAW_AGENT', 'OPENCLAW_INSTANCE', 'OPENCLAW_TOKEN', 'OPENCLAW_URL']);
    // Same uid, no permission model for arbitrary programs: documented in docs/security.md.
    expect(p.readToken).toBe('ok');
    expect(p.proxyBlocked).toBe('status:403');
    expect(p.proxyAllowed).toBe('status:200');
  });
});
