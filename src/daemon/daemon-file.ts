// `.openclaw/daemon.json`: how the CLI in a project folder finds that project's daemon.
import fs from 'node:fs';
import path from 'node:path';

export interface DaemonFile {
  pid: number;
  url: string;
  host: string;
  port: number;
  project: string;
  config: string;
  startedAt: number;
}

export function daemonFilePath(dataDir: string): string {
  return path.join(dataDir, 'daemon.json');
}

export function writeDaemonFile(dataDir: string, info: DaemonFile): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = daemonFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

export function readDaemonFile(dataDir: string): DaemonFile | null {
  try {
    return JSON.parse(fs.readFileSync(daemonFilePath(dataDir), 'utf8')) as DaemonFile;
  } catch {
    return null;
  }
}

/** Removes the file only if it still describes this process (a newer daemon may own it). */
export function removeDaemonFile(dataDir: string, pid = process.pid): void {
  const cur = readDaemonFile(dataDir);
  if (cur && cur.pid === pid) fs.rmSync(daemonFilePath(dataDir), { force: true });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
