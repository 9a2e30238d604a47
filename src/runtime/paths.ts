// Where the runtime's own files live, for the daemon (forking hosts) and the host (starting workers).
// From source (vitest, `tsx`), every module is a .ts file and child processes and threads need the
// tsx hooks to load them; from dist, plain node loads .js files and tsx is needed only for agents
// written in TypeScript.
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

/**
 * From dist, what a worker thread loads comes from dist/worker/ when the build made it
 * (scripts/bundle-worker.mjs): worker-main and the SDK bundled, sharing chunks, a handful of files
 * instead of ~50 loaded one by one. The SDK URL is what compiled agents import, so agent code and
 * the worker share one copy of the SDK.
 */
const WORKER_BUNDLE = FROM_SOURCE ? null : new URL('../worker/', import.meta.url);
const bundled = WORKER_BUNDLE !== null && fs.existsSync(new URL('worker-main.js', WORKER_BUNDLE));
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
  const sdk = fs.existsSync(path.join(dist, 'worker', 'worker-main.js'))
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
