// Where every agent log line goes: a per-agent ring buffer for `openclaw logs`, bounded followers
// for `logs --follow`, and per-agent JSON-lines files (pino's shape) that rotate by size and by age
// and are deleted past the agent's `logging.retention`.
//
// Lesson from pm2 (its daemon grew 106 MB in 35 s behind one stalled `pm2 logs` client): nothing
// here grows without bound. Each follower has a fixed queue and a drop counter; file writers honour
// the stream's backpressure and drop (and count) beyond a fixed backlog.
import fs from 'node:fs';
import path from 'node:path';
import type { LogLine } from '../runtime/protocol.js';

const LEVELS: Record<LogLine['level'], number> = { debug: 10, info: 20, warning: 30, error: 40 };

export function levelAtLeast(level: LogLine['level'], min: LogLine['level']): boolean {
  return LEVELS[level] >= LEVELS[min];
}

/** pino's numeric levels, so pino-pretty and log shippers read the files as they are. */
const PINO: Record<LogLine['level'], number> = { debug: 20, info: 30, warning: 40, error: 50 };
const FROM_PINO: Record<number, LogLine['level']> = { 10: 'debug', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'error' };
const RESERVED = new Set(['level', 'time', 'msg', 'agent', 'instance', 'runId', 'traceId', 'spanId', 'stream', 'fields']);

/**
 * One file line: `{"level":30,"time":…,"agent":…,"instance":…,"msg":…,"runId":…,"traceId":…,…fields}`.
 * Fields sit at the top level as pino puts them; one whose name is taken stays under `fields`.
 */
export function toJsonLine(line: LogLine): string {
  const out: Record<string, unknown> = { level: PINO[line.level], time: line.time, agent: line.agent, instance: line.instance, msg: line.msg };
  if (line.runId) out.runId = line.runId;
  if (line.traceId) out.traceId = line.traceId;
  if (line.spanId) out.spanId = line.spanId;
  if (line.stream) out.stream = line.stream;
  if (line.fields) {
    let clash: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(line.fields)) {
      if (RESERVED.has(k)) (clash ??= {})[k] = v;
      else out[k] = v;
    }
    if (clash) out.fields = clash;
  }
  return JSON.stringify(out);
}

/** Reads a file line back (also the older shape with a string level and nested fields). */
export function fromJsonLine(text: string): LogLine | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null; // a torn last line after a crash
  }
  if (typeof o !== 'object' || o === null || typeof o.time !== 'number') return null;
  const level = typeof o.level === 'number' ? (FROM_PINO[o.level] ?? 'info') : ((o.level as LogLine['level']) ?? 'info');
  const line: LogLine = { time: o.time, level, agent: String(o.agent ?? ''), instance: String(o.instance ?? ''), msg: String(o.msg ?? '') };
  if (typeof o.runId === 'string') line.runId = o.runId;
  if (typeof o.traceId === 'string') line.traceId = o.traceId;
  if (typeof o.spanId === 'string') line.spanId = o.spanId;
  if (o.stream === 'stdout' || o.stream === 'stderr') line.stream = o.stream;
  const fields: Record<string, unknown> = { ...((o.fields as Record<string, unknown>) ?? {}) };
  for (const [k, v] of Object.entries(o)) if (!RESERVED.has(k)) fields[k] = v;
  if (Object.keys(fields).length > 0) line.fields = fields;
  return line;
}

export interface LogHubOptions {
  /** Directory for per-agent files; null keeps logs in memory only. */
  dir: string | null;
  ringSize?: number; // lines kept per agent in memory (default 2000)
  ringBytes?: number; // and at most this many bytes of them (default 2 MiB)
  followerQueue?: number; // lines a slow follower may lag behind before drops (default 1000)
  followerQueueBytes?: number; // and at most this many bytes (default 2 MiB)
  maxFileBytes?: number; // rotate at this size (default 10 MiB)
  maxFiles?: number; // rotated files kept per agent (default: one per day of retention + 1, at least 5)
  fileBacklog?: number; // bytes buffered while a file stream is congested (default 4 MiB)
  /** How long an agent's log lines are kept on disk (its `logging.retention`; default 7 days). */
  retentionMs?: (agent: string) => number | undefined;
  /** Clock for rotation and retention (tests). */
  now?: () => number;
  /** Mirror lines to this sink too (the foreground daemon's terminal). */
  echo?: (line: LogLine) => void;
  /** Applied to every line before it is kept, written or sent anywhere (secret redaction). */
  redact?: (line: LogLine) => LogLine;
}

