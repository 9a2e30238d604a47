// Placement (pure): shares by weight and capacity, and one hand-over per renewal on a rebalance.
import { describe, expect, it } from 'vitest';
import { shares, step, type NodeLoad } from '../../src/cluster/placement.js';
import { reconcileAction } from '../../src/cluster/lifecycle.js';
import { reconcile } from '../../src/daemon/placement.js';
import type { AgentController } from '../../src/daemon/agent-controller.js';

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

describe('reconciling the agents run here with their stored desired state (after a missed announcement)', () => {
  it('decides the action from the desired state and the status here', () => {
    const table = (['running', 'paused', 'stopped'] as const).flatMap((d) => ['running', 'paused', 'stopped', 'initializing', 'crash_loop'].map((s) => `${d}/${s}:${reconcileAction(d, s) ?? '-'}`));
    expect(table).toEqual([
      'running/running:-', 'running/paused:resume', 'running/stopped:start', 'running/initializing:-', 'running/crash_loop:-',
      'paused/running:pause', 'paused/paused:-', 'paused/stopped:-', 'paused/initializing:-', 'paused/crash_loop:-',
      'stopped/running:stop', 'stopped/paused:stop', 'stopped/stopped:-', 'stopped/initializing:stop', 'stopped/crash_loop:stop',
    ]);
  });

  it('applies it to each controller that differs, and leaves the others alone', async () => {
    const calls: string[] = [];
    const ctl = (name: string, status: string) =>
      ({
        status: () => status,
        stop: async () => void calls.push(`${name}.stop`),
        pause: async () => void calls.push(`${name}.pause`),
        resume: async () => void calls.push(`${name}.resume`),
        startExplicit: async () => void calls.push(`${name}.start`),
        restart: async () => void calls.push(`${name}.restart`),
      }) as unknown as AgentController;
    const controllers: Record<string, AgentController> = { a: ctl('a', 'running'), b: ctl('b', 'paused'), c: ctl('c', 'running'), d: ctl('d', 'stopped') };
    const desired: Record<string, 'running' | 'paused' | 'stopped'> = { a: 'stopped', b: 'running', c: 'running', d: 'running' };
    const logs: string[] = [];
    const done = await reconcile(['a', 'b', 'c', 'd', 'gone'], { controller: (n) => controllers[n], desired: async (n) => desired[n] ?? 'running', log: (_l, m) => void logs.push(m) });
    expect(done).toEqual(['a:stop', 'b:resume', 'd:start']);
    expect(calls).toEqual(['a.stop', 'b.resume', 'd.start']);
    expect(logs).toHaveLength(3);
  });
});
