// Loads openclaw.yaml into a ProjectConfig. Every problem found is collected, located (file,
// line, column, dotted field) and thrown together as one ConfigError: fixing a config file one
// error per restart is the experience this exists to avoid.
import fs from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../util/errors.js';
import type { AgentConfig, ApiConfig, ProjectConfig, StoreConfig } from './types.js';
import { interpolate, resolvePlainScalar } from './interpolate.js';
import { sectionSchemas } from './sections.js';
import { displayPath, formatPath } from './locate.js';
import {
  agentSchema,
  allowedKeysAt,
  describe,
  EXTENSION_SECTIONS,
  isPlainObject,
  parseStoreUrl,
  projectSchema,
  unknownKeyMessage,
  type AgentFields,
  type IssueParams,
  type Path,
} from './schema.js';

export interface LoadOptions {
  /** Environment for `${VAR}`, OPENCLAW_PORT and OPENCLAW_DB_URL; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Command-line flags; they win over the environment, which wins over the file. */
  overrides?: { port?: number; host?: string; store?: string };
}

export const AGENT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const CONFIG_FILENAMES = ['openclaw.yaml', 'openclaw.yml'];

/** Reads and validates `file` (or `<dir>/openclaw.yaml` when given a directory). */
export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<ProjectConfig> {
  let abs = path.resolve(file);
  try {
    if ((await stat(abs)).isDirectory()) {
      const found = CONFIG_FILENAMES.map((n) => path.join(abs, n)).find((p) => fs.existsSync(p));
      abs = found ?? path.join(abs, CONFIG_FILENAMES[0]);
    }
  } catch {
    // Missing: reported by the read below with the path we tried.
  }
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'config file not found; create one with `openclaw init` or point at the project directory'
        : `cannot read the config file: ${(err as Error).message}`;
    throw new ConfigError([{ file: displayPath(abs), line: null, column: null, field: '', message }]);
  }
  return parseConfig(text, abs, opts);
}

/** Validates config text as if read from `file` (relative paths resolve against its directory). */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): ProjectConfig {
  return new Loader(text, path.resolve(file), opts).run();
}

export { formatPath };

