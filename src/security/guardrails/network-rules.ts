// Network policy rules: which hosts and addresses agent HTTP may reach. Pure (no sockets); the
// connector in network.ts applies it to the address a connection is actually opened to.
//
// A rule is a host name (`api.openai.com`), a wildcard host (`*.internal`: any name below
// `internal`, not `internal` itself), `*` (any host), an IP address or a CIDR range.
import ipaddr from 'ipaddr.js';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

export type NetworkRule =
  | { kind: 'any'; text: string }
  | { kind: 'name'; name: string; text: string }
  | { kind: 'suffix'; suffix: string; text: string } // '*.internal' → '.internal'
  | { kind: 'cidr'; range: [Addr, number]; exact: boolean; text: string };

const HOST = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

export function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.replace(/\.$/, '');
}

/** Parses one `allowed_network` / `blocked_network` entry; throws with a message that says what is accepted. */
export function parseNetworkRule(text: string): NetworkRule {
  const t = text.trim();
  const h = normaliseHost(t);
  if (t === '*.' || t === '*..') throw new Error(`'${text}' is not a valid wildcard host (write it like *.internal or *.example.com)`);
  if (h === '*') return { kind: 'any', text: t };
  if (h.includes('://')) throw new Error(`'${text}': write the host alone (api.example.com), not a URL`);
  if (h.includes('/')) {
    if (!ipaddr.isValidCIDR(h)) throw new Error(`'${text}' is not a valid CIDR range (write it like 10.0.0.0/8 or fd00::/8)`);
    const [addr, bits] = ipaddr.parseCIDR(h);
    return { kind: 'cidr', range: [canonical(addr), canonical(addr).kind() === addr.kind() ? bits : bits - 96], exact: false, text: t };
  }
  if (ipaddr.isValid(h) && (h.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(h))) {
    const addr = canonical(ipaddr.parse(h));
    return { kind: 'cidr', range: [addr, addr.kind() === 'ipv4' ? 32 : 128], exact: true, text: t };
  }
  if (h.startsWith('*.')) {
    const rest = h.slice(2);
    if (!HOST.test(rest)) throw new Error(`'${text}' is not a valid wildcard host (write it like *.internal or *.example.com)`);
    return { kind: 'suffix', suffix: `.${rest}`, text: t };
  }
  if (/:\d+$/.test(h)) throw new Error(`'${text}': ports are not part of a network rule; write the host alone`);
  if (!HOST.test(h)) throw new Error(`'${text}' is not a host name, wildcard host (*.internal), IP address or CIDR range`);
  return { kind: 'name', name: h, text: t };
}

/**
 * The form an address is checked in: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d)
 * and NAT64 (64:ff9b::a.b.c.d) IPv6 addresses are the IPv4 address they carry.
 */
export function canonical(addr: Addr): Addr {
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
    const p = v6.parts;
    const embedded = () => ipaddr.IPv4.parse(`${p[6] >> 8}.${p[6] & 255}.${p[7] >> 8}.${p[7] & 255}`);
    // ::a.b.c.d (deprecated IPv4-compatible), but not :: and ::1
    if (p.slice(0, 6).every((x) => x === 0) && (p[6] !== 0 || p[7] > 1)) return embedded();
    // 64:ff9b::/96 well-known NAT64 prefix
    if (p[0] === 0x64 && p[1] === 0xff9b && p.slice(2, 6).every((x) => x === 0)) return embedded();
  }
  return addr;
}

export function parseAddress(text: string): Addr | null {
  const h = normaliseHost(text).replace(/%.*$/, ''); // drop an IPv6 zone id
  if (!ipaddr.isValid(h)) return null;
  // ipaddr.js also accepts forms such as '0x7f.1' or '127.1'; the URL parser has already
  // normalised what reaches a socket, so only the canonical dotted form counts as IPv4 here.
  if (!h.includes(':') && !/^\d+\.\d+\.\d+\.\d+$/.test(h)) return null;
  return canonical(ipaddr.parse(h));
}

/** Always blocked unless the exact host or address is listed in `allowed_network`. */
export const METADATA_RULES: readonly NetworkRule[] = [
  '169.254.0.0/16', // IPv4 link-local: AWS/GCP/Azure/OpenStack IMDS 169.254.169.254, ECS 169.254.170.2
  'fe80::/10', // IPv6 link-local
  'fd00:ec2::254', // AWS IMDS over IPv6
  '100.100.100.200', // Alibaba Cloud metadata
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
].map(parseNetworkRule);

function matches(rule: NetworkRule, host: string | null, addr: Addr | null): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'name':
      return host !== null && host === rule.name;
    case 'suffix':
      return host !== null && host.endsWith(rule.suffix);
    case 'cidr':
      return addr !== null && addr.kind() === rule.range[0].kind() && addr.match(rule.range);
  }
}

export type Verdict = { allowed: true } | { allowed: false; rule: string };

export interface NetworkPolicyConfig {
  allowed: string[];
  blocked: string[];
  dnsServers: string[];
}

export class NetworkPolicy {
  private readonly allowed: NetworkRule[];
  private readonly blocked: NetworkRule[];
  private readonly metadataExceptions = new Set<string>();

  constructor(readonly config: NetworkPolicyConfig) {
    this.allowed = config.allowed.map(parseNetworkRule);
    this.blocked = config.blocked.map(parseNetworkRule);
    for (const r of this.allowed) {
      if (r.kind === 'name') this.metadataExceptions.add(r.name);
      if (r.kind === 'cidr' && r.exact) this.metadataExceptions.add(r.range[0].toString());
    }
  }

  /**
   * Checks a connection to `host` (the URL's host name, or null for an IP literal) at `address`
   * (null while only the name is known). Blocks win over allows; with an allow list, what is not
   * on it is refused.
   */
  check(host: string | null, address: string | null): Verdict {
    const name = host === null ? null : normaliseHost(host);
    const addr = address === null ? null : parseAddress(address);
    for (const r of this.blocked) if (matches(r, name, addr)) return { allowed: false, rule: `blocked_network entry '${r.text}'` };
    const exempt = (name !== null && this.metadataExceptions.has(name)) || (addr !== null && this.metadataExceptions.has(addr.toString()));
    if (!exempt) {
      for (const r of METADATA_RULES) {
        if (matches(r, name, addr)) return { allowed: false, rule: `the built-in cloud-metadata block '${r.text}' (lift it only by listing the exact host or address in allowed_network)` };
      }
    }
    if (this.allowed.length > 0 && address !== null) {
      if (!this.allowed.some((r) => matches(r, name, addr))) return { allowed: false, rule: `allowed_network (it lists ${this.allowed.map((r) => r.text).join(', ')}; nothing else may be reached)` };
    }
    return { allowed: true };
  }
}
