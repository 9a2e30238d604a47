// Starts the real API server on loopback (port 0) over a ControlPlane, and small HTTP helpers.
import { createApiServer, type ApiServerOptions } from '../../src/api/index.js';
import type { ControlPlane } from '../../src/daemon/control.js';

export interface Running {
  url: string;
  close(): Promise<void>;
  app: ReturnType<typeof createApiServer>['app'];
}

export async function startApi(control: ControlPlane, opts: Partial<ApiServerOptions> = {}): Promise<Running> {
  const server = createApiServer(control, { host: '127.0.0.1', port: 0, ...opts });
  const { url } = await server.listen();
  return { url, close: () => server.close(), app: server.app };
}

export interface Answer {
  status: number;
  body: any;
}

export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed };
}
