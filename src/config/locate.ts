// One error format everywhere (issue 14 item 11): problems found after the file was parsed — by
// daemon modules (workflows, validators, jobs) or by loading agent modules — are reported like the
// loader's own, as `file:line:col: field[0].path: message`, with the file relative to the working
// directory and the position of the value in openclaw.yaml.
import fs from 'node:fs';
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { ConfigIssue } from '../util/errors.js';

export type ConfigPath = Array<string | number>;

/** Relative to the working directory when the file is below it, else absolute. */
export function displayPath(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

/** `['workflows', 'deploy', 'steps', 0, 'agent']` → `workflows.deploy.steps[0].agent`. */
export function formatPath(p: ConfigPath): string {
  let out = '';
  for (const seg of p) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/** Builds located issues for one config file; the file is read and parsed once, on first use. */
export class IssueLocator {
  private doc: Document.Parsed | null | undefined;
  private readonly lc = new LineCounter();

  constructor(private readonly configFile: string) {}

  /**
   * An issue at `at` in openclaw.yaml (its nearest existing ancestor when the path is not in the
   * file), or in `otherFile` (a workflow's TypeScript source) without a position.
   */
  issue(at: ConfigPath, message: string, otherFile?: string): ConfigIssue {
    const pos = otherFile ? null : this.position(at);
    return { file: displayPath(otherFile ?? this.configFile), line: pos?.line ?? null, column: pos?.column ?? null, field: formatPath(at), message };
  }

  position(at: ConfigPath): { line: number; column: number } | null {
    if (this.doc === undefined) {
      try {
        this.doc = parseDocument(fs.readFileSync(this.configFile, 'utf8'), { lineCounter: this.lc, merge: true });
      } catch {
        this.doc = null;
      }
    }
    if (!this.doc) return null;
    let node: unknown = this.doc.contents;
    let range = (node as { range?: [number, number, number] } | null)?.range;
    for (const seg of at) {
      if (isAlias(node)) node = node.resolve(this.doc);
      let next: unknown;
      if (isMap(node)) next = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg))?.value;
      else if (isSeq(node) && typeof seg === 'number') next = node.items[seg];
      const r = (next as { range?: [number, number, number] } | null | undefined)?.range;
      if (!r) break;
      node = next;
      range = r;
    }
    if (!range) return null;
    const { line, col } = this.lc.linePos(range[0]);
    return { line, column: col };
  }
}

/** Makes paths inside a message relative to the project directory (`/home/u/p/agents/a.ts` → `agents/a.ts`). */
export function relativeIn(message: string, root: string): string {
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  return message.split(prefix).join('');
}
