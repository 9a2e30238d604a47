// A real HTTP server on 127.0.0.1 that records every request and answers from a script.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One scripted reply; 'hang' never answers (until the server closes). */
export type Reply = { status: number; headers?: Record<string, string>; body?: string | object } | 'hang';

export interface Loopback {
  url: string;
  requests: Recorded[];
  /** Replies used in order; when exhausted, `fallback` answers. */
  script(...replies: Reply[]): void;
  fallback: Reply;
  close(): Promise<void>;
}

export async function startLoopback(fallback: Reply = { status: 200, body: 'ok' }): Promise<Loopback> {
  const queue: Reply[] = [];
  const requests: Recorded[] = [];
  const lb = {} as Loopback;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const reply = queue.length > 0 ? queue.shift()! : lb.fallback;
      if (reply === 'hang') return;
      const isJson = typeof reply.body === 'object';
      res.writeHead(reply.status, { ...(isJson ? { 'content-type': 'application/json' } : { 'content-type': 'text/plain' }), ...(reply.headers ?? {}) });
      res.end(isJson ? JSON.stringify(reply.body) : (reply.body ?? ''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(lb, {
    url: `http://127.0.0.1:${port}`,
    requests,
    fallback,
    script: (...replies: Reply[]) => void queue.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return lb;
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A sleep that records the requested delays and returns at once. */
export function recordingSleep(): { delays: number[]; sleep: (ms: number) => Promise<void> } {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}
