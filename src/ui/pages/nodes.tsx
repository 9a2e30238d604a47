// Nodes: the daemons serving this fleet. A single daemon shows itself; when several share a
// PostgreSQL store (scale-out, /api/nodes), each appears with its weight, leases and heartbeat.
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

interface ClusterNode {
  nodeId: string;
  address: string | null;
  weight: number;
  capacity: number | null;
  pid: number | null;
  startedAt: number;
  heartbeatAt: number;
  alive: boolean;
  draining: boolean;
  leases: number;
  instances: string[];
  self?: boolean;
}

export function NodesPage(_: { session: Session }) {
  const { data, error, live } = useView<{ health: Health; nodes: ClusterNode[] }>(
    'nodes',
    async () => {
      const [health, nodes] = await Promise.all([api('GET', '/api/health') as Promise<Health>, api('GET', '/api/nodes') as Promise<{ nodes: ClusterNode[] }>]);
      return { health, nodes: nodes.nodes };
    },
    'nodes',
    [],
  );
  const health = data?.health;
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Nodes" live={live} />
      {error && <Notice kind="error">{error}</Notice>}
      {data && data.nodes.length > 0 && (
        <table class="grid">
          <Head cols={['Node', 'Status', 'Weight', 'Leases', 'Agent instances', 'Up since', 'Last heartbeat']} />
          <tbody>
            {data.nodes.map((n) => (
              <tr key={n.nodeId}>
                <td>
                  {n.nodeId}
                  {n.self ? ' (this daemon)' : ''}
                  {n.address ? ` · ${n.address}` : ''}
                </td>
                <td>
                  <Status value={n.draining ? 'draining' : n.alive ? 'ok' : 'stopped'} />
                </td>
                <td>{n.weight}</td>
                <td>{n.capacity ? `${n.leases}/${n.capacity}` : n.leases}</td>
                <td>{n.instances.join(', ') || '-'}</td>
                <td>{when(n.startedAt)}</td>
                <td>{when(n.heartbeatAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {health && data && data.nodes.length === 0 && (
        <table class="grid">
          <Head cols={['Node', 'Status', 'Version', 'Store', 'Up since', 'Agents']} />
          <tbody>
            <tr>
              <td>
                {health.project} (pid {health.pid}, this daemon)
              </td>
              <td>
                <Status value={health.status} />
              </td>
              <td>{health.version}</td>
              <td>{health.store}</td>
              <td>{when(Date.now() - health.uptimeMs)}</td>
              <td>
                {health.agents.total} total · {health.agents.running} running · {health.agents.paused} paused · {health.agents.error} error · {health.agents.stopped} stopped
              </td>
            </tr>
          </tbody>
        </table>
      )}
    </section>
  );
}
