// Human form of a log line, for terminals (`openclaw dev`, `openclaw logs`).
import type { LogLine } from '../runtime/protocol.js';

const COLORS: Record<LogLine['level'], string> = { debug: '\x1b[90m', info: '\x1b[36m', warning: '\x1b[33m', error: '\x1b[31m' };

export function formatLogLine(line: LogLine, opts: { color?: boolean } = {}): string {
  const t = new Date(line.time).toISOString().slice(11, 23);
  const lvl = line.level.toUpperCase().padEnd(7);
  const fields = line.fields && Object.keys(line.fields).length > 0 ? ' ' + JSON.stringify(line.fields) : '';
  const who = line.instance && line.instance !== `${line.agent}#0` ? line.instance : line.agent;
  const head = `${t} ${lvl} [${who}]`;
  if (!opts.color) return `${head} ${line.msg}${fields}`;
  return `${COLORS[line.level]}${head}\x1b[0m ${line.msg}${fields ? `\x1b[90m${fields}\x1b[0m` : ''}`;
}
