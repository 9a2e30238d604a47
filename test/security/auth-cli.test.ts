// Auth through the real CLI and detached daemons: a non-loopback bind without token auth is
// refused (exit 78, with the fix in the message); with token auth it serves and asks every
// caller without a token for one; tokens are created, listed, used and revoked from the CLI;
// TLS end to end with a self-signed certificate made by openssl.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, openclaw, openclawOk, readDaemonJson, spawnOpenclaw, tempDir, trackProject } from '../e2e/helpers.js';
import { fileURLToPath } from 'node:url';
import { fixture, waitFor } from '../helpers/project.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

afterAll(cleanup);
const SLOW = { timeout: 120_000 };

function project(extraApi: string[] = []): string {
  const dir = trackProject(tempDir('openclaw-auth-'));
  const yaml = ['project: auth-cli', 'api:', '  port: 0', ...extraApi, 'agents:', '  hello:', `    source: ${fixture('ticker.ts')}`, ''];
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), yaml.join('\n'));
  return dir;
}

/** A non-loopback address of this machine, if it has one. */
function externalAddress(): string | null {
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return null;
}

describe('binding a non-loopback address', () => {
  it('is refused with exit 78 and the fix when auth is local-trust (the `openclaw dev` default, or explicit)', SLOW, async () => {
    const dir = project();
    const dev = await openclaw(['dev', '--host', '0.0.0.0'], { cwd: dir });
    expect(dev.code).toBe(78);
    expect(dev.stderr).toContain('refusing to serve the control API on 0.0.0.0, a non-loopback address');
    expect(dev.stderr).toContain('Set `api.auth: token`');
    expect(dev.stderr).toContain('openclaw token create --role admin');
    expect(readDaemonJson(dir)).toBeNull();

    const explicit = project(['  auth: local-trust']);
    const run = await openclaw(['daemon', 'run', '--host', '0.0.0.0'], { cwd: explicit });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('api.auth is local-trust');
  });

  it('with token auth serves, answers 401 without a token, and the CLI works with tokens it is given', SLOW, async () => {
    const dir = project();
    const start = await openclawOk(['daemon', 'start', '--host', '0.0.0.0'], { cwd: dir });
    expect(start.stdout).toMatch(/control API on http:\/\/0\.0\.0\.0:\d+/);
    const port = readDaemonJson(dir)!.port;

    // No token: 401 with WWW-Authenticate, from loopback and from this machine's other address.
    for (const host of ['127.0.0.1', externalAddress()].filter((h): h is string => h !== null)) {
      const res = await fetch(`http://${host}:${port}/api/agents`);
      expect([host, res.status]).toEqual([host, 401]);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('Authorization: Bearer');
    }
    // Probes stay open.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    // The bootstrap admin token is in .openclaw/token (0600) and the CLI finds it there.
    const tokenFile = path.join(dir, '.openclaw', 'token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const admin = fs.readFileSync(tokenFile, 'utf8').trim();
    expect((await openclawOk(['status'], { cwd: dir })).stdout).toMatch(/│ hello +│/);
    expect((await openclawOk(['daemon', 'status'], { cwd: dir })).stdout).toContain('health: ');

    // A file others can read is tightened back to 0600.
    fs.chmodSync(tokenFile, 0o644);
    const loose = await openclawOk(['status'], { cwd: dir });
    expect(loose.stderr).toContain('was readable by others');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);

    // token create prints the token once, on stdout; list never shows it.
    const created = await openclawOk(['token', 'create', '--role', 'viewer', '--name', 'dashboards', '--expires', '30d'], { cwd: dir });
    const viewer = created.stdout.trim();
    expect(viewer).toMatch(/^oc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const id = viewer.slice(3, 15);
    expect(created.stderr).toContain(`Created token ${id} 'dashboards' (role viewer`);
    const list = await openclawOk(['token', 'list'], { cwd: dir });
    expect(list.stdout).toMatch(new RegExp(`│ ${id} +│ dashboards +│ viewer +│ \\(all\\) +│`));
    expect(list.stdout).not.toContain(viewer.slice(16));
    expect(list.stdout).not.toContain(admin.slice(16));

    // Elsewhere (no token file): --token and OPENCLAW_TOKEN.
    const url = `http://127.0.0.1:${port}`;
    const outside = os.tmpdir();
    expect((await openclaw(['status', '--url', url], { cwd: outside })).stderr).toContain('authentication required');
    expect((await openclawOk(['status', '--url', url, '--token', viewer], { cwd: outside })).stdout).toMatch(/│ hello +│/);
    const denied = await openclaw(['trigger', 'hello', '--url', url], { cwd: outside, env: { OPENCLAW_TOKEN: viewer } });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("needs permission 'agents:trigger', which role 'viewer' does not grant");

    expect((await openclawOk(['token', 'revoke', id], { cwd: dir })).stdout).toBe(`Revoked token ${id}\n`);
    const revoked = await openclaw(['status', '--url', url, '--token', viewer], { cwd: outside });
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toContain(`token ${id} ('dashboards') was revoked`);

    await openclawOk(['daemon', 'stop'], { cwd: dir });
  });
});

const haveOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('TLS', () => {
  it('serves https with a self-signed certificate; the CLI trusts it with --ca or OPENCLAW_CA_CERT', SLOW, async () => {
    const dir = project(['  tls:', '    cert: tls/cert.pem', '    key: tls/key.pem']);
    fs.mkdirSync(path.join(dir, 'tls'));
    if (haveOpenssl) {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', 'tls/key.pem', '-out', 'tls/cert.pem'],
        { cwd: dir, stdio: 'ignore' },
      );
    } else {
      // Without openssl: the committed self-signed pair (CN=localhost, SAN IP:127.0.0.1), test-only.
      fs.copyFileSync(path.join(FIXTURES, 'tls-cert.pem'), path.join(dir, 'tls', 'cert.pem'));
      fs.copyFileSync(path.join(FIXTURES, 'tls-key.pem'), path.join(dir, 'tls', 'key.pem'));
    }
    const start = await openclawOk(['daemon', 'start'], { cwd: dir });
    expect(start.stdout).toMatch(/control API on https:\/\/127\.0\.0\.1:\d+/);
    const url = readDaemonJson(dir)!.url;
    const ca = path.join(dir, 'tls', 'cert.pem');

    const untrusted = await openclaw(['status'], { cwd: dir });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('presented a certificate this CLI does not trust');
    expect(untrusted.stderr).toContain('--ca FILE or OPENCLAW_CA_CERT');
    expect((await openclawOk(['status', '--ca', 'tls/cert.pem'], { cwd: dir })).stdout).toMatch(/│ hello +│/);
    expect((await openclawOk(['logs', 'hello'], { cwd: dir, env: { OPENCLAW_CA_CERT: ca } })).stdout).toContain('lifecycle');
    // Following goes over wss, with the CA and the token.
    const follow = spawnOpenclaw(['logs', 'hello', '--follow'], { cwd: dir, env: { OPENCLAW_CA_CERT: ca } });
    await waitFor('followed lines over wss', () => follow.stdout().includes('lifecycle'), 30_000);
    follow.child.kill('SIGINT');
    expect((await follow.exit).code).toBe(0);

    // Raw https with the CA: no token → 401; the token → 200. Plain http on that port gets nowhere.
    const get = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        https.get(`${url}/api/agents`, { ca: fs.readFileSync(ca), headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
    expect(await get({})).toBe(401);
    expect(await get({ authorization: `Bearer ${fs.readFileSync(path.join(dir, '.openclaw', 'token'), 'utf8').trim()}` })).toBe(200);
    const plain = await fetch(url.replace('https:', 'http:') + '/api/agents').then((r) => r.status, () => 'refused');
    expect(plain).not.toBe(200);

    await openclawOk(['daemon', 'stop'], { cwd: dir });
  });
});
