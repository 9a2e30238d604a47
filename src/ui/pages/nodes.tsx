// Nodes: the daemons serving this fleet. One daemon today shows itself; when several share a
// store (scale-out), each appears with its agents.
import { api, useView, type Session } from '../api';
import { LiveBadge, Notice, Status, when } from '../components';

interface Health {
  status: string;
  version: string;
  project: string;
  pid: number;
  uptimeMs: number;
  store: string;
  agents: Record<string, number>;
}

export function NodesPage(_: { session: Session }) {
  const { data, error, live } = useView<Health>('nodes', () => api('GET', '/api/health'), 'nodes', []);
  return (
    <section aria-labelledby="page-title">
      <div class="title">
        <h1 id="page-title">Nodes</h1>
        <LiveBadge state={live} />
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {data && (
        <table class="grid">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Store</th>
              <th scope="col">Up since</th>
              <th scope="col">Agents</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td>
                {data.project} (pid {data.pid}, this daemon)
              </td>
              <td>
                <Status value={data.status} />
              </td>
              <td>{data.version}</td>
              <td>{data.store}</td>
              <td>{when(Date.now() - data.uptimeMs)}</td>
              <td>
                {data.agents.total} total · {data.agents.running} running · {data.agents.paused} paused · {data.agents.error} error · {data.agents.stopped} stopped
              </td>
            </tr>
          </tbody>
        </table>
      )}
    </section>
  );
}
