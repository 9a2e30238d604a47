// A tiny authoritative DNS responder on loopback UDP: A and AAAA answers from a table the test
// can change between queries (DNS rebinding), NXDOMAIN for unknown names, TTL 0.
import dgram from 'node:dgram';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

export interface DnsServer {
  /** "127.0.0.1:PORT", for security.sandbox.dns_servers */
  address: string;
  /** name → addresses (IPv4 and/or IPv6); replace entries at will. */
  records: Map<string, string[]>;
  /** How many queries each name received. */
  queries: Map<string, number>;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (msg[i] !== 0) {
    const len = msg[i];
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function ipBytes(ip: string): Buffer {
  return Buffer.from(ipaddr.parse(ip).toByteArray());
}

export async function startDnsServer(initial: Record<string, string[]> = {}): Promise<DnsServer> {
  const records = new Map(Object.entries(initial));
  const queries = new Map<string, number>();
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    queries.set(name, (queries.get(name) ?? 0) + 1);
    const question = msg.subarray(12, end + 4);
    const known = records.get(name);
    const answers = (known ?? []).filter((ip) => (qtype === 1 ? net.isIPv4(ip) : qtype === 28 ? net.isIPv6(ip) : false));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // QR AA RD, NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const rrs = answers.map((ip) => {
      const data = ipBytes(ip);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
      rr.writeUInt16BE(net.isIPv4(ip) ? 1 : 28, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0: never cached
      rr.writeUInt16BE(data.length, 10);
      return Buffer.concat([rr, data]);
    });
    sock.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${sock.address().port}`,
    records,
    queries,
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}
