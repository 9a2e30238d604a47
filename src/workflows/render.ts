// `openclaw workflow show RUN`: the run's DAG as text, one line per step in dependency levels,
// each with its status, duration and attempts. Pure: takes the API's RunDetail.
import type { RunDetail, StepView } from './routes.js';

const MARK: Record<string, string> = {
  succeeded: '✓',
  failed: '✗',
  running: '▶',
  waiting: '⏸',
  pending: '…',
  skipped: '○',
  cancelled: '⊘',
  not_started: '·',
};

function secs(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : ms < 3600_000 ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s` : `${(ms / 3600_000).toFixed(1)}h`;
}

/** Dependency depth of each step (0 = no needs), per phase. */
function levels(steps: StepView[]): Map<string, number> {
  const byId = new Map(steps.filter((s) => s.itemIndex === null).map((s) => [s.step, s]));
  const depth = new Map<string, number>();
  const of = (id: string, seen = new Set<string>()): number => {
    if (depth.has(id)) return depth.get(id)!;
    if (seen.has(id)) return 0;
    seen.add(id);
    const s = byId.get(id);
    const d = s && s.needs.length > 0 ? 1 + Math.max(...s.needs.map((n) => (byId.has(n) ? of(n, seen) : -1))) : 0;
    depth.set(id, d);
    return d;
  };
  for (const id of byId.keys()) of(id);
  return depth;
}

export function renderRun(d: RunDetail, now: number): string {
  const r = d.run;
  const out: string[] = [];
  const took = r.finishedAt !== null ? secs(r.finishedAt - r.createdAt) : `${secs(now - r.createdAt)} so far`;
  out.push(`Run ${r.id}  workflow ${r.workflow}  ${r.status}  (${took}, trigger ${String(r.trigger.type)})`);
  if (r.error) out.push(`  error: ${r.error}`);
  for (const phase of ['main', 'on_failure'] as const) {
    const steps = d.steps.filter((s) => s.phase === phase);
    if (steps.length === 0) continue;
    if (phase === 'on_failure') out.push('on_failure:');
    const depth = levels(steps);
    const width = Math.max(...steps.map((s) => s.key.length)) + 2;
    const parents = steps.filter((s) => s.itemIndex === null).sort((a, b) => depth.get(a.step)! - depth.get(b.step)!);
    let level = -1;
    for (const p of parents) {
      const lv = depth.get(p.step)!;
      const head = lv !== level ? `${String(lv + 1).padStart(2)} ` : '   ';
      level = lv;
      out.push(`${head}${line(p, width)}`);
      for (const item of steps.filter((s) => s.step === p.step && s.itemIndex !== null)) out.push(`     └ ${line(item, width - 2)}`);
    }
  }
  return out.join('\n');
}

function line(s: StepView, width: number): string {
  const attempts = s.attempt > 1 || s.maxAttempts > 1 ? `  attempt ${s.attempt}/${s.maxAttempts}` : '';
  const needs = s.itemIndex === null && s.needs.length > 0 ? `  ← ${s.needs.join(', ')}` : '';
  const extra =
    s.status === 'waiting'
      ? `  waiting for approval${s.approvers ? ` by ${s.approvers.join('|')}` : ''}${s.nextAt ? ` (default at ${new Date(s.nextAt).toISOString()})` : ''}`
      : s.status === 'pending' && s.nextAt
        ? `  retry at ${new Date(s.nextAt).toISOString()}`
        : s.decidedBy
          ? `  by ${s.decidedBy}${s.comment ? `: ${s.comment}` : ''}`
          : s.error && s.status !== 'succeeded'
            ? `  ${s.error.replace(/\s+/g, ' ').slice(0, 100)}`
            : '';
  return `${MARK[s.status] ?? '?'} ${s.key.padEnd(width)}${s.status.padEnd(10)} ${secs(s.durationMs).padStart(6)}${attempts}${needs}${extra}`;
}
