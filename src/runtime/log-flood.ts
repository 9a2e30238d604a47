// Flood guards for agent output. A misbehaving agent that logs in a tight loop must not take the
// host, the IPC channel or the daemon's log pipeline down with it: lines over the per-second budget
// are dropped at the source and only their count travels on.

export const DEFAULT_MAX_LOG_LINES_PER_SECOND = 1000;
/** Longer lines are cut here (and marked), so one huge line cannot fill memory. */
export const MAX_LINE_CHARS = 16 * 1024;

/** Fixed one-second windows: cheap, and exact enough for a guard. */
export class LogRateLimiter {
  private windowStart = 0;
  private inWindow = 0;
  private droppedSinceReport = 0;

  constructor(private readonly perSecond: number) {}

  /** True if the line may pass; otherwise it is counted as dropped. */
  admit(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      return true;
    }
    this.droppedSinceReport++;
    return false;
  }

  /** Drops counted since the last call. */
  takeDropped(): number {
    const n = this.droppedSinceReport;
    this.droppedSinceReport = 0;
    return n;
  }
}

export function truncateLine(line: string): string {
  return line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}… [truncated ${line.length - MAX_LINE_CHARS} chars]` : line;
}

/**
 * Splits a byte stream into lines. A partial line longer than MAX_LINE_CHARS is emitted truncated
 * and the rest of it, up to the next newline, is skipped: memory stays bounded whatever the writer does.
 */
export class LineSplitter {
  private partial = '';
  private skipping = false;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      const piece = chunk.slice(start, nl);
      if (this.skipping) this.skipping = false;
      else this.emit(this.partial + piece);
      this.partial = '';
      start = nl + 1;
    }
    if (this.skipping) return;
    this.partial += chunk.slice(start);
    if (this.partial.length > MAX_LINE_CHARS) {
      this.emit(this.partial);
      this.partial = '';
      this.skipping = true;
    }
  }

  end(): void {
    if (this.partial && !this.skipping) this.emit(this.partial);
    this.partial = '';
    this.skipping = false;
  }

  private emit(line: string): void {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    this.onLine(truncateLine(l));
  }
}
