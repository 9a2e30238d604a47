// The dashboard's shell: the session (or the sign-in page), the navigation, and a hash router
// (`#/agents/x`), so the daemon serves one index.html and never needs a server-side route per page.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, can, setCsrf, type Session } from './api';
import { Notice } from './components';
import { AgentPage } from './pages/agent';
import { AuditPage } from './pages/audit';
import { FleetPage } from './pages/fleet';
import { JobsPage } from './pages/jobs';
import { NodesPage } from './pages/nodes';
import { SearchPage } from './pages/search';
import { SpendPage } from './pages/spend';
import { WorkflowsPage } from './pages/workflows';

/** Sections, each shown only to roles that may read it. */
const NAV: Array<{ path: string; label: string; permission: string }> = [
  { path: '/', label: 'Fleet', permission: 'agents:read' },
  { path: '/jobs', label: 'Jobs', permission: 'jobs:read' },
  { path: '/workflows', label: 'Workflows', permission: 'workflows:read' },
  { path: '/spend', label: 'LLM spend', permission: 'usage:read' },
  { path: '/search', label: 'Runs & events', permission: 'events:read' },
  { path: '/audit', label: 'Audit log', permission: 'audit:read' },
  { path: '/nodes', label: 'Nodes', permission: 'health:read' },
];

function useHash(): string {
  const [hash, setHash] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const on = () => setHash(location.hash.slice(1) || '/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Login({ onSession }: { onSession: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <main class="login">
      <h1>OpenClaw</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await api('POST', '/ui/login', { token: token.trim() });
            onSession();
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} placeholder="oc_…" required />
        <p class="hint">
          The admin token is in <code>.openclaw/token</code>; make others with <code>openclaw token create --role viewer</code>.
        </p>
        <button type="submit" class="primary">
          Sign in
        </button>
        {error && <Notice kind="error">{error}</Notice>}
      </form>
    </main>
  );
}

function Page({ path, session }: { path: string; session: Session }) {
  const [route, ...rest] = path.split('?')[0]!.split('/').filter(Boolean);
  switch (route) {
    case undefined:
      return <FleetPage session={session} />;
    case 'agents':
      return <AgentPage session={session} name={decodeURIComponent(rest[0] ?? '')} />;
    case 'jobs':
      return <JobsPage session={session} />;
    case 'workflows':
      return <WorkflowsPage session={session} run={rest[0] ? decodeURIComponent(rest[0]) : null} />;
    case 'spend':
      return <SpendPage session={session} />;
    case 'search':
      return <SearchPage session={session} initial={path.split('?')[1] ?? ''} />;
    case 'audit':
      return <AuditPage session={session} />;
    case 'nodes':
      return <NodesPage session={session} />;
    default:
      return <Notice kind="error">No page at {path}.</Notice>;
  }
}

function App() {
  const [session, setSession] = useState<Session | null | 'signed-out'>(null);
  const [error, setError] = useState<string | null>(null);
  const path = useHash();
  const load = async () => {
    try {
      const s = await api<Session>('GET', '/api/ui/session');
      setCsrf(s.csrf);
      setSession(s);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setSession('signed-out');
      else setError((e as Error).message);
    }
  };
  useEffect(() => void load(), []);
  if (error) return <Notice kind="error">{error}</Notice>;
  if (session === null) return <p>Loading…</p>;
  if (session === 'signed-out') return <Login onSession={load} />;
  const section = '/' + (path.split('/').filter(Boolean)[0] ?? '');
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          OpenClaw
        </a>
        <nav aria-label="Sections">
          {NAV.filter((n) => can(session, n.permission)).map((n) => (
            <a key={n.path} href={`#${n.path}`} aria-current={(n.path === '/' ? section === '/' || section === '/agents' : section === n.path) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <span class="who" data-role={session.principal.role}>
          {session.principal.id} ({session.principal.role})
        </span>
        {session.csrf && (
          <button
            type="button"
            onClick={async () => {
              await api('POST', '/ui/logout', {});
              setCsrf(null);
              setSession('signed-out');
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <main>
        <Page path={path} session={session} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
