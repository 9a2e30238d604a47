// Runs one windowed query: reads its stream after the query's cursor, feeds the window engine, and
// commits — in ONE store transaction (Store.commitRun) — the result events (the outbox, fanned out
// to `@on('window:NAME')` subscribers), the cursor move, the window state and the stored results.
// A kill at any point leaves either all of a batch or none of it; the next start reloads the state
// committed with the cursor and re-reads from there, so results are neither lost nor doubled.
//
// Batching: a batch is whatever is after the cursor, up to `batchSize` events, committed as soon as
// it is read; a wake-up after each append (and a poll every `intervalMs`, 100 ms by default) bounds
// the time from an append to its commit here. Result event ids are deterministic
// (window, key, start, rev), so even a replayed batch could not publish a result twice.
import { createHash } from 'node:crypto';
import type { Clock } from '../scheduler/types.js';
import type { NewEvent, Store } from '../store/types.js';
import type { StreamStore, PreparedEvent } from './store.js';
import { WindowEngine, type QuerySpec, type WindowResult, type FlushOutput } from './windows.js';

export interface ProcessorHooks {
  committed(q: string, r: { events: number; results: WindowResult[]; late: number; lastEventTime: number | null }): void;
  error(q: string, err: Error): void;
}

export interface ProcessorOptions {
  batchSize?: number;
  intervalMs?: number;
}

export const resultEventName = (query: string) => `window:${query}`;

export function resultEventId(r: WindowResult): string {
  const id = `w:${r.window}:${r.start}:${r.rev}:${r.key}`;
  return id.length <= 200 ? id : `w:${r.window}:${r.start}:${r.rev}:#${createHash('sha256').update(r.key).digest('hex').slice(0, 32)}`;
}

export class QueryProcessor {
  readonly engine: WindowEngine;
  private cursor = 0;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  /** Events read but not committed, and the head seen (the lag metric). */
  lastCommitAt = 0;

  constructor(
    readonly spec: QuerySpec,
    private readonly streams: StreamStore,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly hooks: ProcessorHooks,
    opts: ProcessorOptions = {},
  ) {
    this.engine = new WindowEngine(spec);
    this.batchSize = opts.batchSize ?? 5000;
    this.intervalMs = opts.intervalMs ?? 100;
  }

  get position(): number {
    return this.cursor;
  }

  async start(): Promise<void> {
    await this.streams.ensureCursor(this.spec.name);
    await this.reload();
    this.loop = this.run();
  }

  private async reload(): Promise<void> {
    const s = await this.streams.loadWindowState(this.spec.name);
    this.cursor = s.cursor;
    this.engine.load(s.parts, s.wins);
  }

  private woken = false;

  /** New events were appended: run a batch now rather than at the next poll. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    if (w) w();
    else this.woken = true;
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const cancel = this.clock.setTimer(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        cancel();
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const did = await this.step();
        failures = 0;
        if (!did) await this.sleep(this.intervalMs);
      } catch (err) {
        failures++;
        this.hooks.error(this.spec.name, err as Error);
        // Whatever the batch did in memory is discarded: reload what is committed, then go on.
        await this.reload().catch(() => undefined);
        await this.sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** One batch: read, aggregate, commit. False when there was nothing to do. */
  async step(): Promise<boolean> {
    const events = await this.streams.readAfter(this.spec.stream, this.cursor, this.batchSize);
    const now = this.clock.now();
    for (const e of events) this.engine.add({ seq: e.seq, time: e.time, key: e.key, payload: e.payload }, now);
    const out = this.engine.flush(now);
    if (events.length === 0 && out.results.length === 0 && out.parts.length === 0 && out.upserts.length === 0 && out.deletes.length === 0) return false;
    const to = events.length > 0 ? events[events.length - 1]!.seq : this.cursor;
    await this.commit(out, to, events.length);
    return events.length > 0;
  }

  private async commit(out: FlushOutput, toSeq: number, n: number): Promise<void> {
    const createdAt = this.clock.now();
    const emits: NewEvent[] = out.results.map((r) => ({ id: resultEventId(r), name: resultEventName(this.spec.name), payload: r, source: `stream:${this.spec.stream}`, createdAt }));
    const late: PreparedEvent[] = out.late.map((e) => ({ time: e.time, key: e.key, id: null, payload: JSON.stringify(e.payload) }));
    await this.store.commitRun({
      writes: [],
      reads: [],
      emits,
      reason: `window ${this.spec.name}`,
      effects: [this.streams.commitBatchEffect({ query: this.spec.name, stream: this.spec.stream, fromSeq: this.cursor, toSeq, out, late })],
    });
    this.cursor = toSeq;
    this.lastCommitAt = createdAt;
    let lastEventTime: number | null = null;
    for (const p of out.parts) if (Number.isFinite(p.maxTime) && (lastEventTime === null || p.maxTime > lastEventTime)) lastEventTime = p.maxTime;
    this.hooks.committed(this.spec.name, { events: n, results: out.results, late: out.late.length, lastEventTime });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }
}
