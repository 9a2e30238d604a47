// Aggregations of a window: count, sum, min, max, avg, distinct and a user reducer, as one
// accumulator array per window (a slot per output). Accumulators merge (session windows join) and
// serialise to JSON (the window state committed with each batch).
//
// `distinct` is exact, bounded to DISTINCT_BOUND values per window; past the bound it stops adding
// and reports `{ value, capped: true }` (a lower bound). `approx_distinct` is a HyperLogLog
// (hll.ts): at most 4 KB per window whatever the count, 1.6 % standard error, merged on session
// joins; its registers are the window state (base64), committed with each batch like the others.
import vm from 'node:vm';
import { OpenClawError } from '../util/errors.js';
import type { AggSpec } from './config.js';
import { HyperLogLog } from './hll.js';

export const DISTINCT_BOUND = 100_000;

export interface ReducerSpec {
  init?: unknown;
  step: string;
  merge?: string;
}

export type Acc = unknown[];

interface DistinctSlot {
  set: Set<string>;
  capped: boolean;
}

/** A value at a dotted path (already split), or undefined. */
export function pathGet(obj: unknown, path: readonly string[]): unknown {
  let v = obj;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

const num = (v: unknown): number | null => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
};

const same = (a: unknown, b: unknown): boolean => a === b || (typeof a !== typeof b ? String(a) === String(b) : JSON.stringify(a) === JSON.stringify(b));

type Fn = (...args: unknown[]) => unknown;

/** Compiles a reducer source in a fresh context without Node APIs (require, process, fs). */
function compile(src: string, what: string): Fn {
  let fn: unknown;
  try {
    fn = vm.runInNewContext(`(${src})`, Object.create(null), { timeout: 1000, filename: what });
  } catch (err) {
    throw new OpenClawError('stream_reducer_invalid', `${what}: ${(err as Error).message}; give the source of a function, e.g. (acc, event) => acc + event.bytes`);
  }
  if (typeof fn !== 'function') throw new OpenClawError('stream_reducer_invalid', `${what} is not a function; give the source of a function, e.g. (acc, event) => acc + event.bytes`);
  return fn as Fn;
}

export class Aggregator {
  readonly names: string[];
  private readonly specs: AggSpec[];
  private readonly step: Fn | null;
  private readonly mergeFn: Fn | null;
  private readonly initJson: string;

  constructor(aggs: Record<string, AggSpec>, reducer?: ReducerSpec, where = 'window') {
    this.names = Object.keys(aggs);
    this.specs = Object.values(aggs);
    this.step = reducer ? compile(reducer.step, `${where}.reduce.step`) : null;
    this.mergeFn = reducer?.merge ? compile(reducer.merge, `${where}.reduce.merge`) : null;
    this.initJson = JSON.stringify(reducer?.init ?? null);
  }

  get canMerge(): boolean {
    return this.step === null || this.mergeFn !== null;
  }

  init(): Acc {
    const acc: Acc = this.specs.map((s) => {
      switch (s.op) {
        case 'count':
        case 'sum':
          return 0;
        case 'min':
        case 'max':
          return null;
        case 'avg':
          return [0, 0];
        case 'distinct':
          return { set: new Set<string>(), capped: false } satisfies DistinctSlot;
        case 'approx_distinct':
          return new HyperLogLog();
      }
    });
    if (this.step) acc.push(JSON.parse(this.initJson));
    return acc;
  }