const DEFAULT_RETENTION_MS = 7 * 86_400_000;
const DAY_MS = 86_400_000;

/** Rough in-memory size of a line (its text and fields), for the byte bounds. */
function lineBytes(l: LogLine): number {
  return 160 + l.msg.length * 2 + (l.fields ? 64 * Object.keys(l.fields).length : 0);
}

interface Follower {
  agent: string | null; // null = every agent
  onLine: (line: LogLine) => void;
  onDrop?: (dropped: number) => void;
  queue: LogLine[];
  queueBytes: number;
  dropped: number;
  scheduled: boolean;
}

/**
 * `<agent>.log` plus rotated `<agent>.log.1` (newest) … `.N`. Rotates when the file would pass
 * maxBytes, or when its first line is older than a day (or the retention, if shorter), so that
 * retention can delete whole files; rotated files older than the retention are deleted.
 */
class RotatingFile {
  private stream: fs.WriteStream | null = null;
  private size = 0;
  /** Time of the first line in the current file (null: empty). */
  private firstAt: number | null = null;
  private backlog: string[] = [];
  private backlogBytes = 0;
  private congested = false;
  private closed = false;
  dropped = 0;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
    private readonly maxBacklog: number,
    private readonly retentionMs: number,
    private readonly now: () => number,
  ) {}

  write(text: string, time: number): void {
    // Not open yet: the file opens in the background (below) and the lines wait in the backlog.
    if (!this.stream && !this.congested) this.openInBackground();
    if (this.congested) {
      if (this.backlogBytes + text.length > this.maxBacklog) this.dropped++;
      else {
        this.backlog.push(text);
        this.backlogBytes += text.length;
      }
      return;
    }
    this.open();
    const bytes = Buffer.byteLength(text);
    const tooOld = this.firstAt !== null && this.now() - this.firstAt >= Math.min(DAY_MS, this.retentionMs);
    if (this.size > 0 && (this.size + bytes > this.maxBytes || tooOld)) this.rotate();
    this.firstAt ??= time;
    this.size += bytes;
    if (!this.stream!.write(text)) {
      this.congested = true;
      this.stream!.once('drain', () => this.flushBacklog());
    }
  }

  private flushBacklog(): void {
    this.congested = false;
    const lines = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    for (const l of lines) this.write(l, this.now());
  }

  /**
   * The first open of the file, off the event loop: with 1,000 agents starting at once, opening
   * their files synchronously (mkdir, stat, open: a file creation each) held the daemon's thread
   * for seconds at boot. Until it is open the file counts as congested: lines go to the backlog
   * (bounded like any backlog) and are written, in order, once it is.
   */
  private openInBackground(): void {
    this.congested = true;
    const dir = path.dirname(this.file);
    const done = (fd: number | null, size: number): void => {
      if (this.closed) {
        if (fd !== null) fs.close(fd, () => undefined);
        return;
      }
      this.size = size;
      this.firstAt = null;
      if (size > 0) {
        try {
          this.firstAt = firstLineTime(this.file) ?? this.now();
        } catch {
          this.firstAt = this.now();
        }
      }
      if (fd === null) {
        this.dropped++;
        fd = fs.openSync('/dev/null', 'a');
      }
      this.attach(fd);
      this.flushBacklog();
    };
    const opened = (err: NodeJS.ErrnoException | null, fd: number) => {
      if (err) return done(null, 0);
      fs.fstat(fd, (e, st) => done(fd, e ? 0 : st.size));
    };
    // The directory is made only when it is missing (one mkdir per file was most of the cost).
    fs.open(this.file, 'a', (err, fd) => {
      if (err?.code !== 'ENOENT') return opened(err, fd);
      fs.mkdir(dir, { recursive: true }, () => fs.open(this.file, 'a', opened));
    });
  }

  private attach(fd: number): void {
    this.stream = fs.createWriteStream(this.file, { fd, flags: 'a' });
    this.stream.on('error', () => {
      // A full disk must not take the daemon down; lines are counted as dropped instead.
      this.dropped++;
    });
  }

  private open(): void {
    if (this.stream) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.size = 0;
    this.firstAt = null;
    try {
      this.size = fs.statSync(this.file).size;
      if (this.size > 0) this.firstAt = firstLineTime(this.file) ?? this.now();
    } catch {
      // no file yet
    }
    // After a rotation, opened synchronously: the next rotation must find the file on disk, and
    // lines still buffered in the old stream then land in the renamed file (the descriptor follows it).
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'a');
    } catch {
      this.dropped++;
      fd = fs.openSync('/dev/null', 'a');
    }
    this.attach(fd);
  }

  private rotate(): void {
    this.stream?.end();
    this.stream = null;
    for (let i = this.maxFiles - 1; i >= 1; i--) {
      const from = `${this.file}.${i}`;
      if (fs.existsSync(from)) fs.renameSync(from, `${this.file}.${i + 1}`);
    }
    if (fs.existsSync(this.file)) fs.renameSync(this.file, `${this.file}.1`);
    const oldest = `${this.file}.${this.maxFiles + 1}`;
    if (fs.existsSync(oldest)) fs.rmSync(oldest);
    this.sweep();
    this.open();
  }

  /** Deletes rotated files whose newest line is past the retention. */
  sweep(): void {
    const cutoff = this.now() - this.retentionMs;
    for (let i = 1; i <= this.maxFiles + 1; i++) {
      const f = `${this.file}.${i}`;
      try {
        if ((lastLineTime(f) ?? fs.statSync(f).mtimeMs) < cutoff) fs.rmSync(f, { force: true });
      } catch {
        // not there
      }
    }
    // A quiet agent's current file whose first line is past the retention: start a new file.
    if (this.stream && !this.congested && this.firstAt !== null && this.firstAt < cutoff) this.rotate();
  }

  close(): Promise<void> {
    this.closed = true;
    const s = this.stream;
    this.stream = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.end(resolve));
  }
}

