// Bundles what an agent worker thread loads — runtime/worker-main.js and the SDK agents import
// (index.js, tools/index.js) — from a built dist/ into dist/worker/: three entry files and the
// chunks they share (esbuild code splitting, so the worker and the SDK agent code imports hold ONE
// copy of every module: the run context, the HTTP guard, the Agent base). Dependencies (zod,
// croner) are bundled in as well, except those another part of the runtime loads with require()
// (undici, ipaddr.js): one copy of those, from node_modules, as before.
//
// Why: a worker booted from dist/ evaluated ~50 files one by one through the ESM loader (a file
// open, a resolve and, with source maps on, a .map read each); from the bundle it is a handful.
// runtime/paths.ts uses dist/worker/ when it exists; without it (a build made without this step)
// workers load dist/ file by file, as before.
//
//   node scripts/bundle-worker.mjs [distDir]      (default: ./dist; part of `npm run build`)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Writes `<dist>/worker/{worker-main,index,tools}.js` and their chunks. */
export async function bundleWorker(dist) {
  const { build } = await import('esbuild');
  const out = path.join(dist, 'worker');
  fs.rmSync(out, { recursive: true, force: true });
  await build({
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
  return out;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const dist = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist'));
  await bundleWorker(dist);
}
