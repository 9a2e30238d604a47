// Bundles what an agent worker thread loads — runtime/worker-main.js and the SDK agents import
// (index.js, tools/index.js) — from a built dist/ into dist/worker/: three entry files and the
// chunks they share (esbuild code splitting, so the worker and the SDK agent code imports hold ONE
// copy of every module: the run context, the HTTP guard, the Agent base). Dependencies (zod,
// croner) are bundled in as well, except those another part of the runtime loads with require()
// (undici, ipaddr.js): one copy of those, from node_modules, as before.
//
// Why: a worker booted from dist/ evaluated ~50 files one by one through the ESM loader (a file
// open, a resolve and, with source maps on, a .map read each); from the bundle it is a handful.
// runtime/paths.ts uses dist/worker/ when it exists and is fresh; without it (a build made without
// this step) workers load dist/ file by file, as before.
//
// Stale bundles: `tsc` alone (a developer's quick rebuild) rewrites dist/ but not dist/worker/, and
// a daemon loading that old bundle runs the old worker and SDK. So the bundle ends with
// dist/worker/inputs.json, the dist files it was made from with a hash of each, written last. An
// input whose mtime is not later than that file's is as bundled (no read); a later one (tsc
// rewrote it, or an unpacker or a copy wrote files in its own order) is read and hashed, and a
// different content makes the bundle stale: paths.ts then ignores it and the daemon logs a warning.
//
//   node scripts/bundle-worker.mjs [distDir]      (default: ./dist; part of `npm run build`)
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The file in `<dist>/worker/` that lists the bundle's inputs (src/runtime/paths.ts reads it). */
export const BUNDLE_INPUTS = 'inputs.json';

/** Writes `<dist>/worker/{worker-main,index,tools}.js`, their chunks, and `inputs.json` last. */
export async function bundleWorker(dist) {
  const { build } = await import('esbuild');
  dist = path.resolve(dist);
  const out = path.join(dist, 'worker');
  fs.rmSync(out, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: dist,
    metafile: true,
    entryPoints: {
      'worker-main': path.join(dist, 'runtime', 'worker-main.js'),
      index: path.join(dist, 'index.js'),
      tools: path.join(dist, 'tools', 'index.js'),
    },
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Bundled CommonJS dependencies may call require(); give them one.
    banner: { js: "import { createRequire as __openclawRequire } from 'node:module'; const require = __openclawRequire(import.meta.url);" },
    external: ['undici', 'ipaddr.js'],
    chunkNames: 'chunk-[hash]',
    legalComments: 'none',
    logLevel: 'warning',
  });
  // The dist files only (paths relative to dist): dependencies change with npm install, not with a build.
  const inputs = {};
  for (const rel of Object.keys(result.metafile.inputs).sort()) {
    const abs = path.resolve(dist, rel);
    if (!abs.startsWith(dist + path.sep) || abs.slice(dist.length).split(path.sep).includes('node_modules')) continue;
    inputs[rel] = inputHash(fs.readFileSync(abs));
  }
  fs.writeFileSync(path.join(out, BUNDLE_INPUTS), `${JSON.stringify({ inputs }, null, 1)}\n`);
  return out;
}

/** The hash inputs.json records per input (src/runtime/paths.ts computes the same). */
export function inputHash(bytes) {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32);
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const dist = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist'));
  await bundleWorker(dist);
}
