// The dashboard's only ways to talk to the daemon: `api()` (one fetch, the session's CSRF token on
// every state-changing request) and `useLive()` (the view's one WebSocket). No timer ever fetches:
// data changes are pushed, and a view refetches its one aggregate endpoint when told to.
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Principal {
  id: string;
  role: string;
  team: string | null;
}

export interface Session {
  principal: Principal;
  permissions: string[];
  csrf: string | null;
  authMode: string;
}

let csrf: string | null = null;
export function setCsrf(token: string | null): void {
  csrf = token;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { code: 'bad_response', message: text.slice(0, 200) } };
  }
  if (!res.ok) throw new ApiError(res.status, data?.error?.code ?? 'error', data?.error?.message ?? `HTTP ${res.status}`);
  return data as T;
}

export type LiveMessage =
  | { type: 'hello'; view: string }
  | { type: 'agent'; agent: any }
  | { type: 'changed'; kinds: string[] }
  | { type: 'log'; line: any }
  | { type: 'dropped'; count: number };

/**
 * The view's live channel. Reconnects with backoff after a close (the only timer: armed when the
 * socket is down, never while it is up).
 */
export function useLive(view: string, agent: string | null, onMessage: (m: LiveMessage) => void): 'connecting' | 'live' | 'offline' {
  const [state, setState] = useState<'connecting' | 'live' | 'offline'>('connecting');
  const handler = useRef(onMessage);
  handler.current = onMessage;
  useEffect(() => {
    let socket: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let attempt = 0;
    let closed = false;
    const open = () => {
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const q = new URLSearchParams({ view, ...(agent ? { agent } : {}) });
      socket = new WebSocket(`${proto}://${location.host}/api/ui/live?${q}`);
      socket.onopen = () => {
        attempt = 0;
        setState('live');
      };
      socket.onmessage = (e) => {
        try {
          handler.current(JSON.parse(String(e.data)) as LiveMessage);
        } catch {
          // a malformed frame: ignore it
        }
      };
      socket.onclose = () => {
        if (closed) return;
        setState('offline');
        attempt++;
        retry = setTimeout(open, Math.min(30_000, 500 * 2 ** attempt));
      };
    };
    open();
    return () => {
      closed = true;
      if (retry) clearTimeout(retry);
      socket?.close();
    };
  }, [view, agent]);
  return state;
}

/**
 * Loads a view's data (one aggregate request, or a small fixed set) and reloads it when the live
 * channel says one of `kinds` changed. Reloads never overlap: a change during a load queues exactly
 * one more. `key` changes (a new filter, another agent) load afresh.
 */
export function useView<T>(key: string | null, loader: () => Promise<T>, view: string, kinds: string[], agent: string | null = null, onLive?: (m: LiveMessage, set: (f: (t: T) => T) => void) => void) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const inflight = useRef(false);
  const again = useRef(false);
  const current = useRef(loader);
  current.current = loader;
  const load = async (): Promise<void> => {
    if (key === null) return;
    if (inflight.current) {
      again.current = true;
      return;
    }
    inflight.current = true;
    try {
      setData(await current.current());
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      inflight.current = false;
      if (again.current) {
        again.current = false;
        void load();
      }
    }
  };
  useEffect(() => {
    setData(null);
    void load();
  }, [key]);
  const live = useLive(view, agent, (m) => {
    if (m.type === 'changed' && m.kinds.some((k) => kinds.includes(k))) void load();
    else if (onLive) onLive(m, (f) => setData((d) => (d === null ? d : f(d))));
  });
  return { data, error, reload: load, live };
}

export const can = (s: Session, permission: string): boolean => s.permissions.includes(permission);
