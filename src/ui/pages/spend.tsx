// LLM spend from the server's daily rollup (one request): totals, per day, agent, model and key,
// budgets and what is left, cache hit rate. Totals are sums of integer nano-dollars, rounded to the
// cent once, for display: they equal the usage ledger to the cent.
import { useState } from 'preact/hooks';
import { api, useView, type Session } from '../api';
import { Head, Notice, PageTitle, usd } from '../components';

interface Group {
  group: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costNusd: number;
  cacheHits: number;
  errors: number;
}
interface Spend {
  fromDay: string;
  toDay: string;
  total: Group;
  byDay: Group[];
  byAgent: Group[];
  byModel: Group[];
  byKey: Group[];
  keys: Array<{ id: string; name: string; revoked: boolean; dailyLimitNusd: number | null; monthlyLimitNusd: number | null; todayNusd: number; monthNusd: number }>;
}

function Groups({ title, rows, empty }: { title: string; rows: Group[]; empty: string }) {
  return (
    <table class="grid">
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">{title.replace(/^By /, '')}</th>
          <th scope="col">Requests</th>
          <th scope="col">Input tokens</th>
          <th scope="col">Output tokens</th>
          <th scope="col">Cache hits</th>
          <th scope="col">Errors</th>
          <th scope="col">Cost</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((g) => (
          <tr key={g.group}>
            <td>{g.group || empty}</td>
            <td>{g.requests}</td>
            <td>{g.inputTokens}</td>
            <td>{g.outputTokens}</td>
            <td>{g.cacheHits}</td>
            <td>{g.errors}</td>
            <td>{usd(g.costNusd)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function SpendPage(_: { session: Session }) {
  const [days, setDays] = useState(30);
  const { data, error, live } = useView<Spend>(`spend:${days}`, () => api('GET', `/api/ui/spend?days=${days}`), 'spend', ['spend']);
  const max = Math.max(1, ...(data?.byDay ?? []).map((d) => d.costNusd));
  return (
    <section aria-labelledby="page-title">
      <PageTitle title="LLM spend" live={live} />
      <label>
        Period
        <select value={String(days)} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
          {[1, 7, 30, 90].map((d) => (
            <option key={d} value={String(d)}>
              last {d} day{d === 1 ? '' : 's'}
            </option>
          ))}
        </select>
      </label>
      {error && <Notice kind="error">{error}</Notice>}
      {data && (
        <>
          <div class="cards">
            <div class="card">
              <span class="label">Total {data.fromDay} – {data.toDay}</span>
              <strong data-testid="spend-total">{usd(data.total.costNusd)}</strong>
            </div>
            <div class="card">
              <span class="label">Requests</span>
              <strong>{data.total.requests}</strong>
            </div>
            <div class="card">
              <span class="label">Cache hit rate</span>
              <strong>{data.total.requests ? `${((100 * data.total.cacheHits) / data.total.requests).toFixed(1)}%` : '—'}</strong>
            </div>
          </div>
          <div class="bars" role="img" aria-label="Cost per day">
            {data.byDay.map((d) => (
              <div key={d.group} class="bar" title={`${d.group}: ${usd(d.costNusd)}`}>
                <span class="fill" style={{ height: `${Math.round((100 * d.costNusd) / max)}%` }} />
                <span class="day">{d.group.slice(5)}</span>
              </div>
            ))}
          </div>
          <Groups title="By agent" rows={data.byAgent} empty="(no agent: /v1 callers)" />
          <Groups title="By model" rows={data.byModel} empty="—" />
          <Groups title="By key" rows={data.byKey} empty="(no virtual key)" />
          <Groups title="By day" rows={data.byDay} empty="—" />
          <table class="grid">
            <caption>Virtual keys and budgets</caption>
            <Head cols={['Key', 'Today', 'Daily budget left', 'This month', 'Monthly budget left']} />
            <tbody>
              {data.keys.map((k) => (
                <tr key={k.id}>
                  <td>
                    {k.name} {k.revoked ? '(revoked)' : ''}
                  </td>
                  <td>{usd(k.todayNusd)}</td>
                  <td>{k.dailyLimitNusd === null ? 'no budget' : usd(Math.max(0, k.dailyLimitNusd - k.todayNusd))}</td>
                  <td>{usd(k.monthNusd)}</td>
                  <td>{k.monthlyLimitNusd === null ? 'no budget' : usd(Math.max(0, k.monthlyLimitNusd - k.monthNusd))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
