// A typed client of the control API, and how the CLI finds the daemon to talk to:
// --url, then OPENCLAW_URL, then the project's .openclaw/daemon.json (the project is --project DIR
// or the nearest folder above the cwd holding openclaw.yaml), then http://127.0.0.1:8400.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';
import type WebSocketType from 'ws';
import type { AgentAction } from '../daemon/control.js';
import { processAlive, readDaemonFile } from '../daemon/daemon-file.js';
import type * as T from '../api/types.js';
import { OpenClawError } from '../util/errors.js';
import { UsageError } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:8400';

export interface Target {
  url: string;
  source: '--url' | 'OPENCLAW_URL' | 'daemon.json' | 'default';
  projectDir: string | null;
  /** Set when daemon.json names a pid that is no longer running (a stale file). */
  stalePid?: number;
}

/** Walks up from `dir` to the first folder holding openclaw.yaml. */
export function findProjectDir(dir: string): string | null {
  let cur = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(path.join(cur, 'openclaw.yaml'))) return cur;
    const up = path.dirname(cur);
    if (up === cur) return null;
    cur = up;
  }
}

export function resolveTarget(opts: { url?: string; project?: string; cwd: string; env: NodeJS.ProcessEnv }): Target {
  const projectDir = opts.project ? projectDirOf(path.resolve(opts.cwd, opts.project)) : findProjectDir(opts.cwd);
  if (opts.url) return { url: checkUrl(opts.url, '--url'), source: '--url', projectDir };
  if (opts.env.OPENCLAW_URL) return { url: checkUrl(opts.env.OPENCLAW_URL, 'OPENCLAW_URL'), source: 'OPENCLAW_URL', projectDir };
  if (projectDir) {
    const dataDir = path.join(projectDir, '.openclaw');
    if (fs.existsSync(path.join(dataDir, 'daemon.json'))) {
      const info = readDaemonFile(dataDir);
      const url = info?.url ?? (info?.port ? `http://${info.host ?? '127.0.0.1'}:${info.port}` : undefined);
      if (!url) throw configError(path.join(dataDir, 'daemon.json'), 'has no url; the file is unreadable or stale; delete it (a running daemon rewrites it at start)');
      const target: Target = { url: checkUrl(url, path.join(dataDir, 'daemon.json')), source: 'daemon.json', projectDir };
      if (info && typeof info.pid === 'number' && !processAlive(info.pid)) target.stalePid = info.pid;
      return target;
    }
  }
  return { url: DEFAULT_URL, source: 'default', projectDir };
}

function projectDirOf(p: string): string {
  // --project may name the folder or its openclaw.yaml.
  if (fs.existsSync(p) && fs.statSync(p).isFile()) return path.dirname(p);
  if (!fs.existsSync(p)) throw configError(`--project ${p}`, 'no such folder');
  return p;
}

