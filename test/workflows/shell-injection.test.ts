// Issue 14, item 4: templated values never reach a shell step's command text. A `${{ }}` in a
// string `command` is refused at load (file:line:col, pointing to env or the argv form); through
// env or argv, inputs full of shell syntax are data: nothing they spell runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/util/errors.js';
import { dropSchemas, finished, makeHarness } from './harness.js';

afterAll(() => dropSchemas());

const HOSTILE = ['; touch pwned-semicolon', '$(touch pwned-subshell)', '`touch pwned-backtick`', '"; touch pwned-quote; "'];

it('refuses ${{ }} in a string shell command at load, naming the place and the safe forms', () => {
  const file = path.join(os.tmpdir(), 'openclaw.yaml');
  for (const command of ["'echo ${{ inputs.order }}'", '"rm -rf ${{ inputs.dir }}"', '|\n          echo start\n          echo ${{ inputs.x }}']) {
    const text = `project: p\nworkflows:\n  w:\n    steps:\n      - id: a\n        type: shell\n        command: ${command}\n`;
    let err: unknown;
    try {
      parseConfig(text, file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/openclaw\.yaml:7:\d+: workflows\.w\.steps\[0\]\.command: a \$\{\{ \}\} template in a shell command string would reach the shell unquoted/);
    expect((err as Error).message).toContain('env: { ORDER:');
  }
});

it('passes hostile inputs through env and argv as data: nothing they spell runs', async () => {
  const h = await makeHarness('sqlite', `
  w:
    inputs: { v: x }
    steps:
      - { id: via-env, type: shell, env: { V: '\${{ inputs.v }}' }, command: 'printf "%s" "$V" > env-out.txt' }
      - { id: via-argv, type: shell, command: [sh, -c, 'printf "%s" "$1" > argv-out.txt', sh, '\${{ inputs.v }}'] }
`);
  try {
  for (const v of HOSTILE) {
    const { runId } = await h.engine.start('w', { v });
    expect((await finished(h, runId)).status).toBe('succeeded');
    expect(fs.readFileSync(path.join(h.dir, 'env-out.txt'), 'utf8')).toBe(v);
    expect(fs.readFileSync(path.join(h.dir, 'argv-out.txt'), 'utf8')).toBe(v);
  }
  expect(fs.readdirSync(h.dir).filter((f) => f.startsWith('pwned'))).toEqual([]);
  } finally {
    await h.close();
  }
});
