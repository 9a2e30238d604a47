// The control API's TLS files (api.tls), read at boot: a file that cannot be read is a config error (exit 78).
import fs from 'node:fs';
import { ConfigError } from '../util/errors.js';

export function readTls(tls: { cert: string; key: string }, file: string): { cert: Buffer; key: Buffer } {
  const read = (p: string, k: 'cert' | 'key'): Buffer => {
    try {
      return fs.readFileSync(p);
    } catch (err) {
      throw new ConfigError([{ file, line: null, column: null, field: `api.tls.${k}`, message: `cannot read ${p}: ${(err as Error).message}` }]);
    }
  };
  return { cert: read(tls.cert, 'cert'), key: read(tls.key, 'key') };
}
