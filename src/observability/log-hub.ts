// Where every agent log line goes: a per-agent ring buffer for `openclaw logs`, bounded followers
// for `logs --follow`, and per-agent JSON-lines files that rotate by size.
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

export interface LogHubOptions {
  /** Directory for per-agent files; null keeps logs in memory only. */
  dir: string | null;
  ringSize?: number; // lines kept per agent in memory (default 2000)
  followerQueue?: number; // lines a slow follower may lag behind before drops (default 1000)
  maxFileBytes?: number; // rotate at this size (default 10 MiB)
  maxFiles?: number; // rotated files kept per agent (default 5)
  fileBacklog?: number; // lines buffered while a file stream is congested (default 10_000)
  /** Mirror lines to this sink too (the foreground daemon's terminal). */
  echo?: (line: LogLine) => void;
  /** Applied to every line before it is kept, written or sent anywhere (secret redaction). */
  redact?: (line: LogLine) => LogLine;
}

interface Follower {
  agent: string | null; // null = every agent
  onLine: (line: LogLine) => void;
  onDrop?: (dropped: number) => void;
  queue: LogLine[];
  dropped: number;
  scheduled: boolean;
}

class RotatingFile {
  private stream: fs.WriteStream | null = null;
  private size = 0;
  private backlog: string[] = [];
  private congested = false;
  dropped = 0;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
    private readonly maxBacklog: number,
  ) {}

  write(text: string): void {
    if (this.congested) {
      if (this.backlog.length >= this.maxBacklog) this.dropped++;
      else this.backlog.push(text);
      return;
    }
    this.open();
    if (this.size + text.length > this.maxBytes && this.size > 0) this.rotate();
    this.size += Buffer.byteLength(text);
    if (!this.stream!.write(text)) {
      this.congested = true;
      this.stream!.once('drain', () => this.flushBacklog());
    }
  }

  private flushBacklog(): void {
    this.congested = false;
    const lines = this.backlog;
    this.backlog = [];
    for (const l of lines) this.write(l);
  }

  private open(): void {
    if (this.stream) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    try {
      this.size = fs.statSync(this.file).size;
    } catch {
      this.size = 0;
    }
    this.stream = fs.createWriteStream(this.file, { flags: 'a' });
    this.stream.on('error', () => {
      // A full disk must not take the daemon down; lines are counted as dropped instead.
      this.dropped++;
    });
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
    this.open();
    this.size = 0;
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.end(resolve));
  }
}

export class LogHub {
  private readonly rings = new Map<string, LogLine[]>();
  private readonly files = new Map<string, RotatingFile>();
  private readonly followers = new Set<Follower>();
  private readonly ringSize: number;
  private readonly followerQueue: number;
  /** Lines dropped anywhere (follower queues, congested files, agent-side flood guards). */
  droppedTotal = 0;

  constructor(private readonly opts: LogHubOptions) {
    this.ringSize = opts.ringSize ?? 2000;
    this.followerQueue = opts.followerQueue ?? 1000;
  }

  write(line: LogLine): void {
    if (this.opts.redact) line = this.opts.redact(line);
    let ring = this.rings.get(line.agent);
    if (!ring) this.rings.set(line.agent, (ring = []));
    ring.push(line);
    if (ring.length > this.ringSize) ring.splice(0, ring.length - this.ringSize);

    if (this.opts.dir) this.file(line.agent).write(JSON.stringify(line) + '\n');
    this.opts.echo?.(line);

    for (const f of this.followers) {
      if (f.agent !== null && f.agent !== line.agent) continue;
      if (f.queue.length >= this.followerQueue) {
        f.dropped++;
        this.droppedTotal++;
        continue;
      }
      f.queue.push(line);
      if (!f.scheduled) {
        f.scheduled = true;
        setImmediate(() => this.drain(f));
      }
    }
  }

  /** Counts lines an agent's own flood guard dropped before they reached the daemon. */
  countDropped(n: number): void {
    this.droppedTotal += n;
  }

  recent(agent: string, opts: { limit?: number; sinceMs?: number; level?: LogLine['level'] } = {}): LogLine[] {
    const ring = this.rings.get(agent) ?? [];
    let lines = ring;
    if (opts.sinceMs != null) lines = lines.filter((l) => l.time >= opts.sinceMs!);
    if (opts.level) lines = lines.filter((l) => levelAtLeast(l.level, opts.level!));
    const limit = opts.limit ?? 100;
    return lines.slice(-limit);
  }

  /** Reads older lines from the agent's log files when the ring buffer does not reach back far enough. */
  fromFiles(agent: string, opts: { limit?: number; sinceMs?: number; level?: LogLine['level'] } = {}): LogLine[] {
    if (!this.opts.dir) return this.recent(agent, opts);
    const base = path.join(this.opts.dir, `${agent}.log`);
    const out: LogLine[] = [];
    for (const f of [`${base}.1`, base]) {
      if (!fs.existsSync(f)) continue;
      for (const text of fs.readFileSync(f, 'utf8').split('\n')) {
        if (!text) continue;
        try {
          const l = JSON.parse(text) as LogLine;
          if (opts.sinceMs != null && l.time < opts.sinceMs) continue;
          if (opts.level && !levelAtLeast(l.level, opts.level)) continue;
          out.push(l);
        } catch {
          // a torn last line after a crash: skip it
        }
      }
    }
    return out.slice(-(opts.limit ?? 100));
  }

  follow(agent: string | null, onLine: (line: LogLine) => void, onDrop?: (dropped: number) => void): () => void {
    const f: Follower = { agent, onLine, onDrop, queue: [], dropped: 0, scheduled: false };
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
      f = new RotatingFile(
        path.join(this.opts.dir!, `${agent}.log`),
        this.opts.maxFileBytes ?? 10 * 1024 * 1024,
        this.opts.maxFiles ?? 5,
        this.opts.fileBacklog ?? 10_000,
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
    this.followers.clear();
    await Promise.all([...this.files.values()].map((f) => f.close()));
    this.files.clear();
  }
}
