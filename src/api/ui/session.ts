// Browser sessions for the dashboard. The login page posts an API token once; the daemon keeps it
// in memory under a random session id and gives the browser only that id, in an HttpOnly,
// SameSite=Strict cookie (scripts cannot read it, other sites cannot send it). Every request that
// authenticates by the cookie is turned into the same `Authorization: Bearer` the CLI sends, so the
// roles, team scoping and audit of src/security/auth apply unchanged.
//
// CSRF: a state-changing request authenticated by the cookie must carry the session's CSRF token
// in `x-csrf-token` (the page reads it from /api/ui/session; a forged cross-site form cannot).
// Requests with their own Authorization header carry no ambient credential and need none.
// Origin: a browser request that names an Origin other than the daemon's own is refused on every
// state-changing method and on the live WebSocket (CVE-2026-25253, "ClawJacked", was a cross-site
// WebSocket to a local gateway); in local-trust mode the Host must also be a loopback name, so a
// DNS-rebound name cannot borrow the loopback trust.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { isLoopbackHost } from '../../security/auth/mode.js';
import { OpenClawError } from '../../util/errors.js';

export const SESSION_COOKIE = 'oc_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface Session {
  id: string;
  token: string;
  csrf: string;
  principal: string;
  lastSeen: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    /** Idle sessions end after this long (default 12 h). */
    private readonly idleMs = 12 * 3_600_000,
    /** At most this many live sessions; the least recently used goes first. */
    private readonly max = 10_000,
  ) {}

  create(token: string, principal: string): Session {
    const s: Session = { id: randomBytes(32).toString('base64url'), token, csrf: randomBytes(32).toString('base64url'), principal, lastSeen: this.now() };
    this.sessions.set(s.id, s);
    while (this.sessions.size > this.max) this.sessions.delete(this.sessions.keys().next().value!);
    return s;
  }

  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.lastSeen > this.idleMs) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeen = now;
    // Keep the Map in least-recently-used order for the size bound.
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s;
  }

  delete(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  size(): number {
    return this.sessions.size;
  }
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `http://host:port` as the browser would write this daemon's origin. */
export function ownOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? ''}`;
}

/** Requests whose bearer came from the dashboard's cookie (an ambient credential). */
const fromCookie = new WeakSet<FastifyRequest>();

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
  if (req.headers.authorization !== undefined && !fromCookie.has(req)) return;
  if (origin !== ownOrigin(req)) {
    throw new OpenClawError('origin_refused', `${what} from origin ${origin} refused: the dashboard only accepts requests from its own origin ${ownOrigin(req)}; open it at that address`, { status: 403 });
  }
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  if (req.headers.authorization === undefined && req.cookies?.[SESSION_COOKIE] === undefined && !isLoopbackHost(host)) {
    throw new OpenClawError('origin_refused', `${what} for host ${host} refused: without a session or token only loopback names (127.0.0.1, localhost) are trusted; sign in at /ui`, { status: 403 });
  }
}

/**
 * The onRequest step: cookie → bearer, CSRF on state-changing methods, Origin on browser requests.
 * Leaves requests with their own Authorization header alone (apart from the Origin check).
 */
export function sessionAuth(sessions: SessionStore, req: FastifyRequest): void {
  const unsafe = !SAFE.has(req.method);
  if (unsafe) checkOrigin(req, `${req.method} ${req.url.split('?')[0]}`);
  if (req.headers.authorization !== undefined) return;
  const sid = req.cookies?.[SESSION_COOKIE];
  if (sid === undefined) return;
  const s = sessions.get(sid);
  if (!s) return; // expired or unknown: the route's own check answers 401 with the way to sign in
  if (unsafe) {
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameSecret(sent, s.csrf)) {
      throw new OpenClawError('csrf_required', `${req.method} ${req.url.split('?')[0]} refused: a request signed in by the dashboard's cookie must send the session's CSRF token in the ${CSRF_HEADER} header (GET /api/ui/session gives it)`, { status: 403 });
    }
  }
  req.headers.authorization = `Bearer ${s.token}`;
  fromCookie.add(req);
}