  add(acc: Acc, event: unknown): void {
    const specs = this.specs;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      if (s.where.length > 0 && !s.where.every(([p, v]) => same(pathGet(event, p), v))) continue;
      if (s.op === 'count') {
        if (s.field === null || pathGet(event, s.field) !== undefined) acc[i] = (acc[i] as number) + 1;
        continue;
      }
      const raw = pathGet(event, s.field!);
      if (s.op === 'distinct') {
        if (raw === undefined) continue;
        const d = acc[i] as DistinctSlot;
        const k = typeof raw === 'string' ? raw : JSON.stringify(raw);
        if (d.set.size < DISTINCT_BOUND || d.set.has(k)) d.set.add(k);
        else d.capped = true;
        continue;
      }
      if (s.op === 'approx_distinct') {
        if (raw !== undefined) (acc[i] as HyperLogLog).add(typeof raw === 'string' ? raw : JSON.stringify(raw));
        continue;
      }
      const n = num(raw);
      if (n === null) continue;
      if (s.op === 'sum') acc[i] = (acc[i] as number) + n;
      else if (s.op === 'min') acc[i] = acc[i] === null ? n : Math.min(acc[i] as number, n);
      else if (s.op === 'max') acc[i] = acc[i] === null ? n : Math.max(acc[i] as number, n);
      else {
        const a = acc[i] as [number, number];
        a[0] += n;
        a[1] += 1;
      }
    }
    if (this.step) {
      const j = specs.length;
      try {
        acc[j] = this.step(acc[j], event);
      } catch (err) {
        throw new OpenClawError('stream_reducer_failed', `the window's reduce.step threw: ${(err as Error).message}`);
      }
    }
  }

  /** a ⊕ b into a new accumulator (session merge). */
  merge(a: Acc, b: Acc): Acc {
    const out = this.specs.map((s, i) => {
      const x = a[i];
      const y = b[i];
      switch (s.op) {
        case 'count':
        case 'sum':
          return (x as number) + (y as number);
        case 'min':
          return x === null ? y : y === null ? x : Math.min(x as number, y as number);
        case 'max':
          return x === null ? y : y === null ? x : Math.max(x as number, y as number);
        case 'avg':
          return [(x as number[])[0]! + (y as number[])[0]!, (x as number[])[1]! + (y as number[])[1]!];
        case 'distinct': {
          const dx = x as DistinctSlot;
          const dy = y as DistinctSlot;
          const set = new Set(dx.set);
          let capped = dx.capped || dy.capped;
          for (const k of dy.set) {
            if (set.size < DISTINCT_BOUND || set.has(k)) set.add(k);
            else capped = true;
          }
          return { set, capped } satisfies DistinctSlot;
        }
        case 'approx_distinct':
          return HyperLogLog.merge(x as HyperLogLog, y as HyperLogLog);
      }
    });
    if (this.step) out.push(this.mergeFn!(a[this.specs.length], b[this.specs.length]));
    return out;
  }

  result(acc: Acc): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.specs.forEach((s, i) => {
      const v = acc[i];
      if (s.op === 'avg') {
        const [sum, n] = v as [number, number];
        out[this.names[i]!] = n === 0 ? null : sum / n;
      } else if (s.op === 'distinct') {
        const d = v as DistinctSlot;
        out[this.names[i]!] = d.capped ? { value: d.set.size, capped: true } : d.set.size;
      } else if (s.op === 'approx_distinct') out[this.names[i]!] = (v as HyperLogLog).count();
      else out[this.names[i]!] = v;
    });
    if (this.step) out.value = acc[this.specs.length];
    return out;
  }

  toJSON(acc: Acc): unknown[] {
    return acc.map((v, i) => {
      const s = this.specs[i];
      if (s?.op === 'distinct') {
        const d = v as DistinctSlot;
        return { v: [...d.set], c: d.capped };
      }
      if (s?.op === 'approx_distinct') return (v as HyperLogLog).serialize();
      return v;
    });
  }

  fromJSON(json: unknown[]): Acc {
    return json.map((v, i) => {
      const s = this.specs[i];
      if (s?.op === 'distinct') {
        const d = v as { v: string[]; c: boolean };
        return { set: new Set(d.v), capped: d.c } satisfies DistinctSlot;
      }
      // A state saved before this aggregate was added at this position (the query changed): start empty.
      if (s?.op === 'approx_distinct') return typeof v === 'string' ? HyperLogLog.parse(v) : new HyperLogLog();
      return v;
    });
  }
}
