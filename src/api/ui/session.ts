// Browser sessions for the dashboard, the HTTP side. The login page posts an API token once; the
// daemon checks it, stores a session row (session-store.ts: the session id's hash and the token's
// id, never the token) and gives the browser only the session id, in an HttpOnly, SameSite=Strict
// cookie (scripts cannot read it, other sites cannot send it). A request that comes with the cookie
// gets `req.sessionToken` (the token's id), and `authorize` (src/security/auth) checks that token
// afresh — revoked, expired, role, team — exactly as if its bearer had been sent.
//
// CSRF: a state-changing request authenticated by the cookie must carry the session's CSRF token
// in `x-csrf-token` (the page reads it from /api/ui/session; a forged cross-site form cannot).
// Requests with their own Authorization header carry no ambient credential and need none.
// Origin: a browser request that names an Origin other than the daemon's own is refused on every
// state-changing method and on the live WebSocket (CVE-2026-25253, "ClawJacked", was a cross-site
// WebSocket to a local gateway); in local-trust mode the Host must also be a loopback name, so a
// DNS-rebound name cannot borrow the loopback trust.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { isLoopbackHost } from '../../security/auth/mode.js';
import { OpenClawError } from '../../util/errors.js';
import type { Session, SessionStore } from './session-store.js';

export const SESSION_COOKIE = 'oc_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `http://host:port` as the browser would write this daemon's origin. */
export function ownOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? ''}`;
}

/**
 * Refuses a browser request from another site when it rides on an ambient credential (the session
 * cookie, or local-trust's "no credential from loopback"): an Origin that is not ours, or without
 * a session a Host that is not a loopback name. A request with its own Authorization header (an
 * SDK, the CLI, a browser app with a virtual key on /v1) carries nothing a forger could borrow and
 * is left alone; so is one without Origin (not a cross-site browser request).
 */
export function checkOrigin(req: FastifyRequest, what: string): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  if (req.headers.authorization !== undefined) return;
  if (origin !== ownOrigin(req)) {
    throw new OpenClawError('origin_refused', `${what} from origin ${origin} refused: the dashboard only accepts requests from its own origin ${ownOrigin(req)}; open it at that address`, { status: 403 });
  }
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  if (req.cookies?.[SESSION_COOKIE] === undefined && !isLoopbackHost(host)) {
    throw new OpenClawError('origin_refused', `${what} for host ${host} refused: without a session or token only loopback names (127.0.0.1, localhost) are trusted; sign in at /ui`, { status: 403 });
  }
}

/**
 * The preValidation step: cookie → the session's token id, CSRF on state-changing methods, Origin
 * on browser requests. Leaves requests with their own Authorization header alone (apart from the
 * Origin check). One primary-key read per request; a write at most once a minute per session.
 */
export async function sessionAuth(sessions: SessionStore, req: FastifyRequest): Promise<void> {
  const unsafe = !SAFE.has(req.method);
  if (unsafe) checkOrigin(req, `${req.method} ${req.url.split('?')[0]}`);
  if (req.headers.authorization !== undefined) return;
  const sid = req.cookies?.[SESSION_COOKIE];
  // The app's static files are public: no session read for each of them.
  if (sid === undefined || req.url.startsWith('/ui/assets/')) return;
  const s = await sessions.get(sid);
  if (!s) return; // expired, signed out or unknown: the route's own check answers 401 with the way to sign in
  if (unsafe) {
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameSecret(sent, s.csrf)) {
      throw new OpenClawError('csrf_required', `${req.method} ${req.url.split('?')[0]} refused: a request signed in by the dashboard's cookie must send the session's CSRF token in the ${CSRF_HEADER} header (GET /api/ui/session gives it)`, { status: 403 });
    }
  }
  req.sessionToken = s.tokenId;
  ofRequest.set(req, s);
}

const ofRequest = new WeakMap<FastifyRequest, Session>();

/** The session a request was signed in by (its cookie), if any: read once by sessionAuth. */
export function sessionOf(req: FastifyRequest): Session | undefined {
  return ofRequest.get(req);
}
