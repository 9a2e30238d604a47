// One agent: status and actions, config, lifecycle transitions, a live log tail with a level filter,
// runs (each with the state version it committed; a click opens its timeline), state keys and versions with a diff between any
// two versions, and rollback. Loads with one request (/api/ui/agents/:name); the tail and the row
// come over the view's live channel.
import { useState } from 'preact/hooks';
import { api, can, useView, type Session } from '../api';
import { Head, Notice, PageTitle, post, Status, type PendingAction, useAction, when } from '../components';
import { RunTimeline } from './run-timeline';

interface Detail {
  agent: any;
  config: Record<string, unknown> | null;
  transitions: Array<{ instance: string | null; from: string; to: string; reason: string; at: number }>;
  runs: Array<{ id: string; status: string; trigger: string; startedAt: number; finishedAt: number; error: string | null }>;
  logs: Array<{ time: number; level: string; instance: string; msg: string }>;
  versions: Array<{ version: number; createdAt: number; keyCount: number; changedKeys: string[]; runId: string | null; reason: string }> | null;
  state: { version: number; state: Record<string, unknown> } | null;
}

const LEVELS = ['debug', 'info', 'warning', 'error'];
const MAX_LINES = 1000;

export function diffStates(a: Record<string, unknown>, b: Record<string, unknown>): Array<{ key: string; kind: 'added' | 'removed' | 'changed'; from?: unknown; to?: unknown }> {
  const out: Array<{ key: string; kind: 'added' | 'removed' | 'changed'; from?: unknown; to?: unknown }> = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!(k in a)) out.push({ key: k, kind: 'added', to: b[k] });
    else if (!(k in b)) out.push({ key: k, kind: 'removed', from: a[k] });
    else if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push({ key: k, kind: 'changed', from: a[k], to: b[k] });
  }
  return out.sort((x, y) => x.key.localeCompare(y.key));
}

