// Nodes: the daemons serving this fleet. One daemon today shows itself; when several share a
// store (scale-out), each appears with its agents.
import { api, useView, type Session } from '../api';
import { Head, Notice, PageTitle, Status, when } from '../components';

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
      <PageTitle title="Nodes" live={live} />
      {error && <Notice kind="error">{error}</Notice>}
      {data && (
        <table class="grid">
          <Head cols={['Node', 'Status', 'Version', 'Store', 'Up since', 'Agents']} />
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
