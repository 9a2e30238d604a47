// Applies the network policy where it cannot be bypassed by DNS: inside the connector of an undici
// Agent. The connector checks IP literals itself and gives net/tls.connect a `lookup` that resolves
// the name, checks every address and hands exactly those addresses to the socket. The address
// checked is the address connected to, so a name that answers 127.0.0.1 to a pre-check and
// 169.254.169.254 to the connection (DNS rebinding) is caught at the connection. Every connection
// goes through it, redirects to another host included (a new host means a new connection).
import dns from 'node:dns';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { createRequire } from 'node:module';
import type { buildConnector, Dispatcher } from 'undici';
import { OpenClawError } from '../../util/errors.js';
import { NetworkPolicy, normaliseHost, type NetworkPolicyConfig } from './network-rules.js';

export class NetworkBlockedError extends OpenClawError {
  readonly host: string;
  readonly address: string | null;
  readonly rule: string;
  constructor(host: string, address: string | null, rule: string) {
    const at = address && address !== host ? ` (resolved to ${address})` : '';
    super(
      'network_blocked',
      `network policy refused a connection to ${host}${at}: blocked by ${rule}. ` +
        'To allow it, add the host or address to security.sandbox.allowed_network in openclaw.yaml (and remove any blocked_network entry that matches)',
      { status: 403, details: { host, address, rule } },
    );
    this.host = host;
    this.address = address;
    this.rule = rule;
  }
}

type LookupAddress = { address: string; family: number };

function resolverFor(servers: string[]): dns.promises.Resolver | null {
  if (servers.length === 0) return null;
  const r = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
  r.setServers(servers);
  return r;
}

async function resolve(resolver: dns.promises.Resolver | null, host: string, family: number): Promise<LookupAddress[]> {
  if (!resolver) return dns.promises.lookup(host, { all: true, family: family === 4 || family === 6 ? family : 0, verbatim: true });
  const out: LookupAddress[] = [];
  const errors: Error[] = [];
  const tryFamily = async (f: 4 | 6) => {
    try {
      const list = f === 4 ? await resolver.resolve4(host) : await resolver.resolve6(host);
      for (const address of list) out.push({ address, family: f });
    } catch (err) {
      errors.push(err as Error);
    }
  };
  if (family !== 6) await tryFamily(4);
  if (family !== 4) await tryFamily(6);
  if (out.length === 0) {
    const e = errors[0] ?? new Error('no addresses');
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host} (${e.message})`), { code: 'ENOTFOUND', hostname: host });
  }
  return out;
}

/** A `lookup` for net.connect that refuses names or addresses the policy blocks. */
export function guardedLookup(policy: NetworkPolicy, resolver: dns.promises.Resolver | null = resolverFor(policy.config.dnsServers)): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    const host = normaliseHost(hostname);
    const pre = policy.check(host, null);
    if (!pre.allowed) {
      process.nextTick(callback, new NetworkBlockedError(host, null, pre.rule), '', 0);
      return;
    }
    resolve(resolver, host, typeof options?.family === 'number' ? options.family : 0).then(
      (addrs) => {
        for (const a of addrs) {
          const v = policy.check(host, a.address);
          if (!v.allowed) return callback(new NetworkBlockedError(host, a.address, v.rule), '', 0);
        }
        if (options?.all) return callback(null, addrs);
        return callback(null, addrs[0].address, addrs[0].family);
      },
      (err: Error) => callback(err, '', 0),
    );
  }) as LookupFunction;
}

// undici is loaded with the first guarded connection, not with this module: every agent worker
// imports the lookup guard below, and most never open a connection through undici (cold start,
// memory per worker).
const undici = () => createRequire(import.meta.url)('undici') as typeof import('undici');

/** The undici connector with the policy applied to IP literals and to every resolved name. */
export function guardedConnector(policy: NetworkPolicy, opts: { connectTimeoutMs?: number } = {}): buildConnector.connector {
  const base = undici().buildConnector({ lookup: guardedLookup(policy), timeout: opts.connectTimeoutMs ?? 10_000 } as buildConnector.BuildOptions);
  return (options, callback) => {
    const host = normaliseHost(options.hostname);
    if (net.isIP(host)) {
      const v = policy.check(null, host);
      if (!v.allowed) {
        process.nextTick(callback, new NetworkBlockedError(host, host, v.rule), null);
        return;
      }
    }
    return base(options, callback);
  };
}

/** An undici dispatcher that enforces the policy on each connection it opens. */
export function guardedDispatcher(policy: NetworkPolicy): Dispatcher {
  return new (undici().Agent)({ connect: guardedConnector(policy) });
}

const dispatchers = new Map<string, Dispatcher>();

/** One dispatcher (and connection pool) per distinct policy in this isolate. */
export function dispatcherFor(config: NetworkPolicyConfig): Dispatcher {
  const key = JSON.stringify(config);
  let d = dispatchers.get(key);
  if (!d) dispatchers.set(key, (d = guardedDispatcher(new NetworkPolicy(config))));
  return d;
}

/** The NetworkBlockedError somewhere in an error's cause chain (fetch wraps socket errors). */
export function findNetworkBlocked(err: unknown): NetworkBlockedError | null {
  for (let e = err as { cause?: unknown; code?: unknown } | undefined, i = 0; e && i < 6; e = e.cause as typeof e, i++) {
    if (e instanceof NetworkBlockedError) return e;
    if (e.code === 'network_blocked' && e instanceof Error) return e as NetworkBlockedError;
  }
  return null;
}
