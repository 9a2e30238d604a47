// Compile once: every module agent's source (TypeScript or JavaScript) is bundled by esbuild into
// plain JavaScript, cached by content hash, so that workers and hosts load it with no TypeScript
// loader and no module hooks (the tsx hooks thread cost ~100 ms and ~20 MB per worker).
//
//   source.ts ──esbuild (bundle the project's own files; packages stay imports)──► <cache>/<name>-<hash>.mjs (+ .map)
//
// - The SDK (`import … from 'openclaw-runtime'`, `'openclaw-runtime/tools'`, and the first name
//   `'openclaw'`, `'openclaw/tools'`) is rewritten to the daemon's own SDK URL,
//   so one SDK per daemon and no resolve hook in the worker.
// - Linked source maps: with source maps enabled in the worker, stack traces name the user's .ts
//   file and line.
// - `import.meta.url` / `dirname` / `filename` keep the entry source's values, so an agent that
//   reads files beside itself works as it did uncompiled.
// - A per-source manifest (the inputs and their content hashes) makes the cache survive daemon
//   restarts; in a process, an unchanged set of (mtime, size) skips even the hashing. Hot reload
//   (and every start) recompiles only a source whose inputs changed.
// - A syntax error is an AgentSyntaxError naming file:line:column (exit code 78). The last good
//   output of a source stays in use for restarts until a new one compiles.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OpenClawError } from '../util/errors.js';
import type { SdkUrls } from './paths.js';

export class AgentSyntaxError extends OpenClawError {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly column: number | null,
    detail: string,
  ) {
    const where = line === null ? file : `${file}:${line}:${column ?? 1}`;
    super('agent_syntax_error', `${where}: ${detail}; fix the source and save it again`, { status: 400, exitCode: 78 });
  }
}

interface InputStamp {
  path: string;
  hash: string;
  mtimeMs: number;
  size: number;
}

interface Compiled {
  out: string;
  inputs: InputStamp[];
}

interface Manifest {
  version: 1;
  source: string;
  /** The SDK URLs baked into the bundle: another install of OpenClaw rebuilds. */
  sdk: string;
  out: string;
  inputs: Array<{ path: string; hash: string }>;
}

export interface CompilerOptions {
  /** Where bundles, maps and manifests are written (the daemon uses `<dataDir>/cache/agents`). */
  cacheDir: string;
  sdk: SdkUrls;
}

/** Files the compiler takes: .ts/.tsx/.mts/.js/.mjs/.jsx (CommonJS .cjs/.cts loads as is). */
export function isCompilable(file: string): boolean {
  return /\.(m?tsx?|m?jsx?)$/.test(file);
}

/**
 * Builds running in this process. esbuild's service is per process (not per compiler), so this
 * count is too: the service is stopped only when no compiler in the process is building.
 */
