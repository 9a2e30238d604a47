// One error shape for every answer that is not a success: `{ "error": { "code", "message" } }`.
// OpenClawError carries its own status; Fastify's own 4xx (bad JSON, wrong content type, body too
// large) become `invalid_request`; anything else is a 500 'internal' that never shows a stack.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OpenClawError } from '../util/errors.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | OpenClawError | Error, req, reply) => {
    if (err instanceof OpenClawError) {
      if (err.status >= 500) req.log.error({ err }, 'request failed');
      if (err.status === 401) void reply.header('www-authenticate', 'Bearer realm="openclaw"');
      return reply.code(err.status).send(errorBody(err.code, err.message));
    }
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
      return reply.code(status).send(errorBody(code, fastifyMessage(err as FastifyError)));
    }
    req.log.error({ err }, 'unexpected error');
    return reply.code(500).send(errorBody('internal', 'internal error; the daemon log has the details'));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    return reply.code(404).send(errorBody('route_not_found', `no route ${req.method} ${path}; see docs/api.md for the routes`));
  });
}

/**
 * For Fastify's `frameworkErrors` option: errors raised while routing, before any handler or
 * hook (a malformed percent-encoding, an over-long path parameter), in the same shape.
 */
export function frameworkError(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  void reply.code(status).send(errorBody('invalid_request', fastifyMessage(err)));
}

function fastifyMessage(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `body: ${err.message}`;
    default:
      return err.message;
  }
}
