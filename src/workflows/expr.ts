// Expressions in workflows: `if:` conditions, `for_each:` lists and `${{ … }}` templates in step
// parameters, all in CEL (Common Expression Language) through @marcbachmann/cel-js — a parser and
// tree-walking evaluator, never `eval` or `Function`. CEL is not Turing complete: no loops, no
// assignment, no host objects. An expression sees ONLY the variables declared here:
//
//   inputs   the run's input (map)
//   steps    steps.<id>.status and steps.<id>.output of the steps before it (map)
//   trigger  how the run started: { type, ... } (map)
//   item, index   the current element of a `for_each` step (dyn, int)
//
// `process`, `globalThis`, `this`, `constructor`… are unknown variables or missing map keys, and
// are refused when the workflow loads (type check) or at evaluation with a clear error.
import { createRequire } from 'node:module';
import type { Environment } from '@marcbachmann/cel-js';
import { OpenClawError } from '../util/errors.js';

/** Longest expression accepted; CEL's own limits bound its AST size and depth. */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Largest context (JSON bytes of inputs + step outputs) an expression is evaluated over. */
export const MAX_CONTEXT_BYTES = 4 * 1024 * 1024;

/**
 * The CEL environment, built with the first expression: cel-js (≈ 1 MB of heap) is required then,
 * not when the daemon loads the workflows module (a project without workflows never uses it).
 */
let celEnv: Environment | null = null;
function env(): Environment {
  if (celEnv) return celEnv;
  const { Environment: Env } = createRequire(import.meta.url)('@marcbachmann/cel-js') as typeof import('@marcbachmann/cel-js');
  celEnv = new Env({
    homogeneousAggregateLiterals: false,
    limits: { maxAstNodes: 1000, maxDepth: 32, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 16 },
  })
    .registerVariable('inputs', 'map')
    .registerVariable('steps', 'map')
    .registerVariable('trigger', 'map')
    .registerVariable('item', 'dyn')
    .registerVariable('index', 'int');
  return celEnv;
}

export interface ExprContext {
  inputs: unknown;
  steps: Record<string, { status: string; output: unknown }>;
  trigger: unknown;
  item?: unknown;
  index?: number;
}

export class ExpressionError extends OpenClawError {
  constructor(expression: string, message: string) {
    super('expression_error', `expression ${JSON.stringify(shorten(expression))}: ${message}`, { status: 400 });
  }
}

function shorten(s: string): string {
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

type Compiled = ((ctx: Record<string, unknown>) => unknown) & { check?: () => { valid: boolean; error?: Error } };
const cache = new Map<string, Compiled>();

function compile(expression: string): Compiled {
  const hit = cache.get(expression);
  if (hit) return hit;
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new ExpressionError(expression, `longer than ${MAX_EXPRESSION_LENGTH} characters`);
  let fn: Compiled;
  try {
    fn = env().parse(expression) as unknown as Compiled;
  } catch (err) {
    throw new ExpressionError(expression, firstLine(err));
  }
  if (cache.size > 5000) cache.clear();
  cache.set(expression, fn);
  return fn;
}

/**
 * Checks an expression at load time: it parses within the limits and uses only the declared
 * variables. Returns an error message, or null when it is fine.
 */
export function checkExpression(expression: string): string | null {
  try {
    compile(expression);
    const r = env().check(expression) as { valid: boolean; error?: Error };
    if (!r.valid) return firstLine(r.error?.message ?? 'invalid expression') + ' (expressions may use inputs, steps, trigger, item and index)';
    return null;
  } catch (err) {
    return err instanceof ExpressionError ? err.message.replace(/^expression "[^"]*": /, '') : firstLine(err);
  }
}

/** Evaluates an expression over the context; the result is plain JSON (CEL ints become numbers). */
export function evaluate(expression: string, ctx: ExprContext): unknown {
  const fn = compile(expression);
  const vars = toCel({ inputs: ctx.inputs ?? {}, steps: ctx.steps, trigger: ctx.trigger ?? {}, item: ctx.item ?? null, index: ctx.index ?? 0 }) as Record<string, unknown>;
  try {
    return fromCel(fn(vars));
  } catch (err) {
    throw new ExpressionError(expression, firstLine(err));
  }
}

export function evaluateBool(expression: string, ctx: ExprContext): boolean {
  const v = evaluate(expression, ctx);
  if (typeof v !== 'boolean') throw new ExpressionError(expression, `must evaluate to true or false, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v;
}

const TEMPLATE = /\$\{\{([\s\S]*?)\}\}/g;

/** The expressions inside `${{ … }}` in a string. */
export function templateExpressions(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((m) => m[1].trim());
}

/**
 * Renders `${{ expr }}` in every string of a parameter tree. A string that is exactly one
 * template keeps the value's type (a list stays a list); otherwise values are spliced as text.
 */
export function renderTemplates(value: unknown, ctx: ExprContext): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{\{([\s\S]*?)\}\}$/.exec(value);
    if (whole && !whole[1].includes('}}')) return evaluate(whole[1].trim(), ctx);
    if (!value.includes('${{')) return value;
    return value.replace(TEMPLATE, (_m, expr: string) => {
      const v = evaluate(expr.trim(), ctx);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => renderTemplates(v, ctx));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderTemplates(v, ctx);
    return out;
  }
  return value;
}

/** Every template expression in a parameter tree (for load-time checks). */
export function collectTemplates(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(...templateExpressions(value));
  else if (Array.isArray(value)) for (const v of value) collectTemplates(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) collectTemplates(v, out);
  return out;
}

// JSON → CEL values: whole numbers become CEL ints (so `inputs.n + 1` works), and only plain
// data crosses over (own enumerable keys of plain objects; no prototypes, no functions).
function toCel(v: unknown, budget = { bytes: MAX_CONTEXT_BYTES }): unknown {
  if (--budget.bytes < 0) throw new OpenClawError('expression_context_too_large', `the data an expression sees is over ${MAX_CONTEXT_BYTES} bytes`, { status: 413 });
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (typeof v === 'string') {
    budget.bytes -= v.length;
    return v;
  }
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v;
  if (Array.isArray(v)) return v.map((x) => toCel(x, budget));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(v as object)) {
      budget.bytes -= k.length;
      out[k] = toCel((v as Record<string, unknown>)[k], budget);
    }
    return out;
  }
  return null; // undefined, functions, symbols: not data
}

export function fromCel(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(fromCel);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(fromCel(k)), fromCel(x)]));
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof (v as { valueOf(): unknown }).valueOf === 'function' && (v as object).constructor?.name === 'UnsignedInt') return Number((v as { valueOf(): unknown }).valueOf());
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = fromCel((v as Record<string, unknown>)[k]);
  return out;
}
