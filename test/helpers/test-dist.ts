// The CLI and daemons that tests spawn run from a build of src/ made once per vitest run (this
// file is vitest's globalSetup), not through tsx: a CLI call from source makes tsx resolve and
// transform ~200 modules in every child (and again in the detached daemon and its agent hosts),
// about twice the start-up time of plain node on the built files.
//
// The build is esbuild, file by file (what tsx does on the fly, so the code that runs is the
// same), laid out as an installed package: `<tmp>/openclaw-test-pkg-<pid>/dist/`, next to links
// to this checkout's package.json, node_modules and templates (and dist/ui to its dist/ui), so
// what the runtime finds relative to its own files (the package root the agent sandbox lets hosts
// read, templates/, the dashboard) is where it would be. One folder per run, so concurrent runs do
// not overwrite each other's; removed at teardown. OPENCLAW_TEST_FROM_SOURCE=1 keeps tsx + src.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsxUrls } from '../../src/runtime/paths.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENV = 'OPENCLAW_TEST_DIST';

/** How a test starts `openclaw`: `node [execArgv…] script ARGS…`. */
export interface CliCommand {
  execArgv: string[];
  script: string;
}

/** The built CLI when the globalSetup made one, else the source through tsx. */
export function cliCommand(): CliCommand {
  const dist = process.env[ENV];
  if (dist && fs.existsSync(path.join(dist, 'cli', 'main.js'))) return { execArgv: [], script: path.join(dist, 'cli', 'main.js') };
  return { execArgv: ['--import', tsxUrls().loader], script: path.join(REPO, 'src', 'cli', 'main.ts') };
}

const PREFIX = 'openclaw-test-pkg-';

/** Folders of runs whose vitest process is gone (killed before teardown). */
function staleBuilds(): string[] {
  return fs
    .readdirSync(os.tmpdir())
    .filter((n) => n.startsWith(PREFIX) && /^\d+$/.test(n.slice(PREFIX.length)))
    .filter((n) => {
      try {
        process.kill(Number(n.slice(PREFIX.length)), 0);
        return false;
      } catch {
        return true;
      }
    })
    .map((n) => path.join(os.tmpdir(), n));
}

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env.OPENCLAW_TEST_FROM_SOURCE === '1') return undefined;
  for (const dir of staleBuilds()) fs.rmSync(dir, { recursive: true, force: true });
  const { build } = await import('esbuild');
  const src = path.join(REPO, 'src');
  const root = path.join(os.tmpdir(), `${PREFIX}${process.pid}`);
  const out = path.join(root, 'dist');
  fs.rmSync(root, { recursive: true, force: true });
  const entryPoints = (fs.readdirSync(src, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith(`ui${path.sep}`))
    .map((f) => path.join(src, f));
  await build({ entryPoints, outdir: out, outbase: src, format: 'esm', platform: 'node', target: 'node20', sourcemap: 'inline', logLevel: 'warning' });
  for (const name of ['package.json', 'node_modules', 'templates']) fs.symlinkSync(fs.realpathSync(path.join(REPO, name)), path.join(root, name));
  fs.symlinkSync(path.join(REPO, 'dist', 'ui'), path.join(out, 'ui'));
  // What agent workers load, bundled (once node_modules is linked) as `npm run build` does (scripts/bundle-worker.mjs).
  const { bundleWorker } = (await import(path.join(REPO, 'scripts', 'bundle-worker.mjs'))) as { bundleWorker: (dist: string) => Promise<string> };
  await bundleWorker(out);
  process.env[ENV] = out;
  return () => fs.rmSync(root, { recursive: true, force: true });
}
