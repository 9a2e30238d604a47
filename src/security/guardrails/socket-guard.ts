// The network policy at the lowest layer a JavaScript isolate offers: net.Socket#connect. Every TCP
// connection in a worker goes through it — net.connect/createConnection, tls.connect (a TLSSocket
// is a net.Socket), node:http(s).request (their agents call net/tls.createConnection) and the
// global fetch (Node's bundled undici calls net.connect) — so plain `fetch`, `http.get` and
// `net.connect` in agent code meet the same allowlist and metadata block as `this.http`.
//
// IP literals are checked before connecting; names get a `lookup` that checks the name and every
// address it resolves to (guardedLookup), so the address checked is the address connected to.
// What this cannot cover (documented in docs/security.md): UDP (dgram), and native code — which
// the permission model of agent hosts keeps out (no addons, no process.binding).
import net from 'node:net';
import { guardedLookup, NetworkBlockedError } from './network.js';
import { NetworkPolicy, normaliseHost, type NetworkPolicyConfig } from './network-rules.js';

const POLICY = Symbol.for('openclaw.socketGuard.policy');
const PATCHED = Symbol.for('openclaw.socketGuard.patched');

type ConnectOptions = net.TcpNetConnectOpts & { path?: string; lookup?: net.LookupFunction };
type Normalize = (args: unknown[]) => [ConnectOptions, ((...a: unknown[]) => void) | null];

/**
 * Installs the guard in this isolate (once; later calls only change the policy source). `policy`
 * is read at each connection: the project-wide sandbox policy of the instances in this worker.
 */
export function installSocketGuard(config: () => NetworkPolicyConfig): void {
  const g = globalThis as Record<symbol, unknown>;
  g[POLICY] = config;
  if (g[PATCHED]) return;
  g[PATCHED] = true;
  const policies = new Map<string, NetworkPolicy>();
  const policyNow = (): NetworkPolicy => {
    const c = (g[POLICY] as () => NetworkPolicyConfig)();
    const key = JSON.stringify(c);
    let p = policies.get(key);
    if (!p) policies.set(key, (p = new NetworkPolicy(c)));
    return p;
  };
  const normalize = (net as unknown as { _normalizeArgs: Normalize })._normalizeArgs;
  const original = net.Socket.prototype.connect as (this: net.Socket, ...a: unknown[]) => net.Socket;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    // Internal callers pass an already normalized [options, cb] array as the first argument.
    const [options, cb] = Array.isArray(args[0]) ? (args[0] as [ConnectOptions, ((...a: unknown[]) => void) | null]) : normalize(args);
    if (options.path === undefined || options.path === null) {
      const policy = policyNow();
      const host = normaliseHost(String(options.host ?? 'localhost'));
      if (net.isIP(host)) {
        const v = policy.check(null, host);
        if (!v.allowed) {
          const err = new NetworkBlockedError(host, host, v.rule);
          process.nextTick(() => this.destroy(err));
          return this;
        }
      } else {
        // A caller's own lookup would bypass the check: the guarded one replaces it (system
        // resolver, or security.sandbox.dns_servers).
        options.lookup = guardedLookup(policy);
      }
    }
    return cb ? original.call(this, options, cb) : original.call(this, options);
  } as typeof net.Socket.prototype.connect;
}
