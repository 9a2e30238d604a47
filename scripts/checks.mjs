#!/usr/bin/env node
// The static checks of `npm test` (and `npm run typecheck`): the three TypeScript programs and the
// dependency rules, run at the same time. Each tsc is one thread, so on a 2-core machine together
// they take about as long as the longest one rather than the sum. Output is printed per check
// once it ends; the exit code is non-zero when any failed.
//   node scripts/checks.mjs            all four
//   node scripts/checks.mjs --types    the three tsc programs only
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

const checks = [
  ['tsc src', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']],
  ['tsc examples', bin('tsc'), ['-p', 'tsconfig.examples.json']],
  ['tsc ui', bin('tsc'), ['-p', 'src/ui/tsconfig.json']],
  ['dependency rules', bin('depcruise'), ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err']],
].filter(([name]) => !process.argv.includes('--types') || name.startsWith('tsc'));

function run([name, cmd, args]) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.once('error', (err) => resolve({ name, ok: false, out: `${cmd}: ${err.message}\n` }));
    child.once('close', (code, signal) => {
      const ok = code === 0;
      process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${ok ? '' : `: exit ${code ?? signal}`}\n${ok ? '' : out}`);
      resolve({ name, ok });
    });
  });
}

const results = await Promise.all(checks.map(run));
const failed = results.filter((r) => !r.ok).map((r) => r.name);
if (failed.length > 0) {
  process.stderr.write(`checks failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
