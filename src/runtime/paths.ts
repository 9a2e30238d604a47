// Where the runtime's own files live, for the daemon (forking hosts) and the host (starting workers).
// From source (vitest, `tsx`), every module is a .ts file and child processes and threads need the
// tsx hooks to load them; from dist, plain node loads .js files and tsx is needed only for agents
// written in TypeScript.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

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

export const runtimeFiles = {
  hostMain: here('./host-main'),
  workerMain: here('./worker-main'),
  resolveHook: here('./sdk-resolve-hook'),
  sdk: { index: here('../index'), tools: here('../tools/index') } as SdkUrls,
};

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
