// `@on('event')` marks an instance method as the handler of a bus event.
//
// The runtime must know an agent's handlers from the CLASS, before any instance exists (it reports
// them to the daemon right after loading the module, and `openclaw` validates them at start). So the
// decorator records what it saw where the class can be read later, in both decorator dialects:
//
//  - TC39 standard decorators (TypeScript 5 default, esbuild/tsx): the record goes into
//    `context.metadata`, which the class exposes as `Class[Symbol.metadata]`. Node 20 has no
//    `Symbol.metadata`, and compilers only create the metadata object when the symbol exists, so
//    this module installs it (as `Symbol.for('Symbol.metadata')`, the same fallback esbuild uses)
//    when it is first imported — which is before any user class that imports `on` is evaluated.
//    Should metadata still be missing (an exotic compiler), the method function itself is tagged.
//  - Legacy `experimentalDecorators` (target, key, descriptor): the record goes on the class
//    constructor (`target.constructor`) under the same symbol.
//
// Misuse (on a field, accessor, static or private method) is recorded, not thrown, so that
// describeAgentClass() reports every problem of a class at once, naming class and member.
// Symbols are registered (`Symbol.for`) so that two copies of the SDK (say src/ and dist/) agree.
import { OpenClawError } from '../util/errors.js';
import type { JobHandlerOptions } from '../jobs/policy.js';

type SymbolCtor = SymbolConstructor & { metadata?: symbol };

function installMetadataSymbol(): symbol {
  const S = Symbol as SymbolCtor;
  if (typeof S.metadata === 'symbol') return S.metadata;
  const sym = Symbol.for('Symbol.metadata');
  try {
    Object.defineProperty(Symbol, 'metadata', { value: sym, writable: false, enumerable: false, configurable: true });
  } catch {
    // A frozen global Symbol: nothing to do; the function-tag fallback below still works.
  }
  return sym;
}

/** `Symbol.metadata`, installed if the platform lacks it. */
export const METADATA: symbol = installMetadataSymbol();

/** Where @on records live: on a metadata object (standard) or a class constructor (legacy). */
export const HANDLER_RECORDS = Symbol.for('openclaw.agent.handlerRecords');
/** Fallback tag on a method function: the events it handles. */
export const HANDLER_TAG = Symbol.for('openclaw.agent.handlerTag');

export interface HandlerRecords {
  handlers: Array<{ event: string; method: string }>;
  errors: string[];
  /** @window declarations: the window's spec (plain JSON; reducer functions as their source). */
  windows?: Array<{ name: string; method: string; spec: Record<string, unknown> }>;
  /** @job declarations (absent on records made before @job existed). */
  jobs?: Array<{ name: string; method: string; options: JobHandlerOptions }>;
}

/** Fallback tag on a method function: the jobs it handles. */
export const JOB_TAG = Symbol.for('openclaw.agent.jobTag');

/** The records held directly by `holder` (not inherited through its prototype chain). */
export function ownRecords(holder: object, create: true): HandlerRecords;
export function ownRecords(holder: object, create?: false): HandlerRecords | undefined;
export function ownRecords(holder: object, create = false): HandlerRecords | undefined {
  if (Object.prototype.hasOwnProperty.call(holder, HANDLER_RECORDS)) {
    return (holder as Record<symbol, HandlerRecords>)[HANDLER_RECORDS];
  }
  if (!create) return undefined;
  const rec: HandlerRecords = { handlers: [], errors: [] };
  Object.defineProperty(holder, HANDLER_RECORDS, { value: rec, enumerable: false, configurable: true, writable: false });
  return rec;
}

interface StandardContext {
  kind: 'method' | 'getter' | 'setter' | 'field' | 'accessor' | 'class';
  name: string | symbol | undefined;
  static?: boolean;
  private?: boolean;
  metadata?: object;
}

function isStandardContext(x: unknown): x is StandardContext {
  return x !== null && typeof x === 'object' && typeof (x as { kind?: unknown }).kind === 'string' && 'name' in (x as object);
}

export interface OnDecorator {
  // TC39 standard decorators.
  (value: (this: any, ...args: any[]) => any, context: ClassMethodDecoratorContext): void;
  // experimentalDecorators.
  (target: object, propertyKey: string | symbol, descriptor?: PropertyDescriptor): void;
}

function memberLabel(name: string | symbol | undefined): string {
  return typeof name === 'symbol' ? `[${name.description ?? 'symbol'}]` : String(name);
}

/**
 * Marks an instance method as the handler of `event`. The method is called with the event
 * (`{ id, name, data, source, createdAt, attempt }`); it may be stacked for several events.
 */
