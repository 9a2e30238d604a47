// Rules for the test suite itself (issue 14 items 18 and 20), checked on the source of every test
// file: a test never sleeps and then asserts (it waits for the event that proves the thing
// happened, or uses the injected clock), and a test that needs a tool asks haveTool() — which fails
// under CI=true — instead of probing for it and skipping quietly.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const TEST_DIR = path.dirname(fileURLToPath(import.meta.url));

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const files = testFiles(TEST_DIR).filter((f) => f !== fileURLToPath(import.meta.url));
const rel = (f: string) => path.relative(TEST_DIR, f);

describe('the test suite', () => {
  it('has no sleep directly followed by an assertion', () => {
    const sleep = /await new Promise(?:<void>)?\(\((\w+)\) => setTimeout\(\1, [^)]+\)\);?\s*$/;
    const offenders: string[] = [];
    for (const f of files) {
      const lines = fs.readFileSync(f, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (!sleep.test(line.trim()) || /^\s*(while|for|if)\b/.test(line)) return;
        const next = lines.slice(i + 1).find((l) => l.trim() !== '' && !l.trim().startsWith('//'));
        if (next && /^\s*expect\(/.test(next)) offenders.push(`${rel(f)}:${i + 1}`);
      });
    }
    expect(offenders, 'wait for the event that proves it (waitFor / a later event) or use the fake clock').toEqual([]);
  });

  it('probes for tools only through haveTool (which fails under CI=true)', () => {
    const probe = /spawnSync\([^)]*\{\s*stdio: 'ignore'[^)]*\)\.status === 0/;
    const offenders = files.filter((f) => !f.endsWith(path.join('helpers', 'services.ts')) && probe.test(fs.readFileSync(f, 'utf8'))).map(rel);
    expect(offenders, 'use haveTool(command, args, aptPackage) from test/helpers/services.ts').toEqual([]);
  });
});