function checkUrl(url: string, from: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw configError(from, `'${url}' is not a URL; expected something like ${DEFAULT_URL}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError(from, `'${url}' must start with http:// or https://`);
  return u.href.replace(/\/+$/, '');
}

/** The CLI's own configuration (flags, env, daemon.json) is a usage problem: exit 2, not 78. */
function configError(where: string, message: string): UsageError {
  return new UsageError(`${where}: ${message}`);
}

/** Nothing listens where the CLI looked for a daemon. */
export class DaemonUnreachableError extends OpenClawError {
  constructor(url: string, detail?: string) {
    super(
      'daemon_unreachable',
      `no daemon answering at ${url} — start one with \`openclaw daemon start\` (or \`openclaw dev\`)${detail ? ` [${detail}]` : ''}`,
      { status: 503, exitCode: 1 },
    );
  }
}

/** The daemon answered with an error: its code and message, mapped to a CLI exit code. */
export class ApiError extends OpenClawError {
  constructor(code: string, message: string, status: number) {
    // 78: the daemon refused a configuration. 2: the request itself was malformed (usage).
    const exitCode = code === 'config_invalid' ? 78 : status === 400 ? 2 : 1;
    super(code, message, { status, exitCode });
  }
}

type Query = Record<string, string | number | undefined>;

export interface ClientOptions {
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | null;
  /** PEM CA certificate(s) to trust for https (a self-signed daemon certificate). */
  ca?: string | Buffer | null;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly token: string | null;
  private readonly ca: string | Buffer | null;

  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.token = opts.token ?? null;
    this.ca = opts.ca ?? null;
  }

  private authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /**
   * One HTTP(S) exchange over node:http, the whole body read within `timeoutMs` (a TimeoutError
   * otherwise). Not fetch: Node 20's global fetch compiles its bundled undici on first use, which
   * cost `openclaw status` ≈ 40 MB of RSS and most of its wall time (issue 10 item 6).
   */
  private send(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<Answer> {
    return exchange(url, init, this.timeoutMs, this.ca);
  }

  // ---- tokens ------------------------------------------------------------------------------
  createToken(body: { role: string; team?: string; name?: string; expires?: string }): Promise<T.CreatedTokenResponse> {
    return this.request('POST', '/api/tokens', { body });
  }
  listTokens(all = false): Promise<T.TokensResponse> {
    return this.request('GET', '/api/tokens', { query: { all: all ? 'true' : undefined } });
  }
  revokeToken(id: string): Promise<T.RevokeTokenResponse> {
    return this.request('DELETE', `/api/tokens/${enc(id)}`);
  }

  // ---- agents ------------------------------------------------------------------------------
  listAgents(): Promise<T.AgentsResponse> {
    return this.request('GET', '/api/agents');
  }
  getAgent(name: string): Promise<T.AgentView> {
    return this.request('GET', `/api/agents/${enc(name)}`);
  }
  action(name: string, action: AgentAction): Promise<T.AgentView> {
    return this.request('POST', `/api/agents/${enc(name)}/${action}`);
  }
  trigger(name: string, payload?: unknown): Promise<T.TriggerResponse> {
    return this.request('POST', `/api/agents/${enc(name)}/trigger`, { body: payload === undefined ? undefined : { payload } });
  }
  runs(name: string, limit?: number): Promise<T.RunsResponse> {
    return this.request('GET', `/api/agents/${enc(name)}/runs`, { query: { limit } });
  }
  transitions(name: string, limit?: number): Promise<T.TransitionsResponse> {
    return this.request('GET', `/api/agents/${enc(name)}/transitions`, { query: { limit } });
  }

  // ---- state -------------------------------------------------------------------------------
  getState(name: string, version?: number): Promise<T.StateResponse> {
    return this.request('GET', `/api/agents/${enc(name)}/state`, { query: { version } });
  }
  stateVersions(name: string, limit?: number): Promise<T.StateVersionsResponse> {
    return this.request('GET', `/api/agents/${enc(name)}/state/versions`, { query: { limit } });
  }
  rollbackState(name: string, version: number): Promise<T.RollbackResponse> {
    return this.request('POST', `/api/agents/${enc(name)}/state/rollback`, { body: { version } });
  }
  writeState(name: string, writes: T.StateWriteRequest[]): Promise<T.WriteStateResponse> {
    return this.request('PUT', `/api/agents/${enc(name)}/state`, { body: { writes } });
  }

  // ---- logs --------------------------------------------------------------------------------
  logs(name: string, opts: { limit?: number; since?: string; level?: string } = {}): Promise<T.LogsResponse> {
    return this.request('GET', `/api/agents/${enc(name)}/logs`, { query: opts });
  }

  /**
   * Follows an agent's logs over the WebSocket. `closed` resolves when the socket ends (by
   * `close()` or the daemon) and rejects if it never opened (unknown agent, no daemon).
   */
  followLogs(
    name: string,
    opts: { tail?: number; since?: string; level?: string },
    on: { line(line: T.LogLine): void; dropped?(count: number): void; open?(): void },
  ): { close(): void; closed: Promise<{ code: number; reason: string }> } {
    const url = new URL(this.url(`/api/agents/${enc(name)}/logs/follow`, { tail: opts.tail, since: opts.since, level: opts.level }));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const WebSocket = createRequire(import.meta.url)('ws') as typeof WebSocketType;
    const ws = new WebSocket(url, { headers: this.authHeaders(), ...(this.ca ? { ca: this.ca } : {}) });
    let opened = false;
    const closed = new Promise<{ code: number; reason: string }>((resolve, reject) => {
      ws.on('open', () => {
        opened = true;
        on.open?.();
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let frame: T.LogLine | T.FollowControlFrame;
        try {
          frame = JSON.parse(data.toString()) as T.LogLine | T.FollowControlFrame;
        } catch {
          return;
        }
        if ('type' in frame && frame.type === 'dropped') on.dropped?.(frame.count);
        else if ('type' in frame && frame.type === 'error') reject(new ApiError(frame.error.code, frame.error.message, 500));
        else on.line(frame as T.LogLine);
      });
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          reject(errorFromBody(Buffer.concat(chunks).toString('utf8'), res.statusCode ?? 500, this.baseUrl));
          ws.terminate();
        });
      });
      ws.on('error', (err: NodeJS.ErrnoException) => {
        if (!opened) reject(unreachable(this.baseUrl, err));
      });
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    return { close: () => ws.close(1000, 'client done'), closed };
  }

  // ---- events ------------------------------------------------------------------------------
  publishEvent(e: { name: string; data?: unknown; id?: string }): Promise<T.PublishResponse> {
    return this.request('POST', '/api/events', { body: e });
  }
  listEvents(opts: { after?: number; limit?: number; name?: string } = {}): Promise<T.EventsResponse> {
    return this.request('GET', '/api/events', { query: opts });
  }
  deadLetters(opts: { agent?: string; limit?: number } = {}): Promise<T.DeadLettersResponse> {
    return this.request('GET', '/api/dead-letters', { query: opts });
  }
  redrive(opts: { agent?: string; ids?: number[]; all?: true }): Promise<T.RedriveResponse> {
    return this.request('POST', '/api/dead-letters/redrive', { body: opts });
  }

  // ---- daemon ------------------------------------------------------------------------------
  health(): Promise<T.HealthView> {
    return this.request('GET', '/api/health');
  }
  listNodes(): Promise<T.NodesResponse> {
    return this.request('GET', '/api/nodes');
  }
  stopDaemon(reason?: string): Promise<T.DaemonStopResponse> {
    return this.request('POST', '/api/daemon/stop', { body: reason ? { reason } : undefined });
  }

  // ---- streams -----------------------------------------------------------------------------
  /** POSTs NDJSON text to a stream as is; a 429 comes back as { status: 429, retryAfter } (the caller waits and resends). */
  async ingest(stream: string, ndjson: string, wait: boolean): Promise<{ status: number; retryAfterMs: number; body: T.StreamIngestResponse | null }> {
    const url = this.url(`/api/streams/${enc(stream)}/events`, wait ? { wait: 'true' } : undefined);
    let res: Answer;
    try {
      res = await this.send(url, { method: 'POST', headers: { ...this.authHeaders(), 'content-type': 'application/x-ndjson' }, body: ndjson });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    const text = res.text;
    if (res.status === 429) return { status: 429, retryAfterMs: Math.max(1, Number(res.header('retry-after') ?? 1)) * 1000, body: null };
    if (!res.ok) throw errorFromBody(text, res.status, this.baseUrl);
    return { status: res.status, retryAfterMs: 0, body: JSON.parse(text) as T.StreamIngestResponse };
  }

  // ---- transport ---------------------------------------------------------------------------
  async request<R>(method: string, route: string, opts: { query?: Query; body?: unknown } = {}): Promise<R> {
    const url = this.url(route, opts.query);
    let res: Answer;
    try {
      res = await this.send(url, {
        method,
        headers: { ...this.authHeaders(), ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        throw new OpenClawError('daemon_timeout', `the daemon at ${this.baseUrl} did not answer ${method} ${route} within ${this.timeoutMs / 1000}s`);
      }
      throw unreachable(this.baseUrl, err);
    }
    const text = res.text;
    if (!res.ok) throw errorFromBody(text, res.status, this.baseUrl);
    try {
      return JSON.parse(text) as R;
    } catch {
      throw new OpenClawError('bad_response', `${this.baseUrl} answered ${method} ${route} with something that is not JSON; is it an OpenClaw daemon?`);
    }
  }

  private url(route: string, query?: Query): string {
    const u = new URL(this.baseUrl + route);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.href;
  }
}

/** A whole HTTP answer: the CLI reads every body in full. */
interface Answer {
  status: number;
  ok: boolean;
  text: string;
  header(name: string): string | undefined;
}

/**
 * `init` sent to `url` (http, or https trusting `ca` when given; node:https is loaded only then).
 * Rejects with the socket error (ECONNREFUSED, a certificate code) or, after `timeoutMs` without
 * the whole answer, with an error named TimeoutError.
 */
async function exchange(url: string, init: { method: string; headers: Record<string, string>; body?: string }, timeoutMs: number, ca: string | Buffer | null): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? (await import('node:https')).request : http.request;
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const headers: Record<string, string | number> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    const req = request(u, { method: init.method, headers, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => settle(() => reject(err)));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        settle(() =>
          resolve({
            status,
            ok: status >= 200 && status < 300,
            text,
            header: (name) => {
              const v = res.headers[name.toLowerCase()];
              return Array.isArray(v) ? v[0] : v;
            },
          }),
        );
      });
    });
    const timer = setTimeout(() => {
      const err = new Error(`no answer within ${timeoutMs} ms`);
      err.name = 'TimeoutError';
      settle(() => reject(err));
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => settle(() => reject(err)));
    req.end(init.body);
  });
}

function enc(name: string): string {
  return encodeURIComponent(name);
}

function errorFromBody(text: string, status: number, baseUrl: string): OpenClawError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return new ApiError(body.error.code, body.error.message ?? body.error.code, status);
  } catch {
    // not our error shape
  }
  return new ApiError('bad_response', `${baseUrl} answered HTTP ${status} without an OpenClaw error body; is it an OpenClaw daemon?`, status);
}

function unreachable(baseUrl: string, err: unknown): OpenClawError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new OpenClawError(
      'tls_untrusted',
      `${baseUrl} presented a certificate this CLI does not trust (${code}); pass its CA with --ca FILE or OPENCLAW_CA_CERT=FILE (for a self-signed certificate, the certificate itself)`,
    );
  }
  return new DaemonUnreachableError(baseUrl, code && code !== 'ECONNREFUSED' ? code : undefined);
}
