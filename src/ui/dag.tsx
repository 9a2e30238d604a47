// A workflow run's DAG as SVG: steps placed in layers by their longest path from a root, edges from
// each `needs`. Layout is O(steps + edges), so 2,000 steps draw in well under a second; above
// MAX_NODES only the first layers are drawn and the rest counted (Prefect #8934: 5k tasks crashed
// the tab; Dagster lays out subsets past a pre-flight check).
export interface DagStep {
  key: string;
  step: string;
  needs: string[];
  status: string;
  phase?: string;
}

export const MAX_NODES = 2000;
const W = 170;
const H = 46;

export function layout(steps: DagStep[]): { pos: Map<string, { x: number; y: number; layer: number }>; layers: number } {
  const byStep = new Map<string, DagStep>();
  for (const s of steps) if (!byStep.has(s.step)) byStep.set(s.step, s);
  const layerOf = new Map<string, number>();
  const visiting = new Set<string>();
  const layer = (id: string): number => {
    const known = layerOf.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0; // a cycle cannot come from a valid definition; do not recurse forever
    visiting.add(id);
    const s = byStep.get(id);
    const l = s && s.needs.length ? 1 + Math.max(...s.needs.map(layer)) : 0;
    visiting.delete(id);
    layerOf.set(id, l);
    return l;
  };
  const rows = new Map<number, number>();
  const pos = new Map<string, { x: number; y: number; layer: number }>();
  let layers = 0;
  for (const s of steps) {
    const l = layer(s.step);
    const row = rows.get(l) ?? 0;
    rows.set(l, row + 1);
    pos.set(s.key, { x: 10 + l * W, y: 10 + row * H, layer: l });
    layers = Math.max(layers, l + 1);
  }
  return { pos, layers };
}

export function Dag({ steps, onPick }: { steps: DagStep[]; onPick?: (key: string) => void }) {
  const shown = steps.slice(0, MAX_NODES);
  const { pos } = layout(shown);
  let width = 0;
  let height = 0;
  for (const p of pos.values()) {
    width = Math.max(width, p.x + W);
    height = Math.max(height, p.y + H);
  }
  const firstKey = new Map<string, string>();
  for (const s of shown) if (!firstKey.has(s.step)) firstKey.set(s.step, s.key);
  let edges = '';
  for (const s of shown) {
    const to = pos.get(s.key)!;
    for (const n of s.needs) {
      const from = pos.get(firstKey.get(n) ?? '');
      if (from) edges += `M${from.x + W - 20} ${from.y + 16}L${to.x} ${to.y + 16}`;
    }
  }
  return (
    <figure class="dag">
      <div class="dag-scroll" tabIndex={0} role="region" aria-label="Workflow graph">
        <svg width={width} height={height} role="img" aria-label={`Workflow graph of ${steps.length} steps`} data-testid="dag">
          {/* Every edge in ONE path: thousands of <line> elements cost more to create than to draw. */}
          <path class="edge" d={edges} />
          {shown.map((s) => {
            const p = pos.get(s.key)!;
            return (
              <g key={s.key} transform={`translate(${p.x},${p.y})`} class={`node node-${s.status}`} data-step={s.key} data-status={s.status} onClick={() => onPick?.(s.key)}>
                <rect width={W - 20} height={32} rx={6} />
                <text x={8} y={20}>
                  {s.key.length > 18 ? `${s.key.slice(0, 17)}…` : s.key} · {s.status}
                </text>
              </g>
            );
          })}
        </svg>
      </div>
      {steps.length > MAX_NODES && <figcaption>Showing the first {MAX_NODES} of {steps.length} steps; the table below lists every step.</figcaption>}
    </figure>
  );
}