/** Time of the last complete line of a file (read from its end), or null. */
function lastLineTime(file: string): number | null {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const t = lines[i] ? fromJsonLine(lines[i])?.time : undefined;
      if (t != null) return t;
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

function firstLineTime(file: string): number | null {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const nl = text.indexOf('\n');
    return fromJsonLine(nl >= 0 ? text.slice(0, nl) : text)?.time ?? null;
  } finally {
    fs.closeSync(fd);
  }
}

export class LogHub {
  private readonly rings = new Map<string, LogLine[]>();
  private readonly files = new Map<string, RotatingFile>();
  private readonly followers = new Set<Follower>();
  private readonly ringSize: number;
  private readonly ringBytes: number;
  private readonly ringUsed = new Map<string, number>();
  private readonly followerQueue: number;
  private readonly followerQueueBytes: number;
  /** Lines dropped by follower queues and agent-side flood guards (file drops: fileDrops()). */
  droppedTotal = 0;
  /** Of droppedTotal: lines a follower's full queue refused. */
  followerDrops = 0;
  /** Of droppedTotal: lines an agent's flood guard dropped before they reached the daemon. */
  agentDrops = 0;

  private readonly sweepTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: LogHubOptions) {
    this.ringSize = opts.ringSize ?? 2000;
    this.ringBytes = opts.ringBytes ?? 2 * 1024 * 1024;
    this.followerQueue = opts.followerQueue ?? 1000;
    this.followerQueueBytes = opts.followerQueueBytes ?? 2 * 1024 * 1024;
    this.now = opts.now ?? Date.now;
    if (opts.dir) {
      // Retention is enforced at each rotation and, for agents that went quiet, once an hour.
      this.sweepTimer = setInterval(() => this.sweep(), 3_600_000);
      this.sweepTimer.unref();
    }
  }

  /** Applies the retention to every agent's files now. */
  sweep(): void {
    for (const f of this.files.values()) {
      try {
        f.sweep();
      } catch {
        // a file removed under us: the next write reopens
      }
    }
  }

  write(line: LogLine): void {
    if (this.opts.redact) line = this.opts.redact(line);
    let ring = this.rings.get(line.agent);
    if (!ring) this.rings.set(line.agent, (ring = []));
    const bytes = lineBytes(line);
    ring.push(line);
    let used = (this.ringUsed.get(line.agent) ?? 0) + bytes;
    let cut = 0;
    while (ring.length - cut > 1 && (ring.length - cut > this.ringSize || used > this.ringBytes)) used -= lineBytes(ring[cut++]);
    if (cut > 0) ring.splice(0, cut);
    this.ringUsed.set(line.agent, used);

    if (this.opts.dir) this.file(line.agent).write(toJsonLine(line) + '\n', line.time);
    this.opts.echo?.(line);

    for (const f of this.followers) {
      if (f.agent !== null && f.agent !== line.agent) continue;
      if (f.queue.length >= this.followerQueue || f.queueBytes + bytes > this.followerQueueBytes) {
        f.dropped++;
        this.droppedTotal++;
        this.followerDrops++;
        continue;
      }
      f.queue.push(line);
      f.queueBytes += bytes;
      if (!f.scheduled) {
        f.scheduled = true;
        setImmediate(() => this.drain(f));
      }
    }
  }

  private readonly followerBuffers = new Set<() => number>();

  /** A follower socket's unsent bytes, counted in bufferedBytes() until the returned function is called. */
  trackFollowerBuffer(bytes: () => number): () => void {
    this.followerBuffers.add(bytes);
    return () => void this.followerBuffers.delete(bytes);
  }

  /** Bytes held for followers right now: their queues here and their sockets' unsent data. */
  bufferedBytes(): number {
    let n = 0;
    for (const f of this.followers) n += f.queueBytes;
    for (const b of this.followerBuffers) n += b();
    return n;
  }

  /** Counts lines a follower's socket refused (the API's FollowSocket, over its buffer bound). */
  countFollowerDropped(n: number): void {
    this.droppedTotal += n;
    this.followerDrops += n;
  }

  /** Counts lines an agent's own flood guard dropped before they reached the daemon. */
  countDropped(n: number): void {
    this.droppedTotal += n;
    this.agentDrops += n;
  }

  recent(agent: string, opts: { limit?: number; sinceMs?: number; level?: LogLine['level'] } = {}): LogLine[] {
    const ring = this.rings.get(agent) ?? [];
    let lines = ring;
    if (opts.sinceMs != null) lines = lines.filter((l) => l.time >= opts.sinceMs!);
    if (opts.level) lines = lines.filter((l) => levelAtLeast(l.level, opts.level!));
    const limit = opts.limit ?? 100;
    return lines.slice(-limit);
  }

  /** Reads older lines from the agent's log files (newest file first, only as many files as needed). */
  fromFiles(agent: string, opts: { limit?: number; sinceMs?: number; level?: LogLine['level'] } = {}): LogLine[] {
    if (!this.opts.dir) return this.recent(agent, opts);
    const base = path.join(this.opts.dir, `${agent}.log`);
    const limit = opts.limit ?? 100;
    const chunks: LogLine[][] = [];
    let count = 0;
    for (let i = 0; count < limit; i++) {
      const f = i === 0 ? base : `${base}.${i}`;
      if (!fs.existsSync(f)) {
        if (i === 0) continue;
        break;
      }
      const lines: LogLine[] = [];
      let olderThanSince = false;
      for (const text of fs.readFileSync(f, 'utf8').split('\n')) {
        if (!text) continue;
        const l = fromJsonLine(text);
        if (!l) continue;
        if (opts.sinceMs != null && l.time < opts.sinceMs) {
          olderThanSince = true;
          continue;
        }
        if (opts.level && !levelAtLeast(l.level, opts.level)) continue;
        lines.push(l);
      }
      chunks.unshift(lines);
      count += lines.length;
      if (olderThanSince) break; // older files hold only older lines
    }
    return chunks.flat().slice(-limit);
  }

  follow(agent: string | null, onLine: (line: LogLine) => void, onDrop?: (dropped: number) => void): () => void {
    const f: Follower = { agent, onLine, onDrop, queue: [], queueBytes: 0, dropped: 0, scheduled: false };
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  private drain(f: Follower): void {
    f.scheduled = false;
    if (!this.followers.has(f)) return;
    if (f.dropped > 0) {
      const d = f.dropped;
      f.dropped = 0;
      f.onDrop?.(d);
    }
    const lines = f.queue;
    f.queue = [];
    f.queueBytes = 0;
    for (const l of lines) {
      try {
        f.onLine(l);
      } catch {
        this.followers.delete(f);
        return;
      }
    }
  }

  private file(agent: string): RotatingFile {
    let f = this.files.get(agent);
    if (!f) {
      const retention = this.opts.retentionMs?.(agent) ?? DEFAULT_RETENTION_MS;
      f = new RotatingFile(
        path.join(this.opts.dir!, `${agent}.log`),
        this.opts.maxFileBytes ?? 10 * 1024 * 1024,
        // Enough files for one a day over the retention; a chatty agent hits the size cap first.
        this.opts.maxFiles ?? Math.max(5, Math.ceil(retention / DAY_MS) + 1),
        this.opts.fileBacklog ?? 4 * 1024 * 1024,
        retention,
        this.now,
      );
      this.files.set(agent, f);
    }
    return f;
  }

  fileDrops(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.dropped;
    return n;
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.followers.clear();
    await Promise.all([...this.files.values()].map((f) => f.close()));
    this.files.clear();
  }
}