let esbuildUsers = 0;

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export class AgentCompiler {
  private readonly good = new Map<string, Compiled>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Bundles built by esbuild in this process (cache misses); for tests and metrics. */
  builds = 0;

  constructor(private readonly opts: CompilerOptions) {}

  /**
   * The compiled JavaScript for `source`, recompiled if an input changed. On a compile error with a
   * last good output, `keepLastGood` returns that output (a restart keeps the old version) instead of
   * throwing.
   */
  async compile(source: string, opts: { keepLastGood?: boolean } = {}): Promise<string> {
    const file = path.resolve(source);
    const running = this.inflight.get(file);
    const p = running ?? this.check(file).finally(() => this.inflight.delete(file));
    if (!running) this.inflight.set(file, p);
    try {
      return await p;
    } catch (err) {
      const last = this.good.get(file);
      if (opts.keepLastGood && last && err instanceof AgentSyntaxError) return last.out;
      throw err;
    }
  }

  private async check(file: string): Promise<string> {
    const last = this.good.get(file) ?? this.fromManifest(file);
    if (last && stampsUnchanged(last.inputs) && fs.existsSync(last.out)) {
      this.good.set(file, last);
      return last.out;
    }
    const built = await this.build(file);
    this.good.set(file, built);
    return built.out;
  }

  private sdkKey(): string {
    return `${this.opts.sdk.index}|${this.opts.sdk.tools}`;
  }

  private manifestPath(file: string): string {
    return path.join(this.opts.cacheDir, `${sha(file).slice(0, 16)}.json`);
  }

  /** The on-disk record of an earlier compile, if every input still has the same content. */
  private fromManifest(file: string): Compiled | null {
    let m: Manifest;
    try {
      m = JSON.parse(fs.readFileSync(this.manifestPath(file), 'utf8')) as Manifest;
    } catch {
      return null;
    }
    if (m.version !== 1 || m.source !== file || m.sdk !== this.sdkKey() || !fs.existsSync(m.out)) return null;
    const inputs: InputStamp[] = [];
    for (const i of m.inputs) {
      try {
        const st = fs.statSync(i.path);
        if (sha(fs.readFileSync(i.path)) !== i.hash) return null;
        inputs.push({ ...i, mtimeMs: st.mtimeMs, size: st.size });
      } catch {
        return null;
      }
    }
    return { out: m.out, inputs };
  }

  private async build(file: string): Promise<Compiled> {
    esbuildUsers++;
    try {
      return await this.buildOnce(file);
    } finally {
      // esbuild's service is a child process of its own: end it once no build is running (the
      // next build, e.g. a hot reload, starts it again in a few ms).
      if (--esbuildUsers === 0) {
        setImmediate(() => {
          if (esbuildUsers === 0) void import('esbuild').then((e) => e.stop()).catch(() => undefined);
        });
      }
    }
  }

  private async buildOnce(file: string): Promise<Compiled> {
    // Imported on first use: a daemon whose bundles are all cached never loads esbuild.
    const esbuild = await import('esbuild');
    const sdk = this.opts.sdk;
    const dir = path.dirname(file);
    const base = path.basename(file).replace(/\.[^.]+$/, '');
    const fileUrl = pathToFileURL(file).href;
    let result: Awaited<ReturnType<typeof esbuild.build>> & { metafile: NonNullable<unknown> };
    try {
      result = (await esbuild.build({
        entryPoints: [file],
        absWorkingDir: dir,
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        packages: 'external',
        sourcemap: 'linked',
        sourcesContent: false,
        metafile: true,
        logLevel: 'silent',
        outfile: path.join(this.opts.cacheDir, `${base}.mjs`),
        define: {
          'import.meta.url': JSON.stringify(fileUrl),
          'import.meta.filename': JSON.stringify(file),
          'import.meta.dirname': JSON.stringify(dir),
        },
        plugins: [
          {
            name: 'openclaw-sdk',
            setup(b) {
              b.onResolve({ filter: /^openclaw(-runtime)?(\/tools)?$/ }, (a) => ({ path: a.path.endsWith('/tools') ? sdk.tools : sdk.index, external: true }));
            },
          },
        ],
      })) as typeof result;
    } catch (err) {
      const first = (err as { errors?: Array<{ text: string; location: { file: string; line: number; column: number } | null }> }).errors?.[0];
      if (first) {
        const loc = first.location;
        throw new AgentSyntaxError(loc ? path.resolve(dir, loc.file) : file, loc?.line ?? null, loc ? loc.column + 1 : null, first.text);
      }
      throw new OpenClawError('agent_compile_failed', `${file}: could not compile the agent: ${(err as Error).message}`, { exitCode: 78, cause: err });
    }
    const js = result.outputFiles!.find((f) => f.path.endsWith('.mjs'))!;
    const map = result.outputFiles!.find((f) => f.path.endsWith('.mjs.map'))!;
    const hash = sha(js.contents).slice(0, 16);
    const out = path.join(this.opts.cacheDir, `${base}-${hash}.mjs`);
    fs.mkdirSync(this.opts.cacheDir, { recursive: true });
    // The name carries the content hash: write the map first, then the bundle (atomically), so a
    // reader never sees a half-written file under a final name.
    writeAtomic(`${out}.map`, map.contents);
    writeAtomic(out, js.text.replace(/\/\/# sourceMappingURL=.*$/m, `//# sourceMappingURL=${path.basename(out)}.map`));
    const inputs: InputStamp[] = Object.keys(result.metafile.inputs)
      .filter((p) => !p.includes(':'))
      .map((p) => {
        const abs = path.resolve(dir, p);
        const st = fs.statSync(abs);
        return { path: abs, hash: sha(fs.readFileSync(abs)), mtimeMs: st.mtimeMs, size: st.size };
      });
    const manifest: Manifest = { version: 1, source: file, sdk: this.sdkKey(), out, inputs: inputs.map(({ path: p, hash: h }) => ({ path: p, hash: h })) };
    writeAtomic(this.manifestPath(file), JSON.stringify(manifest));
    this.builds++;
    return { out, inputs };
  }

  /** Ends esbuild's service process if this compiler started it and no build is running. */
  async close(): Promise<void> {
    if (this.builds === 0 || esbuildUsers > 0) return;
    const esbuild = await import('esbuild');
    await esbuild.stop();
  }
}

function stampsUnchanged(inputs: InputStamp[]): boolean {
  for (const i of inputs) {
    try {
      const st = fs.statSync(i.path);
      if (st.mtimeMs !== i.mtimeMs || st.size !== i.size) {
        // Touched but maybe not changed (an editor's save): compare the content.
        if (sha(fs.readFileSync(i.path)) !== i.hash) return false;
        i.mtimeMs = st.mtimeMs;
        i.size = st.size;
      }
    } catch {
      return false;
    }
  }
  return true;
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  // Unique per writer: two daemons (or test workers) may compile the same source at once.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
