// A watched directory of NDJSON (.ndjson, .jsonl, .json) and CSV (.csv, with a header row) files.
// Each file is read once: its lines are appended in chunks, and each chunk commits WITH the file's
// position (one transaction), so a kill mid-file resumes at the next line — no line twice, none lost.
// Files must arrive whole (write elsewhere, then rename into the directory): the last line of a
// file is taken as complete.
import { open, readdir, stat } from 'node:fs/promises';
import { resolve, join, extname } from 'node:path';
import { checkLines, csvFields, csvRow, type Line } from './ingest.js';
import type { StreamsService } from './service.js';

const CHUNK_LINES = 5000;
const READ_BYTES = 1 << 20;
const EXTS = new Set(['.ndjson', '.jsonl', '.json', '.csv']);

export class FileWatcher {
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private stopped = false;
  private readonly dir: string;

  constructor(
    private readonly stream: string,
    private readonly cfg: { dir: string; format?: 'auto' | 'ndjson' | 'csv'; poll_interval?: number },
    root: string,
    private readonly svc: StreamsService,
    private readonly warn: (msg: string) => void,
  ) {
    this.dir = resolve(root, cfg.dir);
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.busy = this.scan()
        .catch((err: Error) => this.warn(`streams: reading ${this.dir} for stream '${this.stream}' failed: ${err.message}`))
        .finally(() => {
          this.busy = null;
          if (!this.stopped) this.timer = setTimeout(tick, this.cfg.poll_interval ?? 1000);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.busy;
  }

  async scan(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => EXTS.has(extname(n).toLowerCase()) && !n.startsWith('.')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      if (this.stopped) return;
      const pos = await this.svc.store.filePosition(this.stream, name);
      if (pos?.done) continue;
      await this.readFile(name, pos?.position ?? 0, pos?.line ?? 0);
    }
  }

  private async readFile(name: string, position: number, lineNo: number): Promise<void> {
    const path = join(this.dir, name);
    const size = (await stat(path)).size;
    const csv = this.cfg.format === 'csv' || ((this.cfg.format ?? 'auto') === 'auto' && extname(name).toLowerCase() === '.csv');
    const fh = await open(path, 'r');
    try {
      let header: string[] | null = null;
      if (csv) {
        const first = await fh.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
        const text = first.buffer.subarray(0, first.bytesRead).toString('utf8');
        const nl = text.indexOf('\n');
        header = csvFields((nl === -1 ? text : text.slice(0, nl)).replace(/\r$/, ''));
        if (position === 0) {
          position = nl === -1 ? size : Buffer.byteLength(text.slice(0, nl + 1));
          lineNo = 1;
        }
      }
      let want = READ_BYTES;
      while (!this.stopped && position < size) {
        const n = Math.min(want, size - position);
        const buf = Buffer.alloc(n);
        const { bytesRead } = await fh.read(buf, 0, n, position);
        const eof = position + bytesRead >= size;
        const end = eof ? bytesRead : buf.lastIndexOf(10, bytesRead - 1) + 1;
        if (end <= 0) {
          want *= 2; // one line longer than the read: read more at once
          continue;
        }
        want = READ_BYTES;
        const rawLines = buf.subarray(0, end).toString('utf8').split('\n');
        if (rawLines[rawLines.length - 1] === '') rawLines.pop();
        // Commit in chunks of whole lines, each chunk with the position after it.
        for (let i = 0; i < rawLines.length; i += CHUNK_LINES) {
          const part = rawLines.slice(i, i + CHUNK_LINES);
          const lines: Line[] = [];
          let bytes = 0;
          for (const raw0 of part) {
            lineNo++;
            bytes += Buffer.byteLength(raw0) + 1;
            const raw = raw0.replace(/\r$/, '');
            if (raw.trim() === '') continue;
            if (header) lines.push({ line: lineNo, raw: '', value: csvRow(header, raw) });
            else {
              try {
                lines.push({ line: lineNo, raw, value: JSON.parse(raw) });
              } catch (err) {
                lines.push({ line: lineNo, raw, error: `not JSON: ${(err as Error).message}` });
              }
            }
          }
          position = Math.min(size, position + bytes);
          await this.commit(name, size, position, lineNo, eof && i + CHUNK_LINES >= rawLines.length, lines);
          if (this.stopped) return;
        }
      }
      if (position >= size && !this.stopped) await this.commit(name, size, size, lineNo, true, []);
    } finally {
      await fh.close();
    }
  }

  private async commit(name: string, size: number, position: number, line: number, done: boolean, lines: Line[]): Promise<void> {
    const def = this.svc.def(this.stream);
    const checked = checkLines(def, lines, `file:${name}`, this.svc.now());
    await this.svc.ingester.append(this.stream, checked.events, checked.dlq, { path: name, size, position, line, done });
  }
}
