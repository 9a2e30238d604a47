// Secrets at rest: AES-256-GCM under a master key. Each value gets a fresh random 12-byte IV; the
// 16-byte auth tag is stored with it; the additional authenticated data binds the ciphertext to
// its (name, env, version), so a row copied onto another secret or version fails to decrypt.
//
// The master key comes from OPENCLAW_MASTER_KEY (32 bytes, base64 or hex) or the key file
// `<dataDir>/master.key` (created by `openclaw init`, mode 0600; one with group or other
// permissions is refused).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { OpenClawError } from '../../util/errors.js';

export const MASTER_KEY_FILE = 'master.key';

export interface MasterKey {
  key: Buffer;
  /** Short public fingerprint (stored with each row, so a changed key gives a clear error). */
  id: string;
  source: 'OPENCLAW_MASTER_KEY' | string;
}

export class MasterKeyError extends OpenClawError {
  constructor(message: string) {
    super('master_key', message, { status: 500, exitCode: 78 });
  }
}

function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) key = b;
  }
  if (!key) {
    throw new MasterKeyError(
      `${where} is not a 32-byte key in base64 or hex (got ${t.length} characters); generate one with \`openssl rand -base64 32\``,
    );
  }
  return key;
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('openclaw-master-key').update(key).digest('hex').slice(0, 12);
}

export function keyFilePath(dataDir: string): string {
  return path.join(dataDir, MASTER_KEY_FILE);
}

/** The master key, or null when none is configured (env unset, no key file). */
export function loadMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): MasterKey | null {
  const fromEnv = env.OPENCLAW_MASTER_KEY;
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = decodeKey(fromEnv, 'OPENCLAW_MASTER_KEY');
    return { key, id: keyId(key), source: 'OPENCLAW_MASTER_KEY' };
  }
  const file = keyFilePath(dataDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  if ((st.mode & 0o077) !== 0) {
    throw new MasterKeyError(
      `${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); the master key must be private: run \`chmod 600 ${file}\``,
    );
  }
  const key = decodeKey(fs.readFileSync(file, 'utf8'), file);
  return { key, id: keyId(key), source: file };
}

/** Creates `<dataDir>/master.key` (0600) when absent; returns whether it did. */
export function createKeyFile(dataDir: string): { file: string; created: boolean } {
  const file = keyFilePath(dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(32).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { file, created: false };
    throw err;
  }
  fs.chmodSync(file, 0o600); // umask may have narrowed it further; never wider
  return { file, created: true };
}

export function aad(name: string, env: string, version: number): Buffer {
  return Buffer.from(JSON.stringify(['openclaw-secret', name, env, version]));
}

/** iv (12) || tag (16) || ciphertext */
export function encrypt(key: Buffer, plaintext: string, ad: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(ad);
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

export function decrypt(key: Buffer, blob: Buffer, ad: Buffer): string {
  if (blob.length < 28) throw new Error('ciphertext too short');
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
  d.setAAD(ad);
  d.setAuthTag(blob.subarray(12, 28));
  return Buffer.concat([d.update(blob.subarray(28)), d.final()]).toString('utf8');
}
