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
// tests, the CLI) never starts a thread.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const START_BYTES = 4 * 1024 * 1024;
const RESTART_BYTES = 32 * 1024 * 1024;
const POLL_MS = 100;
const BUSY_MS = 100;
/** The daemon connection's own automatic checkpoint: only if the worker cannot keep up (~256 MB). */
export const SAFETY_PAGES = 65_536;

// The worker polls on its own: PASSIVE answers at once when there is nothing new to copy.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ${BUSY_MS}');
const restartFrames = Math.ceil(${RESTART_BYTES} / db.pragma('page_size', { simple: true }));
const timer = setInterval(() => {
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    // RESTART holds the writer while it runs: only once PASSIVE copied everything (nothing left to
    // copy and fsync under that hold), unless the log is twice past the bound.
    if (r && r.log >= restartFrames && (r.checkpointed === r.log || r.log >= 2 * restartFrames)) db.pragma('wal_checkpoint(RESTART)');
  } catch (err) {
    // SQLITE_BUSY and the like: the next tick tries again; the safety bound covers a stuck worker.
  }
}, ${POLL_MS});
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

export class WalCheckpointer {
  private worker: Worker | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly file: string) {
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** Starts the worker once the WAL has first grown past START_BYTES; from then on it polls itself. */
  private poll(): void {
    let size = 0;
    try {
      size = fs.statSync(`${this.file}-wal`).size;
    } catch {
      return;
    }
    if (size < START_BYTES) return;
    clearInterval(this.timer);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER, { eval: true, workerData: { file: this.file, driver } });
    w.unref();
    // A dead worker (the file went away) leaves the connection's automatic checkpoint at SAFETY_PAGES.
    w.on('error', () => undefined);
    this.worker = w;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
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