export function AgentPage({ session, name }: { session: Session; name: string }) {
  const [level, setLevel] = useState('debug');
  const [dropped, setDropped] = useState(0);
  const { data, error, live } = useView<Detail>(`agent:${name}`, () => api('GET', `/api/ui/agents/${encodeURIComponent(name)}`), 'agent', ['runs', 'state'], name, (m, set) => {
    if (m.type === 'agent') set((d) => ({ ...d, agent: m.agent }));
    else if (m.type === 'log') set((d) => ({ ...d, logs: [...d.logs, m.line].slice(-MAX_LINES) }));
    else if (m.type === 'dropped') setDropped((n) => n + m.count);
  });
  const { setPending, message, setMessage, dialog } = useAction();
  const [cmp, setCmp] = useState<{ a: string; b: string }>({ a: '', b: '' });
  const [diff, setDiff] = useState<ReturnType<typeof diffStates> | null>(null);
  const [payload, setPayload] = useState('{}');
  const [openRun, setOpenRun] = useState<string | null>(null);
  if (error) return <Notice kind="error">{error}</Notice>;
  if (!data) return <p>Loading {name}…</p>;
  const a = data.agent;
  const base = `/api/agents/${encodeURIComponent(name)}`;
  const mayUpdate = can(session, 'agents:update');
  const versions = data.versions ?? [];
  return (
    <section aria-labelledby="page-title">
      <PageTitle title={name} live={live}><Status value={a.status} /></PageTitle>
      <p class="meta">
        desired {a.desired} · {a.kind} · {a.schedule ?? 'no schedule'} · restarts {a.restarts} · runs {a.runsTotal} ({a.runsFailed} failed) · state v{a.stateVersion}
        {a.reason ? ` · ${a.reason}` : ''}
      </p>
      {(mayUpdate || can(session, 'agents:trigger')) && (
        <div class="row" role="group" aria-label="Agent actions">
          {mayUpdate && ['pause', 'resume', 'restart'].map((x) => (
            <button type="button" key={x} onClick={() => setPending(post(`${x[0]!.toUpperCase()}${x.slice(1)} ${name}`, `${base}/${x}`))}>
              {x[0]!.toUpperCase() + x.slice(1)}
            </button>
          ))}
          {can(session, 'agents:trigger') && (
            <>
              <label>
                Payload <input class="mono" value={payload} onInput={(e) => setPayload((e.target as HTMLInputElement).value)} />
              </label>
              <button
                type="button"
                onClick={() => {
                  let parsed: unknown;
                  try {
                    parsed = JSON.parse(payload);
                  } catch {
                    setMessage('the payload is not valid JSON');
                    return;
                  }
                  setPending(post(`Trigger ${name}`, `${base}/trigger`, { payload: parsed }));
                }}
              >
                Trigger
              </button>
            </>
          )}
        </div>
      )}
      {message && <Notice kind="info">{message}</Notice>}
      <Sparkline runs={data.runs} />

      <h2>Log tail</h2>
      <div class="row">
        <label>
          Level
          <select value={level} onChange={(e) => setLevel((e.target as HTMLSelectElement).value)}>
            {LEVELS.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        {dropped > 0 && <span class="warn">{dropped} lines dropped (the browser fell behind)</span>}
      </div>
      <pre class="logs" tabIndex={0} aria-label="Log lines" data-testid="logs">
        {data.logs
          .filter((l) => LEVELS.indexOf(l.level) >= LEVELS.indexOf(level))
          .map((l) => `${when(l.time)} ${l.level.padEnd(7)} ${l.instance} ${l.msg}`)
          .join('\n')}
      </pre>

      <h2>Runs</h2>
      <table class="grid">
        <Head cols={['Run', 'Status', 'Trigger', 'Started', 'Duration', 'State written', 'Error']} />
        <tbody>
          {data.runs.map((r) => {
            const v = versions.find((x) => x.runId === r.id);
            return (
              <tr key={r.id}>
                <td class="mono">
                  <button type="button" class="link mono" aria-expanded={openRun === r.id} aria-label={`Timeline of run ${r.id}`} onClick={() => setOpenRun(openRun === r.id ? null : r.id)}>
                    {r.id.slice(0, 12)}
                  </button>
                </td>
                <td>
                  <Status value={r.status} />
                </td>
                <td>{r.trigger}</td>
                <td>{when(r.startedAt)}</td>
                <td>{r.finishedAt - r.startedAt} ms</td>
                <td>{v ? `v${v.version}: ${v.changedKeys.join(', ')}` : '—'}</td>
                <td>{r.error ?? ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {openRun && <RunTimeline agent={name} runId={openRun} stamp={`${data.runs[0]?.id ?? ''}:${a.runsTotal}`} />}

      {data.versions && (
        <>
          <h2>State</h2>
          <pre class="state" tabIndex={0} aria-label="Current state">
            {JSON.stringify(data.state?.state ?? {}, null, 2)}
          </pre>
          <div class="row">
            <VersionPick label="From version" versions={versions} value={cmp.a} onPick={(a) => setCmp({ ...cmp, a })} />
            <VersionPick label="To version" versions={versions} value={cmp.b} onPick={(b) => setCmp({ ...cmp, b })} />
            <button
              type="button"
              disabled={!cmp.a || !cmp.b}
              onClick={async () => {
                const [x, y] = await Promise.all([api('GET', `${base}/state?version=${cmp.a}`), api('GET', `${base}/state?version=${cmp.b}`)]);
                setDiff(diffStates(x.state, y.state));
              }}
            >
              Compare
            </button>
          </div>
          {diff && (
            <table class="grid" data-testid="state-diff">
              <caption>
                v{cmp.a} → v{cmp.b}: {diff.length} key{diff.length === 1 ? '' : 's'} differ
              </caption>
              <Head cols={['Key', 'Change', 'From', 'To']} />
              <tbody>
                {diff.map((d) => (
                  <tr key={d.key}>
                    <td class="mono">{d.key}</td>
                    <td>{d.kind}</td>
                    <td class="mono">{d.from === undefined ? '' : JSON.stringify(d.from)}</td>
                    <td class="mono">{d.to === undefined ? '' : JSON.stringify(d.to)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <table class="grid">
            <caption>State versions</caption>
            <Head cols={['Version', 'When', 'Keys', 'Changed', 'Reason', can(session, 'state:write') && 'Rollback']} />
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <td>v{v.version}</td>
                  <td>{when(v.createdAt)}</td>
                  <td>{v.keyCount}</td>
                  <td class="mono">{v.changedKeys.join(', ')}</td>
                  <td>{v.reason}</td>
                  {can(session, 'state:write') && (
                    <td>
                      <button type="button" class="small" aria-label={`Roll back to v${v.version}`} onClick={() => setPending(post(`Roll back ${name} to v${v.version}`, `${base}/state/rollback`, { version: v.version }))}>
                        Roll back
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}

      <h2>Lifecycle</h2>
      <table class="grid">
        <Head cols={['When', 'Instance', 'From', 'To', 'Reason']} />
        <tbody>
          {data.transitions.map((t, i) => (
            <tr key={i}>
              <td>{when(t.at)}</td>
              <td>{t.instance ?? ''}</td>
              <td>{t.from}</td>
              <td>{t.to}</td>
              <td>{t.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>Config</h2>
      <pre class="state" tabIndex={0} aria-label="Agent configuration">
        {JSON.stringify(data.config, null, 2)}
      </pre>
      {dialog}
    </section>
  );
}

function VersionPick(props: { label: string; versions: Array<{ version: number }>; value: string; onPick: (v: string) => void }) {
  return (
    <label>
      {props.label}
      <select value={props.value} onChange={(e) => props.onPick((e.target as HTMLSelectElement).value)}>
        <option value="">choose</option>
        {props.versions.map((v) => (
          <option key={v.version} value={String(v.version)}>
            v{v.version}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Run durations of the last runs, oldest to newest; failed runs are red dots. */
function Sparkline({ runs }: { runs: Array<{ status: string; startedAt: number; finishedAt: number }> }) {
  const pts = [...runs].reverse().filter((r) => r.status === 'succeeded' || r.status === 'failed');
  if (pts.length < 2) return null;
  const W = 240;
  const H = 36;
  const max = Math.max(1, ...pts.map((r) => r.finishedAt - r.startedAt));
  const xy = pts.map((r, i) => [Math.round((i * (W - 4)) / (pts.length - 1)) + 2, H - 2 - Math.round(((r.finishedAt - r.startedAt) * (H - 4)) / max)] as const);
  return (
    <p class="row spark">
      <svg width={W} height={H} role="img" aria-label={`Duration of the last ${pts.length} runs, up to ${max} ms; ${pts.filter((r) => r.status === 'failed').length} failed`}>
        <polyline points={xy.map(([x, y]) => `${x},${y}`).join(' ')} class="spark-line" />
        {xy.map(([x, y], i) => (pts[i]!.status === 'failed' ? <circle key={i} cx={x} cy={y} r={3} class="spark-fail" /> : null))}
      </svg>
      <span class="meta">run duration, last {pts.length} runs (max {max} ms)</span>
    </p>
  );
}
