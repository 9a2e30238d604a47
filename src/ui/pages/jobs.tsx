// Jobs: queues with their counts, recent jobs (cancel), dead jobs (re-drive one, a selection, or
// every dead job of a queue) and event dead letters. Four requests on load, whatever the volume.
import { useState } from 'preact/hooks';
import { ApiError, api, can, useView, type Session } from '../api';
import { Head, Notice, PageTitle, post, Status, useAction, when } from '../components';

interface Jobs {
  queues: Array<Record<string, any>> | null;
  jobs: Array<Record<string, any>>;
  dead: Array<Record<string, any>>;
  letters: Array<Record<string, any>>;
  note: string | null;
}

async function loadJobs(): Promise<Jobs> {
  const opt = async <T,>(p: Promise<T>, fallback: T): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return fallback; // no jobs section configured
      throw e;
    }
  };
  const [q, j, d, l] = await Promise.all([
    opt(api('GET', '/api/queues'), null),
    opt(api('GET', '/api/jobs?limit=100'), { jobs: [] }),
    opt(api('GET', '/api/jobs/dead?limit=100'), { jobs: [] }),
    api('GET', '/api/dead-letters?limit=100'),
  ]);
  return { queues: q?.queues ?? null, jobs: j.jobs, dead: d.jobs, letters: l.deadLetters ?? l.letters ?? [], note: q === null ? 'The job queue is not configured (no jobs: section).' : null };
}

export function JobsPage({ session }: { session: Session }) {
  const { data, error, live } = useView<Jobs>('jobs', loadJobs, 'jobs', ['jobs']);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const { setPending, message, dialog } = useAction(() => setPicked(new Set()));
  const admin = can(session, 'jobs:admin');
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Jobs" live={live} />
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="info">{message}</Notice>}
      {data?.note && <Notice kind="info">{data.note}</Notice>}
      {data?.queues && (
        <table class="grid">
          <caption>Queues</caption>
          <thead>
            <tr>
              <th scope="col">Queue</th>
              {['waiting', 'delayed', 'active', 'completed', 'dead', 'cancelled'].map((s) => (
                <th scope="col" key={s}>
                  {s}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.queues.map((q) => (
              <tr key={q.queue ?? q.name}>
                <td>{q.queue ?? q.name}</td>
                {['waiting', 'delayed', 'active', 'completed', 'dead', 'cancelled'].map((s) => (
                  <td key={s}>{q.counts?.[s] ?? q[s] ?? 0}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && (
        <>
          <h2>Dead jobs</h2>
          {admin && (
            <div class="row">
              <button type="button" disabled={picked.size === 0} onClick={() => setPending({ ...post(`Re-drive ${picked.size} dead job(s)`, '/api/jobs/dead/redrive', { ids: [...picked] }), dryRun: async () => ({ count: picked.size, names: [...picked] }) })}>
                Re-drive selected ({picked.size})
              </button>
              <button type="button" disabled={data.dead.length === 0} onClick={() => setPending({ ...post('Re-drive all dead jobs', '/api/jobs/dead/redrive', { all: true }), dryRun: async () => ({ count: data.dead.length }) })}>
                Re-drive all dead
              </button>
            </div>
          )}
          <JobTable rows={data.dead} select={admin ? { picked, setPicked } : null} />
          <h2>Recent jobs</h2>
          <JobTable rows={data.jobs} cancel={can(session, 'jobs:write') ? (id) => setPending(post(`Cancel job ${id}`, `/api/jobs/${encodeURIComponent(id)}/cancel`)) : null} />
          <h2>Event dead letters</h2>
          {can(session, 'events:admin') && data.letters.length > 0 && (
            <button type="button" onClick={() => setPending({ ...post('Re-drive all event dead letters', '/api/dead-letters/redrive', {}), dryRun: async () => ({ count: data.letters.length }) })}>
              Re-drive all dead letters
            </button>
          )}
          <table class="grid">
            <Head cols={['Consumer', 'Event', 'Attempts', 'Error']} />
            <tbody>
              {data.letters.map((l, i) => (
                <tr key={l.id ?? i}>
                  <td>{l.consumer ?? l.agent}</td>
                  <td>{l.eventName ?? l.event?.name ?? l.eventId}</td>
                  <td>{l.attempts}</td>
                  <td>{l.error}</td>
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

function JobTable(props: { rows: Array<Record<string, any>>; select?: { picked: Set<string>; setPicked: (s: Set<string>) => void } | null; cancel?: ((id: string) => void) | null }) {
  if (props.rows.length === 0) return <p>None.</p>;
  return (
    <table class="grid">
      <Head cols={[!!props.select && 'Select', 'Job', 'Queue', 'Status', 'Attempts', 'Created', 'Error', !!props.cancel && 'Cancel']} />
      <tbody>
        {props.rows.map((j) => (
          <tr key={j.id}>
            {props.select && (
              <td>
                <input
                  type="checkbox"
                  aria-label={`select job ${j.id}`}
                  checked={props.select.picked.has(j.id)}
                  onChange={(e) => {
                    const next = new Set(props.select!.picked);
                    if ((e.target as HTMLInputElement).checked) next.add(j.id);
                    else next.delete(j.id);
                    props.select!.setPicked(next);
                  }}
                />
              </td>
            )}
            <td class="mono">{String(j.id).slice(0, 14)}</td>
            <td>{j.queue}</td>
            <td>
              <Status value={String(j.status)} />
            </td>
            <td>{j.attempts}</td>
            <td>{when(j.createdAt)}</td>
            <td>{j.lastError ?? j.error ?? ''}</td>
            {props.cancel && (
              <td>
                {['waiting', 'delayed'].includes(j.status) && (
                  <button type="button" class="small" onClick={() => props.cancel!(j.id)}>
                    Cancel
                  </button>
                )}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
