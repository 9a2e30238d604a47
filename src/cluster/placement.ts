// Placement (pure): how many agent instances each live node should hold. Shares follow the nodes'
// weights (largest remainder, ties by node id, so every node computes the same answer), capped by
// each node's capacity; what a capped node cannot take goes to the others.
export interface NodeLoad {
  nodeId: string;
  weight: number;
  /** At most this many instances (null: no limit). */
  capacity: number | null;
  /** Instances it holds now (unexpired leases). */
  held: number;
}

/** Target number of instances per node; the targets sum to min(total, Σ capacities). */
export function shares(nodes: NodeLoad[], total: number): Map<string, number> {
  const out = new Map<string, number>(nodes.map((n) => [n.nodeId, 0]));
  let open = [...nodes].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  let left = total;
  while (left > 0 && open.length > 0) {
    const sum = open.reduce((s, n) => s + n.weight, 0);
    const exact = open.map((n) => ({ n, x: (left * n.weight) / sum }));
    const given = exact.map((e) => ({ ...e, k: Math.floor(e.x) }));
    let rest = left - given.reduce((s, g) => s + g.k, 0);
    for (const g of [...given].sort((a, b) => b.x - b.k - (a.x - a.k))) {
      if (rest === 0) break;
      g.k++;
      rest--;
    }
    let overflow = 0;
    const next: NodeLoad[] = [];
    for (const g of given) {
      const room = g.n.capacity === null ? Infinity : g.n.capacity - out.get(g.n.nodeId)!;
      const k = Math.min(g.k, room);
      out.set(g.n.nodeId, out.get(g.n.nodeId)! + k);
      overflow += g.k - k;
      if (k === g.k && room > k) next.push(g.n);
    }
    left = overflow;
    open = next;
  }
  return out;
}

export interface Step {
  /** Free or expired leases to take now. */
  acquire: number;
  /** Leases to hand over now (at most one per renewal: no thundering herd). */
  release: number;
}

/**
 * What this node does in one renewal: take up to its share; hand ONE lease over when it holds
 * more than its share and some live node holds less than its own (a node joined), so a rebalance
 * moves instances one at a time per node and renewal period.
 */
export function step(me: string, nodes: NodeLoad[], total: number): Step {
  const target = shares(nodes, total);
  const mine = nodes.find((n) => n.nodeId === me);
  if (!mine) return { acquire: 0, release: 0 };
  const want = target.get(me) ?? 0;
  if (mine.held < want) return { acquire: want - mine.held, release: 0 };
  const starved = nodes.some((n) => n.nodeId !== me && n.held < (target.get(n.nodeId) ?? 0));
  return { acquire: 0, release: mine.held > want && starved ? 1 : 0 };
}
