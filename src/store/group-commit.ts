// Group commit, shared by both dialects: the run commits requested while the store is busy (or in
// one turn of the event loop) go to the database as ONE transaction. Each commit keeps its own
// atomicity — the dialect's `commitBatch` settles every item on its own (a savepoint, or a check
// before the multi-row statements), so a run that conflicts or throws fails alone and its
// batch-mates commit. A promise resolves only once the shared transaction has committed.
//
// Why: a durable commit costs one WAL write (SQLite) or one fsync plus a round trip per statement
// (PostgreSQL); at thousands of runs per second that per-commit cost, not the statements, is the
// ceiling (profile of bench/events before this: ~45 % of the daemon's time in COMMIT on PostgreSQL).
//
// At most `maxInFlight` batches are in flight per store: commits that arrive meanwhile form the
// next batch. SQLite: 1 (one writer at a time is what it allows). PostgreSQL: a few, one pool
// connection each; each batch locks all its namespaces up front in one sorted statement, so two
// batches never take namespace locks in opposite orders.
//
// Batch steps (TxEffect.after): work that belongs to the batch rather than to one run — a job
// queue claiming the next jobs for the slots its completions freed — runs once per batch after
// the runs, in the same transaction; its answer is handed over after the commit (`stepsOf`).
import type { BatchStep } from './extension.js';
import type { CommitResult, CommitSettled, RunCommit } from './types.js';

/** Answers of a batch's steps, filled by the dialect's commitBatch. */
export type StepAnswers = Map<BatchStep, unknown>;

/** Every batch step the commits carry (distinct), each with how many of its runs committed. */
export function stepsOf(commits: RunCommit[], settled?: CommitSettled[]): Map<BatchStep, number> {
  const out = new Map<BatchStep, number>();
  commits.forEach((c, i) => {
    if (!c.effects) return;
    for (const e of c.effects) {
      if (!e.after) continue;
      out.set(e.after, (out.get(e.after) ?? 0) + (settled === undefined || settled[i]?.ok ? 1 : 0));
    }
  });
  return out;
}

/** Largest batch one transaction takes (bounds the time a batch holds the write lock). */
export const MAX_GROUP_COMMIT = 512;

export class GroupCommit {
  private queue: Array<{ c: RunCommit; resolve: (s: CommitSettled) => void }> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /**
     * Commits the batch in one transaction; settles every item (a throw fails the whole batch).
     * Runs the batch steps of the runs that committed (`stepsOf`) and puts their answers in `answers`.
     */
    private readonly commitBatch: (commits: RunCommit[], answers: StepAnswers) => Promise<CommitSettled[]> | CommitSettled[],
    private readonly maxInFlight = 1,
  ) {}

  async commitRun(c: RunCommit): Promise<CommitResult> {
    const [s] = await this.commitRuns([c]);
    if (!s!.ok) throw s!.error;
    return s!.result;
  }

  /** Queues the commits (kept together, in order) and resolves with each one's outcome. */
  commitRuns(commits: RunCommit[]): Promise<CommitSettled[]> {
    if (commits.length === 0) return Promise.resolve([]);
    const out = commits.map((c) => new Promise<CommitSettled>((resolve) => this.queue.push({ c, resolve })));
    this.schedule();
    return Promise.all(out);
  }

  private schedule(): void {
    if (this.inFlight >= this.maxInFlight || this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: the commits of every run that finished in this turn (results
    // of one host message) join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.inFlight++;
    const batch = this.queue.splice(0, MAX_GROUP_COMMIT);
    let settled: CommitSettled[];
    const commits = batch.map((b) => b.c);
    const answers: StepAnswers = new Map();
    let committed = true;
    try {
      settled = await this.commitBatch(commits, answers);
    } catch (error) {
      // The shared transaction itself failed (I/O error, lost connection): nothing committed.
      settled = batch.map(() => ({ ok: false, error }));
      committed = false;
    }
    this.inFlight--;
    // Steps first: what they claimed starts in this turn, before the runs' callers resume.
    for (const step of stepsOf(commits).keys()) {
      try {
        step.done(answers.get(step), committed);
      } catch {
        // a step's consumer failing must not lose the batch's results
      }
    }
    batch.forEach((b, i) => b.resolve(settled[i] ?? { ok: false, error: new Error('group commit lost an item') }));
    if (this.queue.length > 0) this.schedule();
  }
}
