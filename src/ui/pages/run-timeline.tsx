// One run's timeline on the agent page: started, each LLM call (model, tokens, cost, latency), each
// emitted event (linked to the events search), each state version it wrote (keys), finished or the
// error. ONE request (/api/ui/agents/:name/runs/:run: a single query joined by run id on the
// server); it loads again when the agent view's live channel reports new runs (`stamp` changes).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { Head, Notice, Status, usd, when } from '../components';

type Item =
  | { kind: 'started'; at: number; trigger: string; scheduledAt: number | null }
  | { kind: 'llm'; at: number; id: string; model: string; provider: string | null; status: string; inputTokens: number; outputTokens: number; costNusd: number; latencyMs: number; cacheHit: boolean }
  | { kind: 'emit'; at: number; id: string; name: string; seq: number }
  | { kind: 'state'; at: number; namespace: string; version: number; keys: string[]; reason: string }
  | { kind: 'finished'; at: number; status: string; error: string | null };

interface Timeline {
  runId: string;
  run: { status: string; startedAt: number; finishedAt: number } | null;
  items: Item[];
  llm: { calls: number; inputTokens: number; outputTokens: number; costNusd: number };
}

export function RunTimeline({ agent, runId, stamp }: { agent: string; runId: string; stamp: string }) {
  const [data, setData] = useState<Timeline | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let gone = false;
    api<Timeline>('GET', `/api/ui/agents/${encodeURIComponent(agent)}/runs/${encodeURIComponent(runId)}`)
      .then((t) => !gone && (setData(t), setError(null)))
      .catch((e: Error) => !gone && setError(e.message));
    return () => {
      gone = true;
    };
  }, [agent, runId, stamp]);
  if (error) return <Notice kind="error">{error}</Notice>;
  if (!data) return <p>Loading run {runId.slice(0, 12)}…</p>;
  const start = data.items[0]?.at ?? 0;
  return (
    <div data-testid="run-timeline">
      <table class="grid">
        <caption>
          Run <span class="mono">{runId}</span>
          {data.run ? '' : ' (still running: what it committed so far)'} · {data.llm.calls} LLM call{data.llm.calls === 1 ? '' : 's'}, {data.llm.inputTokens + data.llm.outputTokens} tokens,{' '}
          {usd(data.llm.costNusd)}
        </caption>
        <Head cols={['At', '+ms', 'What', 'Detail']} />
        <tbody>
          {data.items.map((i, n) => (
            <tr key={n}>
              <td>{when(i.at)}</td>
              <td>{i.at - start}</td>
              <td>{i.kind === 'finished' ? <Status value={i.status} /> : i.kind}</td>
              <td class="mono">{detail(i)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function detail(i: Item) {
  switch (i.kind) {
    case 'started':
      return `trigger ${i.trigger}${i.scheduledAt ? `, scheduled ${when(i.scheduledAt)}` : ''}`;
    case 'llm':
      return `${i.model} via ${i.provider ?? '—'} · ${i.status}${i.cacheHit ? ' (cache hit)' : ''} · ${i.inputTokens} in / ${i.outputTokens} out · $${(i.costNusd / 1e9).toFixed(6)} · ${i.latencyMs} ms`;
    case 'emit':
      return (
        <>
          {i.name} · <a href={`#/search?kind=events&id=${encodeURIComponent(i.id)}`}>{i.id}</a>
        </>
      );
    case 'state':
      return `${i.namespace} v${i.version}: ${i.keys.join(', ')}`;
    case 'finished':
      return i.error ?? '';
  }
}
