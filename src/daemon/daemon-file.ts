// `.openclaw/daemon.json`: how the CLI in a project folder finds that project's daemon.
import fs from 'node:fs';
import path from 'node:path';
import { OpenClawError } from '../util/errors.js';

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

// `.openclaw/daemon.lock`: one daemon per project, taken atomically (O_EXCL) before anything
// starts, so two `openclaw daemon start` at once cannot both pass the daemon.json check. It holds
// the pid of its owner: the starting CLI hands it to the detached daemon it spawned (the daemon
// accepts a lock held by its parent), and a lock whose owner is dead is taken over.
export function daemonLockPath(dataDir: string): string {
  return path.join(dataDir, 'daemon.lock');
}

function readLockPid(file: string): number | null {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Takes the project's daemon lock for `pid` (default: this process). Throws `daemon_running`,
 * naming the running daemon (pid, URL when it is listening), when another live process holds it.
 */
export function acquireDaemonLock(dataDir: string, pid = process.pid): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = daemonLockPath(dataDir);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${pid}\n`);
      fs.closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLockPid(file);
    if (holder === pid || holder === process.pid || (holder !== null && holder === process.ppid)) {
      fs.writeFileSync(file, `${pid}\n`); // ours, or handed over by the CLI that started us
      return;
    }
    if (holder !== null && processAlive(holder)) {
      const info = readDaemonFile(dataDir);
      const where = info && info.pid === holder ? `, ${info.url}, project '${info.project}'` : ', still starting';
      throw new OpenClawError('daemon_running', `a daemon for this project is already running (pid ${holder}${where}; lock ${file}); stop it with \`openclaw daemon stop\``, { exitCode: 1 });
    }
    // The owner died without releasing it: take it over (a racing starter may win; then retry).
    fs.rmSync(file, { force: true });
  }
  throw new OpenClawError('daemon_running', `could not take the daemon lock ${file}: another daemon is starting at the same moment`, { exitCode: 1 });
}

/** Hands the lock to another pid (the detached daemon a CLI started). */
export function handDaemonLock(dataDir: string, pid: number): void {
  fs.writeFileSync(daemonLockPath(dataDir), `${pid}\n`);
}

/** Releases the lock if `pid` still holds it. */
export function releaseDaemonLock(dataDir: string, pid = process.pid): void {
  const file = daemonLockPath(dataDir);
  if (readLockPid(file) === pid) fs.rmSync(file, { force: true });
}
