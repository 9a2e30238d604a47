// The agent sandbox, daemon side (issue 14, items 2 and 9; docs/security.md says what it covers).
//
// - Environment: agent processes never inherit the daemon's. Hosts and command agents start from a
//   small base (PATH, HOME, locale, TZ, TMPDIR…) plus what the agent declares (`env:`); command
//   agents add OPENCLAW_URL and their own scoped OPENCLAW_TOKEN. So OPENCLAW_MASTER_KEY, provider
//   keys and anything else in the daemon's environment stay in the daemon.
// - Files and processes: agent hosts run under Node's permission model. They read the project
//   (every entry of its directory except `.openclaw/`, where the store, the token and the master
//   key file live), the OpenClaw package and the agents' source files; they write only the agent
//   data directory (`.openclaw/agent-data/<agent>`, exported as OPENCLAW_DATA_DIR); they start
//   worker threads but no child processes. `permissions:` on an agent asks for more (child_process,
//   more read/write paths, or `sandbox: false`); such an agent gets a host of its own, so what it
//   is granted reaches no other agent. `security.sandbox.read_only_filesystem: true` grants no
//   write path at all.
import fs from 'node:fs';
import path from 'node:path';
import type { AgentPermissions, ProjectConfig } from '../config/types.js';
import { guardrailsConfig } from '../security/guardrails/config.js';
import { hostFiles, isTypeScriptFile } from './paths.js';
import { ConfigError, type ConfigIssue } from '../util/errors.js';

export interface SandboxAgent {
  env: Record<string, string>;
  permissions: AgentPermissions;
  /** Module agents: the source file (readable even when it lives outside the project). */
  file?: string;
}

export interface SandboxOptions {
  projectRoot: string;
  /** `.openclaw/`: never readable or writable by agent code (except each agent's data directory). */
  dataDir: string;
  readOnly: boolean;
  agents: Map<string, SandboxAgent>;
  /**
   * Where the daemon compiles agent sources (runtime/compile.ts): readable by agent hosts, since
   * workers load the compiled JavaScript from there. Absent: sources load as they are (tsx).
   */
  compileCacheDir?: string;
}

export const DEFAULT_PERMISSIONS: AgentPermissions = { sandbox: true, childProcess: false, read: [], write: [] };

/** What a process needs to run programs at all; nothing of the daemon's own configuration. */
const BASE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ', 'TMPDIR', 'TERM', 'NODE_ENV', 'CI'];

export function baseEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of BASE_ENV) if (typeof from[k] === 'string') out[k] = from[k]!;
  return out;
}

