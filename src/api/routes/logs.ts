// Agent logs: recent lines over REST, and a live follow over WebSocket.
//
// Two bounds keep a slow reader from growing the daemon (pm2's daemon grew 106 MB in 35 s behind
// one stalled `pm2 logs`): the ControlPlane gives each follower a bounded queue, and here each
// socket stops accepting lines while `bufferedAmount` is above `maxBufferedBytes`. Lines refused
// either way are counted and reported to the reader as `{"type":"dropped","count":N}` once the
// socket has drained, so the reader knows exactly how much it missed.
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { ControlPlane } from '../../daemon/control.js';
import type { LogLine } from '../../runtime/protocol.js';
import { OpenClawError } from '../../util/errors.js';
import { defineRoute, validate } from '../route.js';
import { agentParams, levelAtLeast, logLevel, queryInt, sinceQuery } from '../params.js';

export interface LogFollowOptions {
  /** Lines are dropped (and counted) while the socket holds more than this unsent (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Told of every line a socket dropped (the daemon counts them in openclaw_log_dropped_lines_total). */
  onDropped?: (count: number) => void;
  /** Registers a follower socket's unsent bytes (openclaw_log_follower_buffered_bytes); returns the unregister. */
  track?: (bufferedBytes: () => number) => () => void;
}

const DEFAULT_MAX_BUFFERED = 1024 * 1024;
/** Live lines held while the `tail` backlog is fetched; beyond this they count as dropped. */
const MAX_PENDING_WHILE_TAILING = 10_000;

export function logRoutes(app: FastifyInstance, control: ControlPlane, opts: LogFollowOptions = {}): void {
  const recentQuery = z.object({
    limit: queryInt(1, 10_000).optional(),
    since: sinceQuery(Date.now).optional(),
    level: logLevel.optional(),
  });

  defineRoute(app, {
    method: 'GET',
    url: '/api/agents/:name/logs',
    permission: 'logs:read',
    params: agentParams,
    query: recentQuery,
    handler: async ({ params, query }) => ({
      lines: await control.recentLogs(params.name, { limit: query.limit ?? 100, sinceMs: query.since, level: query.level }),
    }),
  });

  const followQuery = z.object({
    /** Send this many recent lines first, then follow (like `tail -n N -f`). */
    tail: queryInt(0, 10_000).optional(),
    /** Send the lines since then first (at most `tail`, default 10,000), then follow. */
    since: sinceQuery(Date.now).optional(),
    level: logLevel.optional(),
  });

  app.route({
    method: 'GET',
    url: '/api/agents/:name/logs/follow',
    config: { permission: 'logs:read' },
    websocket: true,
    // Validation and the agent lookup run before the upgrade, so a bad request gets an HTTP
    // error in the usual JSON shape rather than a socket that opens and closes.
    preHandler: async (req) => {
      const params = validate(agentParams, req.params, 'params') as z.output<typeof agentParams>;
      validate(followQuery, req.query, 'query');
      req.targetCheck?.([params.name]);
      await control.getAgent(params.name);
    },
    handler: (socket, req) => {
      const { name } = agentParams.parse(req.params);
      const query = followQuery.parse(req.query);
      const out = new FollowSocket(socket, opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED, opts.onDropped);
      const untrack = opts.track?.(() => socket.bufferedAmount);
      if (untrack) out.onClose(untrack);
      const tail = query.since != null ? (query.tail ?? 10_000) : (query.tail ?? 0);
      void followAgent(control, name, tail, query.since, query.level, out, req.log);
    },
  });
}

async function followAgent(
  control: ControlPlane,
  name: string,
  tail: number,
  sinceMs: number | undefined,
  level: LogLine['level'] | undefined,
  out: FollowSocket,
  log: { warn(obj: unknown, msg: string): void },
): Promise<void> {
  // Subscribe first and hold live lines while the backlog is read, so nothing falls in between.
  let pending: LogLine[] | null = tail > 0 ? [] : null;
  let unsubscribe: (() => void) | null = null;
  try {
    unsubscribe = control.followLogs(
      name,
      (line) => {
        if (!levelAtLeast(line.level, level)) return;
        if (pending === null) out.push(line);
        else if (pending.length < MAX_PENDING_WHILE_TAILING) pending.push(line);
        else out.addDropped(1);
      },
      (dropped) => out.addDropped(dropped),
    );
    out.onClose(() => unsubscribe?.());
    if (pending !== null) {
      const recent = await control.recentLogs(name, { limit: tail, sinceMs, level });
      const seen = new Set(recent.map(lineKey));
      for (const line of recent) out.push(line);
      const held: LogLine[] = pending;
      pending = null;
      for (const line of held) if (!seen.has(lineKey(line))) out.push(line);
    }
  } catch (err) {
    log.warn({ err }, 'log follow failed');
    const e = err instanceof OpenClawError ? err : null;
    out.fail(e?.code ?? 'internal', e?.message ?? 'log follow failed; the daemon log has the details');
    unsubscribe?.();
  }
}

function lineKey(l: LogLine): string {
  return `${l.time}\u0000${l.instance}\u0000${l.msg}`;
}

/** One follower's socket: sends while there is room, counts what it cannot send (log lines, dashboard changes). */
export class FollowSocket {
  private dropped = 0;

  constructor(
    private readonly socket: WebSocket,
    private readonly maxBufferedBytes: number,
    private readonly onDropped?: (count: number) => void,
  ) {}

  push(line: LogLine | Record<string, unknown>): void {
    if (!this.open()) return;
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.dropped++;
      this.onDropped?.(1);
      return;
    }
    this.flushDropped();
    this.send(JSON.stringify(line));
  }

  addDropped(n: number): void {
    if (n <= 0) return;
    this.dropped += n;
    if (this.open() && this.socket.bufferedAmount <= this.maxBufferedBytes) this.flushDropped();
  }

  onClose(fn: () => void): void {
    if (this.socket.readyState >= 2) fn();
    else this.socket.once('close', fn);
  }

  fail(code: string, message: string): void {
    if (!this.open()) return;
    this.socket.send(JSON.stringify({ type: 'error', error: { code, message } }));
    this.socket.close(1011, code.slice(0, 100));
  }

  private open(): boolean {
    return this.socket.readyState === 1; // OPEN
  }

  private send(text: string): void {
    // The callback runs when the frame has left our buffer: the moment to report drops, even if
    // no further line arrives to carry the news.
    this.socket.send(text, (err) => {
      if (!err && this.dropped > 0 && this.open() && this.socket.bufferedAmount <= this.maxBufferedBytes) this.flushDropped();
    });
  }

  private flushDropped(): void {
    if (this.dropped === 0) return;
    const count = this.dropped;
    this.dropped = 0;
    this.send(JSON.stringify({ type: 'dropped', count }));
  }
}
