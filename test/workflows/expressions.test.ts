// Expressions cannot run code or read the process: `if:`, `for_each:` and `${{ }}` are CEL over
// inputs, steps, trigger, item and index only. Each attempt below is refused when the workflow
// loads (with file:line) or evaluates to a clear error — never code execution, never a secret.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/util/errors.js';
import { checkExpression, evaluate, evaluateBool, ExpressionError, renderTemplates } from '../../src/workflows/expr.js';
import { dropSchemas, finished, makeHarness, type Harness } from './harness.js';

const ctx = { inputs: { n: 3, name: 'x' }, steps: { a: { status: 'succeeded', output: { url: 'http://x' } } }, trigger: { type: 'manual' } };
const SENTINEL = 'OPENCLAW_EXPR_TEST_SECRET';
process.env[SENTINEL] = 'do-not-leak-7f3a';
const marker = path.join(os.tmpdir(), `openclaw-expr-pwned-${process.pid}`);

const open: Harness[] = [];
afterAll(async () => {
  for (const h of open) await h.close();
  await dropSchemas();
  delete process.env[SENTINEL];
});

describe('expressions are data, not code', () => {
  const attacks = [
    'process.env',
    `process.env.${SENTINEL}`,
    'globalThis.process',
    'this',
    'this.constructor',
    'inputs.constructor',
    'inputs.constructor.constructor("return process")()',
    'inputs["constructor"]["constructor"]("return process")()',
    'inputs.__proto__',
    'inputs["__proto__"]',
    'require("child_process")',
    'import("fs")',
    `eval("1")`,
    'Function("return 1")()',
    'steps.a.output.url.constructor',
    '[].constructor',
    `(function(){ require("fs").writeFileSync("${marker}", "x") })()`,
    'inputs.name; process.exit(1)',
  ];

  it.each(attacks)('%s is refused at load or fails clearly when evaluated', (expr) => {
    const loadError = checkExpression(expr);
    let evalError: unknown = null;
    let value: unknown;
    try {
      value = evaluate(expr, ctx);
    } catch (err) {
      evalError = err;
    }
    // Either the type check refuses it, or evaluation throws an ExpressionError; it never yields a value.
    expect(loadError !== null || evalError !== null).toBe(true);
    if (evalError !== null) expect(evalError).toBeInstanceOf(ExpressionError);
    expect(value).toBeUndefined();
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('evaluates ordinary conditions and templates', () => {
    expect(evaluateBool('inputs.n > 2 && steps.a.status == "succeeded"', ctx)).toBe(true);
    expect(evaluate('inputs.n + 1', ctx)).toBe(4);
    expect(renderTemplates({ u: '${{ steps.a.output.url }}/x', n: '${{ inputs.n * 2 }}' }, ctx)).toEqual({ u: 'http://x/x', n: 6 });
    expect(() => evaluateBool('inputs.name', ctx)).toThrow(/must evaluate to true or false/);
  });

  it('refuses huge expressions and bounds what an expression can build', () => {
    expect(checkExpression('inputs.n' + ' + inputs.n'.repeat(2000))).toMatch(/longer than 4096|maxAstNodes/);
    expect(checkExpression('[' + '['.repeat(100) + ']'.repeat(100) + ']')).not.toBeNull();
    // A huge input is data like any other: no code, and over the limit it is refused clearly.
    const big = { inputs: { s: 'x'.repeat(5 * 1024 * 1024) }, steps: {}, trigger: {} };
    expect(() => evaluate('size(inputs.s) > 0', big)).toThrow(/over 4194304 bytes/);
  });

  it('a workflow whose `if:` reads the environment does not load; the error has file and line', () => {
    const file = path.join(os.tmpdir(), 'openclaw.yaml');
    const text = `project: p
workflows:
  w:
    steps:
      - id: a
        type: shell
        command: echo hi
        if: process.env.${SENTINEL} != ""
      - { id: b, type: shell, command: [echo, '\${{ globalThis.x }}'] }
`;
    let err: unknown;
    try {
      parseConfig(text, file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain(`${file}:8:13: workflows.w.steps[0].if: expression "process.env.${SENTINEL} != \\"\\"": Unknown variable: process`);
    expect(msg).toMatch(/workflows\.w\.steps\[1\]\.id: template \$\{\{ globalThis\.x \}\}: Unknown variable: globalThis/);
    expect(msg).not.toContain('do-not-leak');
  });

  it('at run time a bad condition fails its step with the error; the environment never reaches the output', async () => {
    const h = await makeHarness('sqlite', `
  w:
    steps:
      - { id: a, type: shell, if: 'inputs.flag', command: 'echo ran' }
      - { id: b, type: shell, env: { TEXT: '\${{ inputs.text }}' }, command: 'printf %s "$TEXT"' }
`);
    open.push(h);
    const { runId } = await h.engine.start('w', { flag: 'yes', text: `\${{ process.env.${SENTINEL} }}` });
    const run = await finished(h, runId);
    const steps = Object.fromEntries((await h.repo.getSteps(runId)).map((s) => [s.key, s]));
    expect(steps.a.status).toBe('failed');
    expect(steps.a.error).toContain('if: expression "inputs.flag": must evaluate to true or false');
    // Templates are not re-evaluated: an input that looks like a template stays text.
    expect((steps.b.output as { stdout: string }).stdout).toBe(`\${{ process.env.${SENTINEL} }}`);
    expect(run.status).toBe('failed');
  });
});

describe('load-time validation of the DAG', () => {
  const load = (steps: string, extra = '') => {
    try {
      parseConfig(`project: p\nworkflows:\n  w:\n    steps:\n${steps}${extra}`, '/tmp/x/openclaw.yaml');
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };

  it('names unknown needs, duplicate ids, cycles, bad types and unknown sub-workflows with file:line', () => {
    expect(load(`      - { id: a, type: shell, command: x, needs: nope }\n`)).toMatch(/openclaw\.yaml:5:\d+: workflows\.w\.steps\[0\]\.needs: needs 'nope', which is not a step of this workflow; steps: a/);
    expect(load(`      - { id: a, type: shell, command: x }\n      - { id: a, type: shell, command: y }\n`)).toMatch(/:6:\d+: workflows\.w\.steps\[1\]\.id: duplicate step id 'a'/);
    expect(load(`      - { id: a, type: shell, command: x, needs: b }\n      - { id: b, type: shell, command: y, needs: a }\n`)).toContain('steps depend on each other in a cycle: a → b → a');
    expect(load(`      - { id: a, type: shel, command: x }\n`)).toContain('type must be one of shell, http, llm, agent, workflow, approval');
    expect(load(`      - { id: a, type: workflow, workflow: missing }\n`)).toContain("no workflow named 'missing'");
    expect(load(`      - { id: a, type: shell, command: x, retry: { attempts: 2, delay: soon } }\n`)).toMatch(/retry\.delay: invalid duration "soon"/);
    expect(load(`      - { id: a, type: shell, command: x }\n`, `    triggers:\n      - { schedule: "every sometimes" }\n`)).toMatch(/triggers\[0\]\.schedule: invalid/);
    expect(load(`      - { id: a, type: shell, command: x }\n`)).toBe('');
  });
});

describe('docs/configuration.md', () => {
  it('the workflows: example loads', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    const block = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith('workflows:'))!;
    const cfg = parseConfig(`project: p\n${block}`, path.join(os.tmpdir(), 'openclaw.yaml'));
    const wf = cfg.extensions!.workflows as Record<string, { steps?: Array<{ id: string; needs: string[] }> }>;
    expect(Object.keys(wf)).toEqual(['nightly-report', 'from-code']);
    expect(wf['nightly-report'].steps!.map((s) => s.id)).toEqual(['sales', 'stock', 'per-desk', 'summary', 'sign-off', 'publish', 'cleanup']);
  });
});
