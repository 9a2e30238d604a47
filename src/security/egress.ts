// The egress proxy for command agents (issue 14, item 3). A command agent is any program, so its
// sockets cannot be patched the way an agent host's are; what the daemon can do is give it
// HTTP_PROXY / HTTPS_PROXY (and the lower-case forms) pointing at this proxy, which applies the
// same network policy — allowlist, blocklist, cloud-metadata block, checked on the address
// actually connected to — to every request and CONNECT tunnel it relays. Clients that honour the
// proxy variables (curl, Python requests/urllib/httpx, Go's net/http, Java with the flags…) are
// covered; a program that opens sockets itself is not (docs/security.md says so).
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { guardedLookup, NetworkBlockedError } from './guardrails/network.js';
import { NetworkPolicy, normaliseHost, type NetworkPolicyConfig } from './guardrails/network-rules.js';

export interface EgressProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /** HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy and NO_PROXY for the daemon's own API. */
  env(apiUrl: string): Record<string, string>;
  close(): Promise<void>;
}

/** Connects to host:port under the policy (IP literals checked first, names at resolution). */
function policedConnect(policy: NetworkPolicy, host: string, port: number): net.Socket {
  const h = normaliseHost(host);
  if (net.isIP(h)) {
    const v = policy.check(null, h);
    if (!v.allowed) {
      const s = new net.Socket();
      process.nextTick(() => s.destroy(new NetworkBlockedError(h, h, v.rule)));
      return s;
    }
    return net.connect({ host: h, port });
  }
  return net.connect({ host: h, port, lookup: guardedLookup(policy) });
}

function refuse(err: Error): { status: number; body: string } {
  if (err instanceof NetworkBlockedError) return { status: 403, body: `${err.message}\n` };
  return { status: 502, body: `openclaw egress proxy: ${err.message}\n` };
}

export async function startEgressProxy(config: NetworkPolicyConfig): Promise<EgressProxy> {
  const policy = new NetworkPolicy(config);
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    // Plain HTTP through a proxy: the request line holds the absolute URL.
    let target: URL;
    try {
      target = new URL(req.url ?? '');
      if (target.protocol !== 'http:') throw new Error('only http:// URLs are relayed; use CONNECT for https');
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`openclaw egress proxy: ${(err as Error).message}\n`);
      return;
    }
    const upstream = http.request(
      {
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers: req.headers,
        createConnection: () => policedConnect(policy, target.hostname, Number(target.port || 80)),
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.once('error', (err) => {
      const r = refuse(err);
      if (!res.headersSent) res.writeHead(r.status, { 'content-type': 'text/plain' });
      res.end(r.body);
    });
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? '');
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const upstream = policedConnect(policy, m[1]!, Number(m[2]));
    sockets.add(upstream).add(client);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', (err) => {
      const r = refuse(err);
      client.end(`HTTP/1.1 ${r.status} ${r.status === 403 ? 'Forbidden' : 'Bad Gateway'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(r.body)}\r\n\r\n${r.body}`);
    });
    client.once('error', () => upstream.destroy());
    const forget = () => {
      sockets.delete(upstream);
      sockets.delete(client);
    };
    upstream.once('close', forget);
    client.once('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    env(apiUrl: string) {
      let noProxy = 'localhost';
      try {
        noProxy = `${new URL(apiUrl).hostname},localhost`;
      } catch {
        /* not listening */
      }
      return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: noProxy, no_proxy: noProxy };
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