export function on(event: string): OnDecorator {
  if (typeof event !== 'string' || event.trim() === '') {
    throw new OpenClawError('agent_invalid', `@on() needs an event name, e.g. @on('data_collected'); got ${JSON.stringify(event)}`, { status: 400 });
  }

  function decorator(a: unknown, b: unknown, c?: unknown): void {
    if (isStandardContext(b)) {
      standard(event, a, b);
    } else {
      legacy(event, a, b as string | symbol, c as PropertyDescriptor | undefined);
    }
  }
  return decorator as OnDecorator;
}

function standard(event: string, value: unknown, ctx: StandardContext): void {
  const label = memberLabel(ctx.name);
  let problem: string | null = null;
  if (ctx.kind !== 'method') problem = `@on('${event}') is on the ${ctx.kind} '${label}'; it must decorate an instance method`;
  else if (ctx.static) problem = `@on('${event}') is on the static method '${label}'; it must decorate an instance method`;
  else if (ctx.private || typeof ctx.name !== 'string') problem = `@on('${event}') is on the private method '${label}'; the runtime calls handlers by name, so use a public method`;

  const meta = ctx.metadata;
  if (meta && typeof meta === 'object') {
    const rec = ownRecords(meta, true);
    if (problem) rec.errors.push(problem);
    else rec.handlers.push({ event, method: ctx.name as string });
    return;
  }
  if (problem) throw new OpenClawError('agent_invalid', problem, { status: 400 });
  tagFunction(value, event);
}

function legacy(event: string, target: unknown, key: string | symbol, descriptor: PropertyDescriptor | undefined): void {
  const label = memberLabel(key);
  if (typeof target === 'function') {
    ownRecords(target, true).errors.push(`@on('${event}') is on the static method '${label}'; it must decorate an instance method`);
    return;
  }
  if (target === null || typeof target !== 'object') {
    throw new OpenClawError('agent_invalid', `@on('${event}') can only decorate methods of an Agent subclass`, { status: 400 });
  }
  const cls = (target as { constructor: object }).constructor;
  const rec = ownRecords(cls, true);
  if (!descriptor || typeof descriptor.value !== 'function') {
    const what = descriptor && (descriptor.get || descriptor.set) ? 'accessor' : 'field';
    rec.errors.push(`@on('${event}') is on the ${what} '${label}'; it must decorate an instance method`);
    return;
  }
  if (typeof key !== 'string') {
    rec.errors.push(`@on('${event}') is on the symbol-named method '${label}'; the runtime calls handlers by name, so use a string name`);
    return;
  }
  rec.handlers.push({ event, method: key });
}

function tagFunction(fn: unknown, event: string): void {
  if (typeof fn !== 'function') return;
  const f = fn as unknown as Record<symbol, string[]>;
  if (!Object.prototype.hasOwnProperty.call(f, HANDLER_TAG)) {
    Object.defineProperty(f, HANDLER_TAG, { value: [], enumerable: false });
  }
  f[HANDLER_TAG]!.push(event);
}

// ---- @job ----------------------------------------------------------------------------------------

export type JobDecorator = OnDecorator;

/**
 * Marks an instance method as the handler of the job queue `name`:
 *
 *   @job('resize-image', { concurrency: 4, rateLimit: '100/min' })
 *   async resize(payload: { file: string }, job: JobInfo) { ... }
 *
 * The method runs as a run transaction in the agent's instance: its state writes, emits and
 * enqueues commit together with the job's completion. Throwing fails the attempt (retried with
 * backoff, then dead-lettered). The `jobs:` section of openclaw.yaml overrides these options.
 */
