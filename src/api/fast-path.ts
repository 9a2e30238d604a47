// The fast path (issue 10, /v1): a route that also serves its common requests straight from the
// Node server, before Fastify's routing, hooks, content-type parser and reply pipeline, which took
// ≈ 10 % of the daemon's CPU per proxied LLM call. Only requests whose handling by the hooks is
// known and replicated here take it (see FastifyInstance.fastPath in src/contracts/route.ts):
//
// - no Origin and no Cookie header: the dashboard's session step (src/api/ui/session.ts) does
//   nothing for them, and the route is 'public' (the authorize preHandler lets it through);
// - Content-Type application/json and a Content-Length within the route's body limit, so the
//   body read cannot exceed it; no query string (the URL is the route's exactly);
// - not while the server closes (Fastify answers 503 then).
//
// What the hooks do for such a request is done here: the JSON body parsed with Fastify's rules and
// its error answers (empty body, invalid JSON, prototype poisoning), secret redaction of the answer
// (onSend), the audit of a refused or failed answer (onResponse). Everything else goes to Fastify.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnsweredRequest, FastHandler, FastReply } from '../contracts/route.js';
import { errorBody } from './errors.js';

export interface FastPathOptions {
  redact?: ((body: string) => string) | undefined;
  onResponse?: ((req: AnsweredRequest, reply: { statusCode: number }) => void) | undefined;
}

interface FastRoute {
  url: string;
  bodyLimit: number;
  handler: FastHandler;
}

export class FastPaths {
  private readonly routes = new Map<string, FastRoute>();
  closing = false;

  constructor(private readonly opts: FastPathOptions) {}

  add(url: string, bodyLimit: number, handler: FastHandler): void {
    this.routes.set(url, { url, bodyLimit, handler });
  }

  /** Serves the request and returns true, or returns false for Fastify to serve it. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST' || this.closing) return false;
    const route = this.routes.get(req.url!);
    if (!route) return false;
    const h = req.headers;
    if (h.origin !== undefined || h.cookie !== undefined) return false;
    const ct = h['content-type'];
    if (ct !== 'application/json' && !(ct !== undefined && ct.startsWith('application/json;'))) return false;
    const cl = h['content-length'];
    if (cl === undefined || h['transfer-encoding'] !== undefined) return false;
    const length = Number(cl);
    if (!Number.isSafeInteger(length) || length < 0 || length > route.bodyLimit) return false;
    this.read(route, req, res, length);
    return true;
  }

  private read(route: FastRoute, req: IncomingMessage, res: ServerResponse, length: number): void {
    const chunks: Buffer[] = [];
    let got = 0;
    req.on('data', (c: Buffer) => {
      got += c.length;
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const reply = this.reply(route, res);
      // Node's parser ends the body at Content-Length; a shorter body is an aborted request.
      if (got !== length) return reply.json(400, {}, errorBody('invalid_request', 'Request body size did not match Content-Length'));
      if (length === 0) return reply.json(400, {}, errorBody('invalid_request', "body: Body cannot be empty when content-type is set to 'application/json'"));
      let text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // as secure-json-parse does
      let body: unknown;
      try {
        body = JSON.parse(text);
        // Fastify's parser (secure-json-parse) refuses these keys anywhere in the body.
        // A key can also be spelled with escapes ("\u005f_proto__"): any escape means a full check.
        if ((text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')) && poisoned(body)) throw new Error('poisoned');
      } catch {
        return reply.json(400, {}, errorBody('invalid_request', "body: Body is not valid JSON but content-type is set to 'application/json'"));
      }
      route.handler(req, body, reply).catch((err: unknown) => {
        // The handler answers its own errors; this is a bug in it.
        if (!res.headersSent) reply.json(500, {}, errorBody('internal', 'internal error; the daemon log has the details'));
        else res.destroy(err as Error);
      });
    });
  }

  private reply(route: FastRoute, res: ServerResponse): FastReply {
    const { redact, onResponse } = this.opts;
    return {
      raw: res,
      hijack: () => undefined,
      json(status, headers, body) {
        let text = JSON.stringify(body);
        if (redact) text = redact(text);
        res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        if (onResponse && status >= 400) onResponse({ method: 'POST', routeOptions: { url: route.url } }, { statusCode: status });
      },
    };
  }
}

/** secure-json-parse's rule: an own `__proto__` key, or a `constructor` key holding a `prototype`. */
function poisoned(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return v.some(poisoned);
  const o = v as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(o, '__proto__')) return true;
  const c = Object.prototype.hasOwnProperty.call(o, 'constructor') ? o.constructor : undefined;
  if (typeof c === 'object' && c !== null && Object.prototype.hasOwnProperty.call(c, 'prototype')) return true;
  for (const k in o) if (poisoned(o[k])) return true;
  return false;
}
