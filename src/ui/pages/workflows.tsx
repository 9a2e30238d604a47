// Workflows: definitions (start a run), recent runs (cancel, retry), the approvals inbox (approve or
// reject in one click where the role allows), and one run's live DAG with each step's output.
import { useState } from 'preact/hooks';
import { api, can, useView, type Session } from '../api';
import { Head, Notice, PageTitle, post, Status, type PendingAction, useAction, VirtualTable, when } from '../components';
import { Dag, type DagStep } from '../dag';

interface Data {
  workflows: Array<{ name: string; description: string | null; steps: number; triggers: string[]; lastRun: { status: string } | null }>;
  runs: Array<{ id: string; workflow: string; status: string; createdAt: number; durationMs: number | null }>;
  approvals: Array<{ runId: string; workflow: string | null; step: string; message: string | null; approvers: string[] | null; since: number | null }>;
  detail: { run: { id: string; workflow: string; status: string }; steps: Array<DagStep & { output: unknown; error: string | null; durationMs: number | null }> } | null;
}

export function WorkflowsPage({ session, run }: { session: Session; run: string | null }) {
  const { data, error, live, reload } = useView<Data>(
    `workflows:${run ?? ''}`,
    async () => {
      const [w, r, a, d] = await Promise.all([
        api('GET', '/api/workflows'),
        api('GET', '/api/workflow-runs?limit=50'),
        api('GET', '/api/approvals'),
        run ? api('GET', `/api/workflow-runs/${encodeURIComponent(run)}`) : Promise.resolve(null),
      ]);
      return { workflows: w.workflows, runs: r.runs, approvals: a.approvals, detail: d };
    },
    'workflows',
    ['workflows'],
  );
  const { setPending, message, setMessage, dialog } = useAction();
  const [picked, setPicked] = useState<string | null>(null);
  const decide = async (a: Data['approvals'][number], decision: 'approve' | 'reject') => {
    try {
      await api('POST', `/api/workflow-runs/${encodeURIComponent(a.runId)}/steps/${encodeURIComponent(a.step)}/${decision}`, {});
      setMessage(`${decision === 'approve' ? 'Approved' : 'Rejected'} ${a.step} of ${a.workflow ?? a.runId}`);
      void reload();
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  const step = data?.detail?.steps.find((s) => s.key === picked);
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Workflows" live={live} />
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="info">{message}</Notice>}
      {data && (
        <>
          <h2>Approvals inbox ({data.approvals.length})</h2>
          {data.approvals.length === 0 ? (
            <p>Nothing waits for a decision.</p>
          ) : (
            <ul class="inbox" data-testid="approvals">
              {data.approvals.map((a) => (
                <li key={`${a.runId}/${a.step}`}>
                  <strong>{a.workflow}</strong> · {a.step} · {a.message ?? ''} · waiting since {when(a.since)}
                  {a.approvers ? ` · approvers ${a.approvers.join(', ')}` : ''}
                  {can(session, 'workflows:approve') && (
                    <span class="row">
                      <button type="button" class="primary small" onClick={() => void decide(a, 'approve')}>
                        Approve
                      </button>
                      <button type="button" class="small" onClick={() => void decide(a, 'reject')}>
                        Reject
                      </button>
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
          {data.detail && (
            <>
              <h2>
                Run {data.detail.run.id.slice(0, 12)} of {data.detail.run.workflow} <Status value={data.detail.run.status} />
              </h2>
              <Dag steps={data.detail.steps} onPick={setPicked} />
              <VirtualTable
                label="Steps"
                height={360}
                rows={data.detail.steps}
                rowKey={(s) => s.key}
                columns={[
                  { key: 'step', label: 'Step', render: (s) => <button type="button" class="link" onClick={() => setPicked(s.key)}>{s.key}</button> },
                  { key: 'status', label: 'Status', render: (s) => <Status value={s.status} /> },
                  { key: 'duration', label: 'Duration', render: (s) => (s.durationMs === null ? '—' : `${s.durationMs} ms`) },
                  { key: 'output', label: 'Output', render: (s) => <span class="mono clip">{s.error ?? (s.output === null ? '' : JSON.stringify(s.output).slice(0, 120))}</span> },
                ]}
              />
              {step && (
                <pre class="state" tabIndex={0} aria-label={`Output of ${step.key}`}>
                  {JSON.stringify(step.output, null, 2)}
                </pre>
              )}
            </>
          )}
          <h2>Definitions</h2>
          <table class="grid">
            <Head cols={['Workflow', 'Steps', 'Triggers', 'Last run', can(session, 'workflows:run') && 'Run']} />
            <tbody>
              {data.workflows.map((w) => (
                <tr key={w.name}>
                  <td>{w.name}</td>
                  <td>{w.steps}</td>
                  <td>{w.triggers.join(', ') || 'manual'}</td>
                  <td>{w.lastRun ? <Status value={w.lastRun.status} /> : '—'}</td>
                  {can(session, 'workflows:run') && (
                    <td>
                      <button type="button" class="small" aria-label={`Start ${w.name}`} onClick={() => setPending(post(`Start a run of ${w.name}`, `/api/workflows/${w.name}/runs`, {}))}>
                        Start
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Runs</h2>
          <table class="grid">
            <Head cols={['Run', 'Workflow', 'Status', 'Started', 'Duration', can(session, 'workflows:run') && 'Actions']} />
            <tbody>
              {data.runs.map((r) => (
                <tr key={r.id}>
                  <td>
                    <a href={`#/workflows/${encodeURIComponent(r.id)}`} class="mono">
                      {r.id.slice(0, 12)}
                    </a>
                  </td>
                  <td>{r.workflow}</td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>{when(r.createdAt)}</td>
                  <td>{r.durationMs === null ? '—' : `${r.durationMs} ms`}</td>
                  {can(session, 'workflows:run') && (
                    <td class="row">
                      {r.status === 'running' && (
                        <button type="button" class="small" onClick={() => setPending(post(`Cancel run ${r.id.slice(0, 12)}`, `/api/workflow-runs/${r.id}/cancel`))}>
                          Cancel
                        </button>
                      )}
                      {['failed', 'cancelled'].includes(r.status) && (
                        <button type="button" class="small" onClick={() => setPending(post(`Retry run ${r.id.slice(0, 12)}`, `/api/workflow-runs/${r.id}/retry`))}>
                          Retry
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {dialog}
    </section>
  );
}