export function agentDataDir(dataDir: string, agent: string): string {
  return path.join(dataDir, 'agent-data', agent.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** The sandbox of a project: from the loaded config (agents' env and permissions, the sandbox section). */
export function sandboxFor(config: ProjectConfig): SandboxOptions {
  const agents = new Map<string, SandboxAgent>();
  for (const a of config.agents) {
    agents.set(a.name, { env: a.kind === 'command' ? {} : (a.env ?? {}), permissions: a.permissions ?? DEFAULT_PERMISSIONS, ...(a.source ? { file: a.source } : {}) });
  }
  const readOnly = guardrailsConfig(config.extensions).sandbox.read_only_filesystem === true;
  if (readOnly) refuseUnenforceable(config);
  return { projectRoot: config.root, dataDir: config.dataDir, readOnly, agents, compileCacheDir: path.join(config.dataDir, 'cache', 'agents') };
}

/**
 * `read_only_filesystem: true` is a promise the daemon keeps or refuses: it cannot make a command
 * agent's file system read-only (any program, same uid), nor an agent that opted out of the
 * permission model, nor honour `permissions.write` at the same time.
 */
function refuseUnenforceable(config: ProjectConfig): void {
  const issues: ConfigIssue[] = [];
  for (const a of config.agents) {
    const why =
      a.kind === 'command'
        ? 'is a command agent, whose file system the daemon cannot make read-only'
        : a.permissions?.sandbox === false
          ? 'runs without the permission model (permissions.sandbox: false)'
          : (a.permissions?.write.length ?? 0) > 0
            ? 'asks for writable paths (permissions.write)'
            : null;
    if (!why) continue;
    const line = Number(/:(\d+)$/.exec(a.location)?.[1]);
    issues.push({
      file: config.file,
      line: Number.isFinite(line) ? line : null,
      column: null,
      field: `agents.${a.name}`,
      message: `security.sandbox.read_only_filesystem is true but agent '${a.name}' ${why}; remove read_only_filesystem, or run the program under a read-only mount (systemd ReadOnlyPaths=, a container) and drop it from this project`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/** An agent that asked for more than the default gets a host of its own. */
export function needsOwnHost(opts: SandboxOptions | undefined, agent: string): boolean {
  const p = opts?.agents.get(agent)?.permissions;
  return p !== undefined && (!p.sandbox || p.childProcess || p.read.length > 0 || p.write.length > 0);
}


/** Every directory from `dir` up to the root, for the package.json / tsconfig.json lookups of loaders. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

function realpaths(p: string): string[] {
  try {
    const r = fs.realpathSync(p);
    return r === p ? [p] : [p, r];
  } catch {
    return [p];
  }
}

/** The project's entries except the data directory (Node 20 cannot deny a path inside an allowed one). */
function projectEntries(root: string, dataDir: string): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const data = path.resolve(dataDir);
  return names.map((n) => path.join(root, n)).filter((p) => p !== data && !data.startsWith(p + path.sep));
}

/**
 * Node options and environment for an agent host: `agent` for a host of its own (process
 * isolation, or extra permissions), null for a common host.
 */
export function hostLaunch(opts: SandboxOptions, agent: string | null): { execArgv: string[]; env: Record<string, string>; cwd: string } {
  const a = agent === null ? undefined : opts.agents.get(agent);
  const perms = a?.permissions ?? DEFAULT_PERMISSIONS;
  // MALLOC_ARENA_MAX=2: glibc gives every thread that mallocs its own arena, and a host runs a
  // worker thread per agent; capped, the quickstart's common host (5 agents) holds ≈ 15 MB less
  // (154 → 140 MB side by side; src/daemon/process-tuning.ts does the same for the daemon).
  const env: Record<string, string> = { MALLOC_ARENA_MAX: '2', ...baseEnv(), ...(a?.env ?? {}) };
  const dataDir = agent === null ? path.join(opts.dataDir, 'agent-data') : agentDataDir(opts.dataDir, agent);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (agent !== null) env.OPENCLAW_DATA_DIR = dataDir;
  // The host's working directory is its data directory, never the project (whose root holds
  // `.openclaw/`): relative paths in agent code land where it may write.
  const cwd = dataDir;
  if (!perms.sandbox) return { execArgv: [], env, cwd };

  // tsx keeps a transform cache in the temp dir; under the permission model it would need write
  // access there, shared by every agent. Transform in memory instead.
  env.TSX_DISABLE_CACHE = '1';
  const read = new Set<string>();
  const write = new Set<string>();
  // The package's code, not its whole directory: a source checkout may hold example projects
  // with their own `.openclaw/`.
  const root = hostFiles().root;
  const pkg = ['src', 'dist', 'package.json', 'node_modules'].map((n) => path.join(root, n));
  const compiled = opts.compileCacheDir ? [opts.compileCacheDir] : [];
  for (const p of [...projectEntries(opts.projectRoot, opts.dataDir), ...pkg, dataDir, ...compiled, ...perms.read]) {
    for (const r of realpaths(p)) read.add(r);
  }
  const files = agent === null ? [...opts.agents.values()].map((x) => x.file) : [a?.file];
  for (const f of files) if (f && !f.startsWith(opts.projectRoot + path.sep)) for (const r of realpaths(path.dirname(f))) read.add(r);
  // Module loaders look for package.json and tsconfig.json in every directory above a module.
  for (const top of [opts.projectRoot, root, ...files.filter((f): f is string => !!f).map((f) => path.dirname(f))]) {
    for (const d of ancestors(top)) for (const f of ['package.json', 'tsconfig.json']) read.add(path.join(d, f));
  }
  // tsx probes whether the file system is case-sensitive with existsSync(cwd) and of its
  // case-inverted twin; both must be readable (the twin does not exist).
  read.add(invertCase(cwd));
  if (!opts.readOnly) {
    for (const p of [dataDir, ...perms.write]) for (const g of writeGrants(p)) write.add(g);
    // A path the agent may write it may read back.
    for (const p of perms.write) for (const g of writeGrants(p)) read.add(g);
  }
  const execArgv = ['--experimental-permission', '--allow-worker', '--disable-warning=ExperimentalWarning', '--disable-warning=SecurityWarning'];
  for (const p of read) execArgv.push(`--allow-fs-read=${p}`);
  for (const p of write) execArgv.push(`--allow-fs-write=${p}`);
  // tsx transforms TypeScript with esbuild, which runs as a child process, and Node 20's
  // permission model cannot grant that to the transformer alone. So a host that must transform
  // TypeScript (running from source, or a .ts agent) may start processes; one that loads only
  // JavaScript may not (docs/security.md). Agents the daemon compiled load plain JavaScript.
  if (perms.childProcess || needsTransformer(opts.compileCacheDir ? [] : files)) execArgv.push('--allow-child-process');
  return { execArgv, env, cwd };
}

/**
 * What to grant for a writable path. Node's permission model decides once, at launch, whether a
 * granted path is a directory (then everything below it is granted) or a single file: a directory
 * made after the host started (`permissions.write: [out/reports]` before anything created it) was
 * writable only as a file, and every write inside it refused. So a missing path is created as a
 * directory first (docs/security.md). Granting both `p` and `p/*` instead would crash Node 20
 * (an assertion in its permission tree) whenever `p` is a directory by the time the host starts.
 */
function writeGrants(p: string): string[] {
  if (!fs.existsSync(p)) {
    try {
      fs.mkdirSync(p, { recursive: true });
    } catch {
      // Not ours to create (a parent we may not write): granted as named, as before.
    }
  }
  return realpaths(p);
}

function needsTransformer(files: (string | undefined)[]): boolean {
  return hostFiles().fromSource || files.some((f) => f !== undefined && isTypeScriptFile(f));
}

function invertCase(s: string): string {
  let out = '';
  for (const c of s) out += c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
  return out;
}

/** The environment of a command agent: the base, its declared env, then OPENCLAW_URL/TOKEN/AGENT/INSTANCE. */
export function commandEnv(declared: Record<string, string>, openclaw: Record<string, string>): Record<string, string> {
  return { ...baseEnv(), ...declared, ...openclaw };
}
