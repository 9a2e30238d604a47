// Memory per idle agent (issue 10): what an agent worker loads — the worker runtime and the SDK an
// agent imports (the same three entries scripts/bundle-worker.mjs bundles for dist/worker/) —
// holds no zod. zod and the schemas built from it cost each worker about 1.5 MB of heap; the
// checks a worker makes (enqueue options, @job options) are hand-written (src/util/check.ts) and
// the config schemas stay on the daemon side.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('agent worker modules', () => {
  it('the worker runtime and the SDK do not load zod', async () => {
    const r = await build({
      entryPoints: [path.join(ROOT, 'src', 'runtime', 'worker-main.ts'), path.join(ROOT, 'src', 'index.ts'), path.join(ROOT, 'src', 'tools', 'index.ts')],
      outdir: path.join(ROOT, '.openclaw-test-unused'),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      metafile: true,
      external: ['undici', 'ipaddr.js'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    // It did bundle the worker and the SDK (the check would pass on an empty build).
    expect(inputs).toContain('src/runtime/agent-context.ts');
    expect(inputs).toContain('src/agents/describe.ts');
    expect(inputs.filter((f) => f.includes('node_modules/zod/'))).toEqual([]);
    expect(inputs.filter((f) => /^src\/(config\/schema|jobs\/config|security\/guardrails\/config|util\/zod)\.ts$/.test(f))).toEqual([]);
  });
});