export function job(name: string, options: JobHandlerOptions = {}): JobDecorator {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new OpenClawError('agent_invalid', `@job() needs a queue name, e.g. @job('resize-image'); got ${JSON.stringify(name)}`, { status: 400 });
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new OpenClawError('agent_invalid', `@job('${name}', options): options must be an object such as { concurrency: 4, rateLimit: '100/min' }`, { status: 400 });
  }
  const opts = { ...options };
  function decorator(a: unknown, b: unknown, c?: unknown): void {
    const what = `@job('${name}')`;
    if (isStandardContext(b)) {
      const label = memberLabel(b.name);
      let problem: string | null = null;
      if (b.kind !== 'method') problem = `${what} is on the ${b.kind} '${label}'; it must decorate an instance method`;
      else if (b.static) problem = `${what} is on the static method '${label}'; it must decorate an instance method`;
      else if (b.private || typeof b.name !== 'string') problem = `${what} is on the private method '${label}'; the runtime calls handlers by name, so use a public method`;
      const meta = b.metadata;
      if (meta && typeof meta === 'object') {
        const rec = ownRecords(meta, true);
        if (problem) rec.errors.push(problem);
        else (rec.jobs ??= []).push({ name, method: b.name as string, options: opts });
        return;
      }
      if (problem) throw new OpenClawError('agent_invalid', problem, { status: 400 });
      if (typeof a === 'function') {
        const f = a as unknown as Record<symbol, unknown>;
        if (!Object.prototype.hasOwnProperty.call(f, JOB_TAG)) Object.defineProperty(f, JOB_TAG, { value: [], enumerable: false });
        (f[JOB_TAG] as Array<{ name: string; options: JobHandlerOptions }>).push({ name, options: opts });
      }
      return;
    }
    const key = b as string | symbol;
    const label = memberLabel(key);
    if (typeof a === 'function') {
      ownRecords(a, true).errors.push(`${what} is on the static method '${label}'; it must decorate an instance method`);
      return;
    }
    if (a === null || typeof a !== 'object') throw new OpenClawError('agent_invalid', `${what} can only decorate methods of an Agent subclass`, { status: 400 });
    const rec = ownRecords((a as { constructor: object }).constructor, true);
    const descriptor = c as PropertyDescriptor | undefined;
    if (!descriptor || typeof descriptor.value !== 'function') {
      rec.errors.push(`${what} is on the ${descriptor && (descriptor.get || descriptor.set) ? 'accessor' : 'field'} '${label}'; it must decorate an instance method`);
      return;
    }
    if (typeof key !== 'string') {
      rec.errors.push(`${what} is on the symbol-named method '${label}'; the runtime calls handlers by name, so use a string name`);
      return;
    }
    (rec.jobs ??= []).push({ name, method: key, options: opts });
  }
  return decorator as JobDecorator;
}

/** What `@window(name, spec)` declares: a window over a stream declared in openclaw.yaml. */
export interface WindowDeclaration {
  stream: string;
  type: 'tumbling' | 'hopping' | 'session';
  size?: string | number;
  slide?: string | number;
  gap?: string | number;
  /** Output name → 'count' | 'sum(F)' | 'distinct(F)' | 'approx_distinct(F)' | … | { op, field, where }. */
  aggregate?: Record<string, string | { op: string; field?: string; where?: Record<string, unknown> }>;
  /** A user reducer; pure functions (they run in the daemon, compiled from their source, without Node APIs). */
  reduce?: { init?: unknown; step: ((acc: any, event: any) => unknown) | string; merge?: ((a: any, b: any) => unknown) | string };
  allowedLateness?: string | number;
  grace?: string | number;
  idleTimeout?: string | number;
  emit?: 'on_update' | 'on_window_close';
  retention?: string | number;
}

/**
 * Declares a window and makes the method its handler: `@window('errors_per_minute', { stream:
 * 'logs', type: 'tumbling', size: '1m', aggregate: { n: 'count' } })` — the method receives each
 * result as the event `window:errors_per_minute` (like `@on('window:errors_per_minute')`).
 */
export function window(name: string, spec: WindowDeclaration): OnDecorator {
  if (typeof name !== 'string' || name.trim() === '' || !spec || typeof spec !== 'object') {
    throw new OpenClawError('agent_invalid', `@window(name, spec) needs a window name and a spec such as { stream: 'logs', type: 'tumbling', size: '1m', aggregate: { n: 'count' } }`, { status: 400 });
  }
  const plain: Record<string, unknown> = { ...spec };
  if (spec.reduce) {
    const src = (f: unknown) => (typeof f === 'function' ? f.toString() : f);
    plain.reduce = { ...spec.reduce, step: src(spec.reduce.step), ...(spec.reduce.merge ? { merge: src(spec.reduce.merge) } : {}) };
  }
  const handler = on(`window:${name}`);
  function decorator(a: unknown, b: unknown, c?: unknown): void {
    (handler as (a: unknown, b: unknown, c?: unknown) => void)(a, b, c);
    if (isStandardContext(b)) {
      if (b.kind === 'method' && !b.static && typeof b.name === 'string' && b.metadata && typeof b.metadata === 'object') {
        (ownRecords(b.metadata, true).windows ??= []).push({ name, method: b.name, spec: plain });
      }
      return;
    }
    if (a !== null && typeof a === 'object' && typeof b === 'string') {
      (ownRecords((a as { constructor: object }).constructor, true).windows ??= []).push({ name, method: b, spec: plain });
    }
  }
  return decorator as OnDecorator;
}
