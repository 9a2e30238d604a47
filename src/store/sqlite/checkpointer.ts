// WAL checkpoints off the daemon's thread.
//
// SQLite's default is an automatic checkpoint inside the COMMIT that pushes the WAL past 1,000
// pages (~4 MB): that commit copies the WAL into the database file and fsyncs both, on the thread
// that runs everything else (better-sqlite3 is synchronous). Under a steady write load — durable
// stream ingest at 20,000 events/s writes ~24 MB of WAL a second — that is several checkpoints a
// second, each stalling every request in flight: measured with 100-event appends at load 21–27,
// commit p99 36–39 ms with the automatic checkpoint against 15–16 ms without it (scratch run,
// see docs/streams.md "Ingest latency"); the stalls were the ingest ack p99.
//
// So the daemon's connection raises its automatic checkpoint to a safety bound (SAFETY_PAGES), and
// a worker thread with its own connection to the same file checkpoints when the WAL has grown past
// START_BYTES: PASSIVE (copies what no reader needs, never blocks the writer; the fsyncs happen on
// the worker), then, once the WAL is past RESTART_BYTES and PASSIVE copied all of it, a RESTART so
// the log starts over instead of growing while writes never pause (it holds the writer only to wait
// for readers, and for frames committed since the PASSIVE one). Durability is unchanged: a commit is in the WAL before it resolves, as before;
// a checkpoint only moves committed pages into the main file, and any connection may run it.
//
// The worker starts once the WAL first grows past START_BYTES, so a store that writes little (most
// tests, the CLI) never starts a thread. The store looks after each of its write transactions
// (afterCommit: one stat of the WAL while no worker runs): the WAL grows only when it commits, so
// no timer has to poll for it.
//
// Failures are not swallowed: a checkpoint that fails for another reason than a busy database, and
// a worker that dies, are reported through `warn` (the daemon logs them at warning level). A dead
// worker is started again on a later commit (at most every RESTART_WORKER_MS); until then only the
// connection's safety bound checkpoints, so the WAL grows towards ~256 MB.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

const START_BYTES = 4 * 1024 * 1024;
const RESTART_BYTES = 32 * 1024 * 1024;
const POLL_MS = 100;
const BUSY_MS = 100;
const RESTART_WORKER_MS = 10_000;
/** The daemon connection's own automatic checkpoint: only if the worker cannot keep up (~256 MB). */
export const SAFETY_PAGES = 65_536;

// The worker polls on its own: PASSIVE answers at once when there is nothing new to copy. A busy
// database is expected (the next tick tries again); any other failure is posted to the store, once
// per distinct message so a persistent one does not flood the log every 100 ms.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ${BUSY_MS}');
const restartFrames = Math.ceil(${RESTART_BYTES} / db.pragma('page_size', { simple: true }));
let lastError = '';
const timer = setInterval(() => {
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    // RESTART holds the writer while it runs: only once PASSIVE copied everything (nothing left to
    // copy and fsync under that hold), unless the log is twice past the bound.
    if (r && r.log >= restartFrames && (r.checkpointed === r.log || r.log >= 2 * restartFrames)) db.pragma('wal_checkpoint(RESTART)');
    lastError = '';
  } catch (err) {
    if (err && /^SQLITE_(BUSY|LOCKED)/.test(String(err.code))) return; // extended codes too (SQLITE_BUSY_SNAPSHOT, …)
    const message = String(err && err.message || err);
    if (message !== lastError) parentPort.postMessage({ error: message, code: err && err.code });
    lastError = message;
  }
}, ${POLL_MS});
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

export class WalCheckpointer {
  private worker: Worker | null = null;
  private closed = false;
  private starting = false;
  private diedAt = -Infinity;
  /** Failures reported so far (checkpoint errors and worker deaths). */
  errors = 0;

  constructor(
    private readonly file: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Called by the store after each write transaction: starts the worker once the WAL is big enough. */
  afterCommit(): void {
    if (this.worker || this.starting || this.closed) return;
    if (performance.now() - this.diedAt < RESTART_WORKER_MS) return;
    // Never throws into the store's write: the transaction has committed; a stat that fails
    // (EACCES, EIO, ESTALE on a network filesystem) is reported, and retried after a pause.
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(`${this.file}-wal`, { throwIfNoEntry: false });
    } catch (err) {
      this.diedAt = performance.now();
      this.fail(`SQLite WAL size check of ${this.file} failed: ${(err as Error).message}`);
      return;
    }
    if (!st || st.size < START_BYTES) return;
    // Started on the next turn, not inside the commit: a burst of commits in one turn is not slowed
    // by a thread start, and the worker begins with the whole burst to copy.
    this.starting = true;
    setImmediate(() => {
      this.starting = false;
      if (this.closed || this.worker) return;
      try {
        this.start();
      } catch (err) {
        this.diedAt = performance.now();
        this.fail(`SQLite WAL checkpoint worker for ${this.file} could not start: ${(err as Error).message}`);
      }
    });
  }

  private start(): void {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER, { eval: true, workerData: { file: this.file, driver } });
    w.unref();
    w.on('message', (m: { error: string; code?: string }) => this.fail(`SQLite WAL checkpoint of ${this.file} failed: ${m.error}${m.code ? ` (${m.code})` : ''}`));
    w.on('error', (err: Error) => this.fail(`SQLite WAL checkpoint worker for ${this.file} died: ${err.message}`));
    w.on('exit', (code) => {
      if (this.worker !== w) return; // closed by us
      this.worker = null;
      this.diedAt = performance.now();
      if (code !== 0) this.fail(`SQLite WAL checkpoint worker for ${this.file} exited (code ${code}); the WAL is checkpointed only at ${SAFETY_PAGES} pages until it restarts`);
    });
    this.worker = w;
  }

  private fail(message: string): void {
    this.errors++;
    this.warn(message);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    // Referenced again while it closes its connection: an unreferenced worker and timer would let
    // the process end (exit code 13 under a top-level await) before 'exit' arrives.
    w.ref();
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage('close');
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    await w.terminate();
  }
}
