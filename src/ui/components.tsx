// Small building blocks shared by the pages: formatting, status badges, a virtualised table, the
// confirmation dialog that every bulk action goes through (dry-run count first), and notices.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api } from './api';

export const usd = (nusd: number): string => `$${(Math.round(nusd / 1e7) / 100).toFixed(2)}`;
export const when = (ms: number | null | undefined): string => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '—');
export const ago = (ms: number | null | undefined, now: number): string => {
  if (!ms) return '—';
  const s = Math.round((now - ms) / 1000);
  if (Math.abs(s) < 60) return s >= 0 ? `${s}s ago` : `in ${-s}s`;
  const m = Math.round(s / 60);
  if (Math.abs(m) < 60) return m >= 0 ? `${m}m ago` : `in ${-m}m`;
  const h = Math.round(m / 60);
  return h >= 0 ? `${h}h ago` : `in ${-h}h`;
};

export function Status({ value }: { value: string }) {
  return <span class={`badge badge-${value.replace(/[^a-z_]/g, '')}`}>{value}</span>;
}

export function Notice({ kind, children }: { kind: 'error' | 'info'; children: ComponentChildren }) {
  return (
    <p class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

export function LiveBadge({ state }: { state: string }) {
  return (
    <span class={`live live-${state}`} role="status" aria-live="polite" data-live={state}>
      {state === 'live' ? '● live' : state === 'connecting' ? '○ connecting' : '○ offline, reconnecting'}
    </span>
  );
}

export interface Column<T> {
  key: string;
  label: string;
  render: (row: T) => ComponentChildren;
  sort?: (a: T, b: T) => number;
}

/**
 * A table that renders only the rows in view (fixed row height), so 10,000 agents scroll and
 * re-sort without 10,000 DOM rows. The scroller is focusable (keyboard scrolling, axe).
 */
export function VirtualTable<T>(props: { rows: T[]; columns: Column<T>[]; rowKey: (r: T) => string; label: string; height?: number; sortKey?: string; sortDir?: 1 | -1; onSort?: (key: string) => void }) {
  const ROW = 34;
  const height = props.height ?? 520;
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / ROW) - 10);
  const last = Math.min(props.rows.length, Math.ceil((top + height) / ROW) + 10);
  const visible = props.rows.slice(first, last);
  return (
    <div class="scroller" style={{ maxHeight: `${height}px` }} tabIndex={0} role="region" aria-label={props.label} onScroll={(e) => setTop((e.currentTarget as HTMLElement).scrollTop)}>
      <table class="grid" aria-rowcount={props.rows.length}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c.key} aria-sort={props.sortKey === c.key ? (props.sortDir === 1 ? 'ascending' : 'descending') : undefined}>
                {c.sort && props.onSort ? (
                  <button type="button" class="link" onClick={() => props.onSort!(c.key)}>
                    {c.label}
                    {props.sortKey === c.key ? (props.sortDir === 1 ? ' ▲' : ' ▼') : ''}
                  </button>
                ) : (
                  c.label
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {first > 0 && (
            <tr aria-hidden="true" class="spacer" style={{ height: `${first * ROW}px` }}>
              <td colSpan={props.columns.length} />
            </tr>
          )}
          {visible.map((r) => (
            <tr key={props.rowKey(r)} style={{ height: `${ROW}px` }} data-row={props.rowKey(r)}>
              {props.columns.map((c) => (
                <td key={c.key}>{c.render(r)}</td>
              ))}
            </tr>
          ))}
          {last < props.rows.length && (
            <tr aria-hidden="true" class="spacer" style={{ height: `${(props.rows.length - last) * ROW}px` }}>
              <td colSpan={props.columns.length} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function Dialog(props: { title: string; children: ComponentChildren; onClose: () => void }) {
  return (
    <div class="overlay">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title">
        <h2 id="dialog-title">{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}

export interface PendingAction {
  title: string;
  /** Asks the server how many items the action would touch (dry run). */
  dryRun?: () => Promise<{ count: number; names?: string[] }>;
  run: () => Promise<unknown>;
}

/** Every action goes through here: dry-run count (when there is one), confirmation, result. */
export function ConfirmAction({ action, onDone }: { action: PendingAction | null; onDone: (msg: string | null) => void }) {
  const [count, setCount] = useState<{ count: number; names?: string[] } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [asked, setAsked] = useState<PendingAction | null>(null);
  if (action !== asked) {
    setAsked(action);
    setCount(null);
    setError(null);
    if (action?.dryRun) action.dryRun().then(setCount, (e: Error) => setError(e.message));
  }
  if (!action) return null;
  const ready = !action.dryRun || count !== null;
  return (
    <Dialog title={action.title} onClose={() => onDone(null)}>
      {action.dryRun && !count && !error && <p>Counting what this would touch…</p>}
      {count && (
        <p data-testid="dry-run-count">
          This will act on <strong>{count.count}</strong> item{count.count === 1 ? '' : 's'}
          {count.names && count.names.length > 0 ? `: ${count.names.slice(0, 8).join(', ')}${count.names.length > 8 ? ', …' : ''}` : ''}.
        </p>
      )}
      {error && <Notice kind="error">{error}</Notice>}
      <div class="row">
        <button
          type="button"
          class="primary"
          disabled={!ready || busy || (count !== null && count.count === 0)}
          onClick={async () => {
            setBusy(true);
            try {
              await action.run();
              onDone(`${action.title}: done`);
            } catch (e) {
              setError((e as Error).message);
            } finally {
              setBusy(false);
            }
          }}
        >
          Confirm
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

/** A POST through the confirmation dialog, for single items. */
export const post = (title: string, path: string, body?: unknown): PendingAction => ({ title, run: () => api('POST', path, body ?? {}) });

/** A table head of plain column labels (`false` entries: columns the role does not get). */
export function Head({ cols }: { cols: Array<string | false> }) {
  return (
    <thead>
      <tr>
        {cols.filter((c): c is string => c !== false).map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** A page's title row: the heading, anything beside it, and the live channel's state. */
export function PageTitle({ title, live, children }: { title: string; live: string; children?: ComponentChildren }) {
  return (
    <div class="title">
      <h1 id="page-title">{title}</h1>
      {children}
      <LiveBadge state={live} />
    </div>
  );
}

/**
 * A page's action state: what awaits confirmation, the last result, and the dialog to render.
 * `after` runs once an action went through (clear a selection, close an editor).
 */
export function useAction(after?: () => void) {
  const [pending, setPending] = useState<PendingAction | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const dialog = (
    <ConfirmAction
      action={pending}
      onDone={(msg) => {
        setPending(null);
        if (msg) {
          setMessage(msg);
          after?.();
        }
      }}
    />
  );
  return { setPending, message, setMessage, dialog };
}
