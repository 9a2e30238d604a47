// Human output for the CLI: box tables as in the seed's `openclaw status`, durations, relative
// times, byte sizes and rates. Pure functions; `--json` output never goes through here.

export type Align = 'left' | 'right';

/**
 * ┌───────┬────────┐
 * │ Agent │ Status │
 * ├───────┼────────┤
 * │ a     │ ok     │
 * └───────┴────────┘
 */
export function renderTable(headers: string[], rows: string[][], opts: { align?: Align[] } = {}): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (cells: string[]) =>
    '│' + widths.map((w, i) => ` ${pad(cells[i] ?? '', w, opts.align?.[i] ?? 'left')} `).join('│') + '│';
  return [line('┌', '┬', '┐'), row(headers), line('├', '┼', '┤'), ...rows.map(row), line('└', '┴', '┘')].join('\n');
}

function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)));
  return align === 'right' ? fill + s : s + fill;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Uptime-style: "4d 12h", "3h 5m", "3m", "42s"; "-" when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms >= DAY) return `${Math.floor(ms / DAY)}d ${Math.floor((ms % DAY) / HOUR)}h`;
  if (ms >= HOUR) return `${Math.floor(ms / HOUR)}h ${Math.floor((ms % HOUR) / MINUTE)}m`;
  if (ms >= MINUTE) return `${Math.floor(ms / MINUTE)}m`;
  return `${Math.floor(ms / SECOND)}s`;
}

/** "2m ago", "1h ago", "3d ago", "just now"; "in 5m" for the future; "-" when unknown. */
export function formatRelative(at: number | null | undefined, now: number): string {
  if (at == null || !Number.isFinite(at)) return '-';
  const d = now - at;
  const abs = Math.abs(d);
  if (abs < SECOND) return 'just now';
  const unit =
    abs >= DAY ? `${Math.floor(abs / DAY)}d` : abs >= HOUR ? `${Math.floor(abs / HOUR)}h` : abs >= MINUTE ? `${Math.floor(abs / MINUTE)}m` : `${Math.floor(abs / SECOND)}s`;
  return d >= 0 ? `${unit} ago` : `in ${unit}`;
}

/** "512 B", "2.3 KB", "2.3 MB", "230 MB" (powers of 1024). */
export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${n} B`;
  const text = v < 100 ? v.toFixed(1) : Math.round(v).toString();
  return `${text} ${units[i]}`;
}

/** 0.997 → "99.7%", 1 → "100%", null → "-". Never rounds a failure up to 100%. */
export function formatRate(rate: number | null | undefined): string {
  if (rate == null || !Number.isFinite(rate)) return '-';
  // The epsilon absorbs binary fractions (0.57 * 1000 = 569.999…) without rounding 99.95% up.
  const pct = Math.floor(rate * 1000 + 1e-6) / 10;
  return `${Number.isInteger(pct) ? pct.toFixed(0) : pct.toFixed(1)}%`;
}

/** 2026-04-18T14:30:00Z (no milliseconds), as in the seed's `state list`. */
export function formatTimestamp(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatVersion(v: number): string {
  return `v${v}`;
}