class Loader {
  private readonly display: string;
  private readonly root: string;
  private readonly dataDir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly lc = new LineCounter();
  private doc!: Document.Parsed;
  private readonly issues: ConfigIssue[] = [];
  /** Fields whose interpolation failed: their schema errors would only repeat the same problem. */
  private readonly interpolationFailed = new Set<string>();

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly opts: LoadOptions,
  ) {
    this.display = displayPath(file);
    this.root = path.dirname(file);
    this.dataDir = path.join(this.root, '.openclaw');
    this.env = opts.env ?? process.env;
  }

  run(): ProjectConfig {
    this.doc = parseDocument(this.text, { lineCounter: this.lc, prettyErrors: false, merge: true, uniqueKeys: true });
    if (this.doc.errors.length > 0) {
      for (const e of this.doc.errors) {
        const { line, col } = this.lc.linePos(e.pos[0]);
        const message =
          e.code === 'MULTIPLE_DOCS'
            ? 'only one YAML document is allowed per file; remove the `---` separator'
            : e.code === 'DUPLICATE_KEY'
              ? 'this key appears twice in the same mapping; keep one'
              : e.message;
        this.issues.push({ file: this.display, line, column: col, field: '', message: `invalid YAML: ${message}` });
      }
      // A broken document would only produce misleading schema errors: stop here.
      this.fail();
    }
    const top = this.doc.contents;
    if (top === null || (isScalar(top) && (top.value === null || top.value === ''))) {
      this.add([], 'the file is empty; it needs at least `project: <name>`', { line: 1, column: 1 });
      this.fail();
    }
    if (!isMap(top)) {
      this.add([], 'the top level must be a mapping with keys such as `project:` and `agents:`');
      this.fail();
    }

    this.interpolateNode(top, []);

    let raw: unknown;
    try {
      raw = this.doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      this.add([], `cannot expand the YAML: ${(err as Error).message}`);
      this.fail();
    }
    const data = raw as Record<string, unknown>;

    // Top-level `x-…` keys are free for YAML anchors (the docker-compose convention).
    for (const k of Object.keys(data)) if (k.startsWith('x-')) delete data[k];
    const schema = projectSchema(this.root, this.dataDir);
    const top_ = schema.safeParse(data);
    if (!top_.success) this.zodIssues(top_.error, [], schema, data);

    const agents = this.agents(data.agents);
    const store = this.storeOverrides(top_.success ? top_.data.store : null, data.store);
    const api = this.apiOverrides(top_.success ? top_.data.api : null);
    const bus = top_.success ? top_.data.bus : null;
    if (bus && bus.backend !== 'embedded' && store?.kind === 'sqlite') {
      // An external bus is for several daemons sharing one fleet, which needs a shared store; on
      // SQLite (one daemon, one file) it would only add a network hop and a second place to lose events.
      this.add(['bus', 'backend'], `${bus.backend} needs a PostgreSQL store (store: postgres://…): an external bus lets several daemons share one fleet, and SQLite serves one daemon; use backend: embedded with SQLite`);
    }

    // Sections are checked even when the rest has problems: every error of the file at once.
    const sections = (top_.success ? top_.data : data) as Record<string, unknown>;
    const extensions: Record<string, unknown> = {};
    for (const k of EXTENSION_SECTIONS) {
      if (sections[k] === undefined) continue;
      const schema = sectionSchemas[k];
      if (!schema) {
        extensions[k] = sections[k];
        continue;
      }
      const parsed = schema.safeParse(sections[k]);
      if (parsed.success) extensions[k] = parsed.data;
      else this.zodIssues(parsed.error, [k], schema, sections[k]);
    }
    this.fail();
    const p = top_.data!;
    return {
      file: this.file,
      root: this.root,
      project: p.project,
      version: typeof data.version === 'number' ? this.sourceText(['version']) ?? p.version : p.version,
      store: store!,
      ...(bus && bus.backend !== 'embedded' ? { bus } : {}),
      api: api!,
      dataDir: this.dataDir,
      agents,
      extensions,
    };
  }

  private fail(): void {
    if (this.issues.length === 0) return;
    // File order reads best; issues without a line (environment overrides) go last.
    const sorted = this.issues
      .map((issue, i) => ({ issue, i }))
      .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.i - b.i)
      .map((x) => x.issue);
    throw new ConfigError(sorted);
  }

  private agents(raw: unknown): AgentConfig[] {
    if (raw === undefined || raw === null) return [];
    if (!isPlainObject(raw)) {
      this.add(['agents'], `must be a mapping of agent name → settings (got ${describe(raw)})`);
      return [];
    }
    const schema = agentSchema(this.root);
    const out: AgentConfig[] = [];
    for (const [name, value] of Object.entries(raw)) {
      const at: Path = ['agents', name];
      let ok = true;
      if (!AGENT_NAME.test(name)) {
        this.add(at, `invalid agent name ${JSON.stringify(name)}: use 1-63 lowercase letters, digits, - or _, starting with a letter or digit (e.g. uptime-monitor)`, { atKey: true });
        ok = false;
      }
      if (value === null || value === undefined) {
        this.add(at, 'is empty; give it `source: agents/<file>.ts` or `command: [program, args…]`', { atKey: true });
        continue;
      }
      if (!isPlainObject(value)) {
        this.add(at, `must be a mapping of agent settings (got ${describe(value)})`);
        continue;
      }
      ok = this.checkAgentKind(at, value) && ok;
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        this.zodIssues(parsed.error, at, schema, value);
        continue;
      }
      if (!ok || !parsed.data) continue;
      const fields: AgentFields = parsed.data;
      const { line } = this.locate(at, true) ?? { line: null };
      out.push({ name, ...fields, location: `${this.display}:${line ?? '?'}` });
    }
    return out;
  }

  /** Rules that span several keys; checked on the raw value so they are reported alongside the rest. */
  private checkAgentKind(at: Path, v: Record<string, unknown>): boolean {
    const has = (k: string) => v[k] !== undefined && v[k] !== null;
    let ok = true;
    if (has('source') && has('command')) {
      this.add(at, 'set exactly one of `source` (a TypeScript/JavaScript agent module) or `command` (a program to supervise), not both', { atKey: true });
      return false;
    }
    if (!has('source') && !has('command')) {
      this.add(at, 'needs `source: agents/<file>.ts` (a TypeScript/JavaScript agent module) or `command: [program, args…]` (any program); neither is set', { atKey: true });
      return false;
    }
    if (has('source')) {
      // `env:` is a module agent's environment too (src/runtime/sandbox.ts).
      for (const k of ['args', 'cwd']) {
        if (has(k)) {
          this.add([...at, k], `applies only to \`command\` agents; a \`source\` agent gets its settings from \`config\``, { atKey: true });
          ok = false;
        }
      }
      const hc = v.health_check;
      if (isPlainObject(hc)) {
        for (const probe of ['liveness', 'readiness']) {
          const pr = hc[probe];
          if (!isPlainObject(pr)) continue;
          for (const k of ['http', 'exec']) {
            if (pr[k] !== undefined) {
              this.add([...at, 'health_check', probe, k], 'applies only to `command` agents; a `source` agent is probed through its heartbeat and its liveness()/readiness() methods', { atKey: true });
              ok = false;
            }
          }
        }
      }
    } else if (has('isolation') && v.isolation !== 'process') {
      this.add([...at, 'isolation'], `a \`command\` agent always runs as its own process; remove \`isolation\` or set it to process (got ${describe(v.isolation)})`);
      ok = false;
    }
    return ok;
  }

  private storeOverrides(fromFile: StoreConfig | null, raw: unknown): StoreConfig | null {
    const sources: [string, string | undefined][] = [
      ['--store', this.opts.overrides?.store],
      ['OPENCLAW_DB_URL', this.env.OPENCLAW_DB_URL],
    ];
    for (const [name, value] of sources) {
      if (value === undefined || value === '') continue;
      // The schema is a property of the deployment, not of the URL: keep the file's.
      const schema = fromFile?.kind === 'postgres' ? fromFile.schema : isPlainObject(raw) && typeof raw.schema === 'string' ? raw.schema : 'public';
      try {
        return parseStoreUrl(value, this.root, schema);
      } catch (err) {
        this.issues.push({ file: this.display, line: null, column: null, field: 'store', message: `${name} ${(err as Error).message}` });
        return null;
      }
    }
    return fromFile;
  }

  private apiOverrides(fromFile: ApiConfig | null): ApiConfig | null {
    let port = fromFile?.port ?? null;
    const envPort = this.env.OPENCLAW_PORT;
    if (envPort !== undefined && envPort !== '') {
      const n = Number(envPort);
      if (!/^\d+$/.test(envPort.trim()) || n > 65535) {
        this.issues.push({ file: this.display, line: null, column: null, field: 'api.port', message: `OPENCLAW_PORT must be a port number 0-65535 (got ${JSON.stringify(envPort)})` });
      } else port = n;
    }
    const o = this.opts.overrides ?? {};
    if (o.port !== undefined) {
      if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
        this.issues.push({ file: this.display, line: null, column: null, field: 'api.port', message: `--port must be a port number 0-65535 (got ${o.port})` });
      } else port = o.port;
    }
    const host = o.host ?? fromFile?.host ?? null;
    return port === null || host === null ? null : { ...fromFile, host, port };
  }

  // -------------------------------------------------------------------------------------------
  // Interpolation on the YAML tree, so each error keeps the scalar's position.

  private interpolateNode(node: unknown, at: Path): void {
    if (isAlias(node)) return; // interpolated where the anchor is defined
    if (isMap(node)) {
      for (const pair of node.items) this.interpolateNode(pair.value, [...at, keyOf(pair.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.interpolateNode(item, [...at, i]));
    } else if (isScalar(node) && typeof node.value === 'string') {
      const r = interpolate(node.value, this.env);
      for (const message of r.errors) {
        this.interpolationFailed.add(formatPath(at));
        this.add(at, message, this.posOf(node as YamlNode));
      }
      if (r.changed && r.errors.length === 0) node.value = node.type === 'PLAIN' ? resolvePlainScalar(r.value) : r.value;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Issues and positions

  private zodIssues(err: z.ZodError, base: Path, schema: z.ZodTypeAny, data: unknown): void {
    for (const issue of err.issues) {
      const at = [...base, ...issue.path];
      if (this.interpolationFailed.has(formatPath(at))) continue;
      if (issue.code === 'unrecognized_keys') {
        const allowed = allowedKeysAt(schema, issue.path);
        for (const k of issue.keys) this.add([...at, k], unknownKeyMessage(k, allowed), { atKey: true });
      } else if (issue.code === 'invalid_type') {
        const got = valueAt(data, issue.path);
        if (issue.received === 'undefined') this.add(at, 'is required');
        else this.add(at, `must be ${typeWord(issue.expected)} (got ${describe(got)})`);
      } else if (issue.code === 'custom') {
        this.add(at, issue.message, { atKey: (issue.params as IssueParams | undefined)?.atKey === true });
      } else {
        this.add(at, issue.message);
      }
    }
  }

  private add(at: Path, message: string, where: { atKey?: boolean; line?: number; column?: number } = {}): void {
    const pos = where.line !== undefined ? { line: where.line, column: where.column ?? null } : this.locate(at, where.atKey === true);
    this.issues.push({ file: this.display, line: pos?.line ?? null, column: pos?.column ?? null, field: formatPath(at), message });
  }

  private posOf(node: YamlNode): { line: number; column: number } | undefined {
    if (!node.range) return undefined;
    const { line, col } = this.lc.linePos(node.range[0]);
    return { line, column: col };
  }

  /**
   * Position of the value at `at` (or of its key with `wantKey`). A path that does not exist in
   * the file (a missing key, a key merged in with `<<`) falls back to its nearest ancestor.
   */
  private locate(at: Path, wantKey: boolean): { line: number; column: number } | null {
    let node: unknown = this.doc.contents;
    let range: [number, number, number] | null | undefined = (node as YamlNode | null)?.range;
    for (let i = 0; i < at.length; i++) {
      if (isAlias(node)) node = node.resolve(this.doc);
      const seg = at[i];
      const last = i === at.length - 1;
      if (isMap(node)) {
        const pair = this.findPair(node, String(seg));
        if (!pair) break;
        const keyRange = (pair.key as YamlNode | null)?.range;
        const value = pair.value as YamlNode | null;
        // An empty value (`logging:`) has a zero-width range at the end of the line: use the key.
        const valueRange = value?.range && value.range[1] > value.range[0] ? value.range : keyRange;
        range = last && wantKey ? keyRange : valueRange;
        node = value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item) break;
        range = item.range;
        node = item;
      } else break;
    }
    if (!range) return null;
    const { line, col } = this.lc.linePos(range[0]);
    return { line, column: col };
  }

  /** The pair for `key` in a mapping, looking through `<<: *anchor` merges as YAML resolves them. */
  private findPair(map: YAMLMap, key: string, depth = 0): Pair | undefined {
    const own = map.items.find((p) => keyOf(p.key) === key);
    if (own || depth > 10) return own;
    for (const p of map.items) {
      // With `merge: true` the parser turns the `<<` key into a symbol; its source text stays.
      if (!(isScalar(p.key) && (p.key.source === '<<' || p.key.value === '<<'))) continue;
      const sources = isSeq(p.value) ? p.value.items : [p.value];
      for (const src of sources) {
        const target = isAlias(src) ? src.resolve(this.doc) : src;
        if (isMap(target)) {
          const found = this.findPair(target, key, depth + 1);
          if (found) return found;
        }
      }
    }
    return undefined;
  }

  private sourceText(at: Path): string | null {
    const node = this.doc.getIn(at, true) as YamlNode | undefined;
    return node?.range ? this.text.slice(node.range[0], node.range[1]).trim() : null;
  }
}

function keyOf(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function valueAt(data: unknown, p: Path): unknown {
  let v = data;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function typeWord(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return `of type ${expected}`;
  }
}
