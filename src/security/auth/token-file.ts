// The CLI's token file: <project>/.openclaw/token, mode 0600, one line. The daemon writes the
// bootstrap admin token there; the CLI reads it when neither --token nor OPENCLAW_TOKEN is given.
import fs from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'token';

export function tokenFilePath(dataDir: string): string {
  return path.join(dataDir, TOKEN_FILE);
}

/** Writes the token with mode 0600 (atomically: a fresh file renamed into place). */
export function writeTokenFile(dataDir: string, token: string): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = tokenFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, token + '\n', { mode: 0o600, flag: 'wx' });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

/**
 * Reads the token file if there is one. A file others can read is tightened to 0600 and
 * reported through `warn` (like ssh, but fixing instead of refusing: the CLI wrote it).
 */
export function readTokenFile(dataDir: string, warn?: (msg: string) => void): string | null {
  const file = tokenFilePath(dataDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  if ((st.mode & 0o077) !== 0) {
    try {
      fs.chmodSync(file, 0o600);
      warn?.(`${file} was readable by others (mode ${(st.mode & 0o777).toString(8)}); it is now 0600`);
    } catch (err) {
      warn?.(`${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}) and could not be fixed: ${(err as Error).message}; run chmod 600 ${file}`);
    }
  }
  const token = fs.readFileSync(file, 'utf8').trim();
  return token === '' ? null : token;
}
