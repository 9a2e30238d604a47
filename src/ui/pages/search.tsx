// Runs and events search: by agent, status, time, and full text over event payloads (SQLite FTS5 /
// PostgreSQL full text on the server), newest first with keyset pagination ("Older" asks for rows
// before the last one shown). An event can be replayed with an edited payload.
import { useState } from 'preact/hooks';
import { api, can, useView, type Session } from '../api';
import { Notice, PageTitle, post, Status, useAction, when } from '../components';

interface Page {
  kind: 'runs' | 'events';
  rows: Array<Record<string, any>>;
  next: number | null;
}

/** `initial`: the query part of the page's hash (`#/search?kind=events&id=…`, linked from a run's timeline). */
export function SearchPage({ session, initial = '' }: { session: Session; initial?: string }) {
  const start = new URLSearchParams(initial);
  const [form, setForm] = useState({ kind: start.get('kind') === 'events' ? 'events' : 'runs', q: start.get('q') ?? '', agent: start.get('agent') ?? '', status: start.get('status') ?? '' });
  const [query, setQuery] = useState({ ...form, id: start.get('id') ?? '', before: '' });
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '') as Array<[string, string]>);
  const { data, error, live } = useView<Page>(`search:${params}`, () => api('GET', `/api/ui/search?${params}`), 'search', []);
  const [editing, setEditing] = useState<{ name: string; payload: string } | null>(null);
  const { setPending, message, setMessage, dialog } = useAction(() => setEditing(null));
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Runs & events" live={live} />
      <form
        class="row filters"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ ...form, id: '', before: '' });
        }}
      >
        <label>
          Search
          <select value={form.kind} onChange={set('kind')}>
            <option value="runs">runs</option>
            <option value="events">events</option>
          </select>
        </label>
        <label>
          Text in payload <input type="search" value={form.q} onInput={set('q')} />
        </label>
        <label>
          Agent <input value={form.agent} onInput={set('agent')} />
        </label>
        {form.kind === 'runs' && (
          <label>
            Status
            <select value={form.status} onChange={set('status')}>
              <option value="">any</option>
              {['succeeded', 'failed', 'missed', 'skipped'].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        )}
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      {query.id && <p class="meta">Showing the {query.kind === 'events' ? 'event' : 'runs of the event'} with id <span class="mono">{query.id}</span>.</p>}
      {error && <Notice kind="error">{error}</Notice>}
      {message && <Notice kind="info">{message}</Notice>}
      {data && (
        <>
          <table class="grid" data-testid="search-results">
            <thead>
              {data.kind === 'runs' ? (
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">Agent</th>
                  <th scope="col">Status</th>
                  <th scope="col">Started</th>
                  <th scope="col">Event</th>
                  <th scope="col">Payload</th>
                </tr>
              ) : (
                <tr>
                  <th scope="col">Seq</th>
                  <th scope="col">Event</th>
                  <th scope="col">Source</th>
                  <th scope="col">When</th>
                  <th scope="col">Payload</th>
                  {can(session, 'events:publish') && <th scope="col">Replay</th>}
                </tr>
              )}
            </thead>
            <tbody>
              {data.rows.map((r) =>
                data.kind === 'runs' ? (
                  <tr key={r.seq}>
                    <td class="mono">{String(r.id).slice(0, 12)}</td>
                    <td>
                      <a href={`#/agents/${encodeURIComponent(r.agent)}`}>{r.agent}</a>
                    </td>
                    <td>
                      <Status value={r.status} />
                    </td>
                    <td>{when(r.started_at)}</td>
                    <td>{r.event_name ?? '—'}</td>
                    <td class="mono clip">{r.payload ?? r.error ?? ''}</td>
                  </tr>
                ) : (
                  <tr key={r.seq}>
                    <td>{r.seq}</td>
                    <td>{r.name}</td>
                    <td>{r.source ?? '—'}</td>
                    <td>{when(r.created_at)}</td>
                    <td class="mono clip">{r.payload}</td>
                    {can(session, 'events:publish') && (
                      <td>
                        <button type="button" class="small" aria-label={`Replay event ${r.seq}`} onClick={() => setEditing({ name: r.name, payload: r.payload })}>
                          Replay…
                        </button>
                      </td>
                    )}
                  </tr>
                ),
              )}
            </tbody>
          </table>
          {data.rows.length === 0 && <p>No matches.</p>}
          {data.next !== null && (
            <button type="button" onClick={() => setQuery({ ...query, before: String(data.next) })}>
              Older
            </button>
          )}
        </>
      )}
      {editing && (
        <div class="editor">
          <label for="replay-payload">Payload to publish as a new '{editing.name}' event</label>
          <textarea id="replay-payload" class="mono" rows={6} value={editing.payload} onInput={(e) => setEditing({ ...editing, payload: (e.target as HTMLTextAreaElement).value })} />
          <div class="row">
            <button
              type="button"
              class="primary"
              onClick={() => {
                try {
                  const data = JSON.parse(editing.payload);
                  setPending(post(`Publish '${editing.name}' again`, '/api/events', { name: editing.name, data }));
                } catch {
                  setMessage('the payload is not valid JSON');
                }
              }}
            >
              Replay
            </button>
            <button type="button" onClick={() => setEditing(null)}>
              Close
            </button>
          </div>
        </div>
      )}
      {dialog}
    </section>
  );
}
