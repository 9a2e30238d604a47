// The audit log, newest first (keyset pages by `before`), and verification of its hash chain.
import { useState } from 'preact/hooks';
import { api, useView, type Session } from '../api';
import { Head, Notice, PageTitle, when } from '../components';

interface Audit {
  records: Array<{ seq: number; time: number; actor: string; action: string; target: string | null; detail: unknown }>;
}

export function AuditPage(_: { session: Session }) {
  const [before, setBefore] = useState<number | null>(null);
  const [action, setAction] = useState('');
  const q = new URLSearchParams({ limit: '100', ...(before ? { before: String(before) } : {}), ...(action ? { action } : {}) });
  const { data, error, live } = useView<Audit>(`audit:${q}`, () => api('GET', `/api/audit?${q}`), 'audit', before ? [] : ['audit']);
  const [verdict, setVerdict] = useState<string | null>(null);
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="Audit log" live={live} />
      <div class="row">
        <label>
          Action <input value={action} onChange={(e) => setAction((e.target as HTMLInputElement).value)} placeholder="e.g. agent.lifecycle" />
        </label>
        <button
          type="button"
          onClick={async () => {
            try {
              const v = await api('POST', '/api/audit/verify', {});
              setVerdict(v.ok ? `Chain verified: ${v.count} records intact` : `Chain BROKEN at record ${v.badSeq}: ${v.reason}`);
            } catch (e) {
              setVerdict((e as Error).message);
            }
          }}
        >
          Verify chain
        </button>
      </div>
      {verdict && (
        <p role="status" data-testid="verdict" class="notice notice-info">
          {verdict}
        </p>
      )}
      {error && <Notice kind="error">{error}</Notice>}
      {data && (
        <>
          <table class="grid">
            <Head cols={['Seq', 'When', 'Actor', 'Action', 'Target', 'Detail']} />
            <tbody>
              {data.records.map((r) => (
                <tr key={r.seq}>
                  <td>{r.seq}</td>
                  <td>{when(r.time)}</td>
                  <td>{r.actor}</td>
                  <td>{r.action}</td>
                  <td>{r.target ?? ''}</td>
                  <td class="mono clip">{JSON.stringify(r.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="row">
            {before && (
              <button type="button" onClick={() => setBefore(null)}>
                Newest
              </button>
            )}
            {data.records.length === 100 && (
              <button type="button" onClick={() => setBefore(data.records[data.records.length - 1]!.seq)}>
                Older
              </button>
            )}
          </div>
        </>
      )}
    </section>
  );
}
