// Where the runtime's own files live, for the daemon (forking hosts) and the host (starting workers).
// From source (vitest, `tsx`), every module is a .ts file and child processes and threads need the
// tsx hooks to load them; from dist, plain node loads .js files and tsx is needed only for agents
// written in TypeScript.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** True when this module runs from TypeScript source rather than from dist. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');
const EXT = FROM_SOURCE ? '.ts' : '.js';

function here(rel: string): string {
  return new URL(rel + EXT, import.meta.url).href;
}

/** The SDK that `import … from 'openclaw-runtime'` in agent code resolves to: the daemon's own. */
export interface SdkUrls {
  index: string;
  tools: string;
}

/** The file scripts/bundle-worker.mjs writes last into `<dist>/worker/`: `{ inputs: { dist-relative path: hash } }`. */
export const BUNDLE_INPUTS = 'inputs.json';

export type WorkerBundle = { state: 'fresh' } | { state: 'absent' } | { state: 'stale'; reason: string };

/**
 * Whether `<dist>/worker/` was bundled from the dist files there now. A `tsc`-only rebuild rewrites
 * dist/ and leaves the old bundle. An input whose mtime is not later than the bundle's inputs.json
 * is taken as bundled without reading it (about 40 stat calls, once per process); a later one
 * (tsc, or an unpacker or a copy writing files in its own order) is hashed and compared with the
 * hash recorded at bundling. A changed or missing input, or a bundle without inputs.json (made
 * before it existed), is stale.
 */
export function checkWorkerBundle(dist: string): WorkerBundle {
  const dir = path.join(dist, 'worker');
  if (!fs.existsSync(path.join(dir, 'worker-main.js'))) return { state: 'absent' };
  let made: number;
  let inputs: Record<string, string>;
  try {
    made = fs.statSync(path.join(dir, BUNDLE_INPUTS)).mtimeMs;
    inputs = (JSON.parse(fs.readFileSync(path.join(dir, BUNDLE_INPUTS), 'utf8')) as { inputs: Record<string, string> }).inputs;
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) throw new Error('no inputs');
  } catch {
    return { state: 'stale', reason: `${dir} has no readable ${BUNDLE_INPUTS} (bundled by an older build)` };
  }
  for (const [rel, hash] of Object.entries(inputs)) {
    const file = path.join(dist, rel);
    try {
      if (fs.statSync(file).mtimeMs <= made) continue;
      if (inputHash(fs.readFileSync(file)) === hash) continue;
    } catch {
      return { state: 'stale', reason: `${rel}, an input of the bundle, is gone` };
    }
    return { state: 'stale', reason: `${rel} changed after the bundle was made` };
  }
  return { state: 'fresh' };
}

/** As scripts/bundle-worker.mjs's inputHash. */
function inputHash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

/**
 * From dist, what a worker thread loads comes from dist/worker/ when the build made it
 * (scripts/bundle-worker.mjs) and it is fresh: worker-main and the SDK bundled, sharing chunks, a
 * handful of files instead of ~50 loaded one by one. The SDK URL is what compiled agents import, so
 * agent code and the worker share one copy of the SDK. A stale bundle is not used (the daemon logs
 * `workerBundle` as a warning): the dist files are the newer build.
 */
const WORKER_BUNDLE = FROM_SOURCE ? null : new URL('../worker/', import.meta.url);
export const workerBundle: WorkerBundle = FROM_SOURCE ? { state: 'absent' } : checkWorkerBundle(fileURLToPath(new URL('../', import.meta.url)));
const bundled = workerBundle.state === 'fresh';
const inBundle = (name: string) => new URL(`${name}.js`, WORKER_BUNDLE!).href;

export const runtimeFiles = {
  hostMain: here('./host-main'),
  workerMain: bundled ? inBundle('worker-main') : here('./worker-main'),
  resolveHook: here('./sdk-resolve-hook'),
  sdk: (bundled ? { index: inBundle('index'), tools: inBundle('tools') } : { index: here('../index'), tools: here('../tools/index') }) as SdkUrls,
};

/** The package's root (holds src/ and dist/). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * What agent hosts run: the host entry, the SDK their agents import, whether that is TypeScript
 * source (the host needs tsx), and the package root the sandbox lets them read. The runtime's own
 * files, except under the test suite: vitest runs the daemon from source, and a test build of src
 * (test/helpers/test-dist.ts, its folder in OPENCLAW_TEST_DIST) lets hosts load plain JavaScript
 * instead of tsx transforming ~200 modules in every host. Nothing else sets that variable.
 */
export interface HostFiles {
  hostMain: string;
  sdk: SdkUrls;
  fromSource: boolean;
  root: string;
}

function testBuild(): string | null {
  const dir = FROM_SOURCE ? process.env.OPENCLAW_TEST_DIST : undefined;
  return dir && fs.existsSync(path.join(dir, 'runtime', 'host-main.js')) ? dir : null;
}

export function hostFiles(): HostFiles {
  const dist = testBuild();
  if (!dist) return { hostMain: runtimeFiles.hostMain, sdk: runtimeFiles.sdk, fromSource: FROM_SOURCE, root: PACKAGE_ROOT };
  const url = (rel: string) => pathToFileURL(path.join(dist, rel)).href;
  // The SDK the host's workers load with the bundled worker-main, as from dist (WORKER_BUNDLE).
  const sdk = checkWorkerBundle(dist).state === 'fresh'
    ? { index: url('worker/index.js'), tools: url('worker/tools.js') }
    : { index: url('index.js'), tools: url('tools/index.js') };
  return { hostMain: url('runtime/host-main.js'), sdk, fromSource: false, root: path.dirname(dist) };
}

let tsxCache: { loader: string; api: string } | null = null;

/** file: URLs of tsx's `--import` loader and of `tsx/esm/api` (ESM build). */
export function tsxUrls(): { loader: string; api: string } {
  if (!tsxCache) {
    const req = createRequire(import.meta.url);
    const dir = path.dirname(req.resolve('tsx/package.json'));
    tsxCache = {
      loader: pathToFileURL(path.join(dir, 'dist/loader.mjs')).href,
      api: pathToFileURL(path.join(dir, 'dist/esm/api/index.mjs')).href,
    };
  }
  return tsxCache;
}

export function isTypeScriptFile(file: string): boolean {
  return /\.(c|m)?tsx?$/.test(file);
}
