// Fleet overview: every agent with its status, restarts, last and next run, pending events and cost
// today; filter and sort on the client over the one /api/ui/fleet answer; live row updates; actions
// on one agent, a selection, or "all matching" (dry-run count, then confirm).
import { useMemo, useState } from 'preact/hooks';
import { api, can, useView, type Session } from '../api';
import { ago, Notice, PageTitle, Status, type Column, type PendingAction, usd, useAction, VirtualTable } from '../components';

interface Agent {
  name: string;
  status: string;
  desired: string;
  owner: string | null;
  restarts: number;
  lastRunAt: number | null;
  nextRunAt: number | null;
  pendingEvents: number;
  costTodayNusd: number;
  schedule: string | null;
  instances: Array<{ instanceId: string }>;
}

const ACTIONS = [
  { action: 'pause', label: 'Pause', permission: 'agents:update' },
  { action: 'resume', label: 'Resume', permission: 'agents:update' },
  { action: 'restart', label: 'Restart', permission: 'agents:update' },
  { action: 'trigger', label: 'Trigger', permission: 'agents:trigger' },
];

/** Same rule as the server's bulk filter (src/api/ui/routes.ts matchesFilter). */
function matches(a: Agent, q: string, status: string): boolean {
  if (status && a.status !== status) return false;
  const t = q.trim().toLowerCase();
  return !t || a.name.toLowerCase().includes(t) || (a.owner ?? '').toLowerCase().includes(t);
}

export function FleetPage({ session }: { session: Session }) {
  const { data, error, live } = useView<{ agents: Agent[]; node: { project: string } }>(
    'fleet',
    () => api('GET', '/api/ui/fleet'),
    'fleet',
    ['spend'],
    null,
    (m, set) => {
      if (m.type === 'agent') set((d) => ({ ...d, agents: d.agents.map((a) => (a.name === m.agent.name ? { ...m.agent, costTodayNusd: a.costTodayNusd } : a)) }));
    },
  );
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('');
  const [sort, setSort] = useState<{ key: string; dir: 1 | -1 }>({ key: 'name', dir: 1 });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const { setPending, message, setMessage, dialog } = useAction(() => setSelected(new Set()));
  const now = Date.now();
  const actions = ACTIONS.filter((a) => can(session, a.permission));
  const mayAct = actions.length > 0;

  const columns: Column<Agent>[] = [
    ...(mayAct
      ? [
          {
            key: 'sel',
            label: 'Select',
            render: (a: Agent) => (
              <input
                type="checkbox"
                aria-label={`select ${a.name}`}
                checked={selected.has(a.name)}
                onChange={(e) => {
                  const next = new Set(selected);
                  if ((e.target as HTMLInputElement).checked) next.add(a.name);
                  else next.delete(a.name);
                  setSelected(next);
                }}
              />
            ),
          },
        ]
      : []),
    { key: 'name', label: 'Agent', render: (a) => <a href={`#/agents/${encodeURIComponent(a.name)}`}>{a.name}</a>, sort: (a, b) => a.name.localeCompare(b.name) },
    { key: 'status', label: 'Status', render: (a) => <Status value={a.status} />, sort: (a, b) => a.status.localeCompare(b.status) },
    { key: 'owner', label: 'Owner', render: (a) => a.owner ?? '—', sort: (a, b) => (a.owner ?? '').localeCompare(b.owner ?? '') },
    { key: 'restarts', label: 'Restarts', render: (a) => a.restarts, sort: (a, b) => a.restarts - b.restarts },
    { key: 'last', label: 'Last run', render: (a) => ago(a.lastRunAt, now), sort: (a, b) => (a.lastRunAt ?? 0) - (b.lastRunAt ?? 0) },
    { key: 'next', label: 'Next run', render: (a) => ago(a.nextRunAt, now), sort: (a, b) => (a.nextRunAt ?? Infinity) - (b.nextRunAt ?? Infinity) },
    { key: 'pending', label: 'Events pending', render: (a) => a.pendingEvents, sort: (a, b) => a.pendingEvents - b.pendingEvents },
    { key: 'cost', label: 'Cost today', render: (a) => usd(a.costTodayNusd), sort: (a, b) => a.costTodayNusd - b.costTodayNusd },
    ...(mayAct
      ? [
          {
            key: 'act',
            label: 'Actions',
            render: (a: Agent) => (
              <span class="row">
                {actions.map((x) => (
                  <button type="button" key={x.action} class="small" aria-label={`${x.label} ${a.name}`} onClick={() => setPending({ title: `${x.label} ${a.name}`, run: () => api('POST', `/api/ui/agents/bulk/${x.action}`, { names: [a.name], dryRun: false }) })}>
                    {x.label}
                  </button>
                ))}
              </span>
            ),
          },
        ]
      : []),
  ];

  const rows = useMemo(() => {
    if (!data) return [];
    const col = columns.find((c) => c.key === sort.key);
    const out = data.agents.filter((a) => matches(a, q, status));
    if (col?.sort) out.sort((a, b) => col.sort!(a, b) * sort.dir);
    return out;
  }, [data, q, status, sort]);

  const bulk = (x: (typeof ACTIONS)[number], scope: 'selection' | 'matching'): PendingAction => {
    const target = scope === 'selection' ? { names: [...selected] } : { filter: { q, status: status || undefined } };
    return {
      title: `${x.label} ${scope === 'selection' ? 'the selected agents' : 'all agents matching the filter'}`,
      dryRun: () => api('POST', `/api/ui/agents/bulk/${x.action}`, { ...target, dryRun: true }),
      run: () => api('POST', `/api/ui/agents/bulk/${x.action}`, { ...target, dryRun: false }),
    };
  };

  const statuses = [...new Set((data?.agents ?? []).map((a) => a.status))].sort();
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Fleet" live={live} />
      {error && <Notice kind="error">{error}</Notice>}
      <div class="filters row">
        <label>
          Filter <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} placeholder="name or owner" />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <span class="count" data-testid="fleet-count">
          {rows.length} of {data?.agents.length ?? 0} agents
        </span>
      </div>
      {mayAct && (
        <div class="row bulk" role="group" aria-label="Bulk actions">
          {actions.map((x) => (
            <span key={x.action} class="row">
              <button type="button" disabled={selected.size === 0} onClick={() => setPending(bulk(x, 'selection'))}>
                {x.label} selected ({selected.size})
              </button>
              <button type="button" onClick={() => setPending(bulk(x, 'matching'))}>
                {x.label} all matching
              </button>
            </span>
          ))}
        </div>
      )}
      {message && <Notice kind="info">{message}</Notice>}
      {data && <VirtualTable rows={rows} columns={columns} rowKey={(a) => a.name} label="Agents" sortKey={sort.key} sortDir={sort.dir} onSort={(key) => setSort((s) => ({ key, dir: s.key === key ? (-s.dir as 1 | -1) : 1 }))} />}
      {dialog}
    </section>
  );
}
