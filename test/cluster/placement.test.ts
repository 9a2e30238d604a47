// Placement (pure): shares by weight and capacity, and one hand-over per renewal on a rebalance.
import { describe, expect, it } from 'vitest';
import { shares, step, type NodeLoad } from '../../src/cluster/placement.js';

const node = (nodeId: string, held: number, weight = 1, capacity: number | null = null): NodeLoad => ({ nodeId, weight, capacity, held });

describe('cluster placement', () => {
  it('splits the instances by weight, every node computing the same whole numbers', () => {
    expect([...shares([node('a', 0), node('b', 0), node('c', 0)], 6).values()]).toEqual([2, 2, 2]);
    expect(Object.fromEntries(shares([node('a', 0), node('b', 0), node('c', 0)], 4))).toEqual({ a: 2, b: 1, c: 1 });
    expect(Object.fromEntries(shares([node('b', 0, 1), node('a', 0, 3)], 8))).toEqual({ a: 6, b: 2 });
    const s = shares([node('a', 0), node('b', 0), node('c', 0)], 7);
    expect([...s.values()].reduce((x, y) => x + y, 0)).toBe(7);
  });

  it('caps a node at its capacity and gives the rest to the others', () => {
    expect(Object.fromEntries(shares([node('a', 0, 1, 1), node('b', 0), node('c', 0)], 9))).toEqual({ a: 1, b: 4, c: 4 });
    // Not enough room anywhere: the targets stop at the capacities.
    expect(Object.fromEntries(shares([node('a', 0, 1, 1), node('b', 0, 1, 2)], 9))).toEqual({ a: 1, b: 2 });
  });

  it('takes up to its share, and hands over one at a time only when another node is short', () => {
    // A fresh fleet: each takes its share.
    expect(step('a', [node('a', 0), node('b', 0), node('c', 0)], 6)).toEqual({ acquire: 2, release: 0 });
    // A node joined: the others hold 3 each; each hands over ONE per renewal (no thundering herd).
    expect(step('a', [node('a', 3), node('b', 3), node('c', 0)], 6)).toEqual({ acquire: 0, release: 1 });
    // The newcomer takes what is free; nobody gives more than its excess.
    expect(step('c', [node('a', 2), node('b', 3), node('c', 0)], 6)).toEqual({ acquire: 2, release: 0 });
    expect(step('a', [node('a', 2), node('b', 3), node('c', 1)], 6)).toEqual({ acquire: 0, release: 0 });
    // Over its share but nobody is short (rounding): keep it.
    expect(step('a', [node('a', 3), node('b', 3)], 6)).toEqual({ acquire: 0, release: 0 });
  });
});
