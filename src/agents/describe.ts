// Reads what an Agent class declares — schedule, event handlers, probes — from the class alone,
// without constructing it. The runtime calls this right after loading a module and reports the
// AgentDescription to the daemon; every mistake in the declarations surfaces here, all at once,
// as one error naming the class and the member.
import type { AgentDescription } from '../runtime/protocol.js';
import type { ScheduleSpec } from '../scheduler/types.js';
import { OpenClawError } from '../util/errors.js';
import { AGENT_CLASS_BRAND, type AgentClass } from './agent.js';
import { HANDLER_TAG, JOB_TAG, METADATA, ownRecords } from './decorators.js';
import { checkHandlerOptions, type JobHandlerOptions } from '../jobs/policy.js';
import { Schedule, isScheduleSpec } from './schedule.js';

export class AgentDefinitionError extends OpenClawError {
  readonly problems: string[];
  constructor(className: string, problems: string[]) {
    super('agent_invalid', `agent class ${className}: ${problems.length === 1 ? problems[0] : `\n  - ${problems.join('\n  - ')}`}`, {
      status: 400,
      exitCode: 78,
      details: problems,
    });
    this.problems = problems;
  }
}

/** True for a subclass of Agent (from any copy of the SDK); false for Agent itself and anything else. */
export function isAgentClass(x: unknown): x is AgentClass {
  return (
    typeof x === 'function' &&
    (x as unknown as Record<symbol, unknown>)[AGENT_CLASS_BRAND] === true &&
    !Object.prototype.hasOwnProperty.call(x, AGENT_CLASS_BRAND)
  );
}

/** The classes from `cls` up to (not including) the SDK's Agent base, base-most first. */
function lineage(cls: Function): Function[] {
  const chain: Function[] = [];
  for (let c: unknown = cls; typeof c === 'function' && !Object.prototype.hasOwnProperty.call(c, AGENT_CLASS_BRAND); c = Object.getPrototypeOf(c)) {
    chain.unshift(c as Function);
  }
  return chain;
}

function findMethod(cls: Function, name: string): 'method' | 'other' | 'missing' {
  for (let p: object | null = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (d) return typeof d.value === 'function' ? 'method' : 'other';
  }
  return 'missing';
}

const RESERVED = new Set(['constructor', 'setup', 'run', 'teardown', 'onError', 'liveness', 'readiness', '__attach', 'emit']);

export function describeAgentClass(cls: unknown): AgentDescription {
  if (!isAgentClass(cls)) {
    const what = typeof cls === 'function' ? `class ${cls.name || '(anonymous)'}` : JSON.stringify(typeof cls);
    throw new OpenClawError('agent_invalid', `${what} does not extend Agent; write \`export default class MyAgent extends Agent { … }\` with Agent imported from 'openclaw-runtime'`, {
      status: 400,
      exitCode: 78,
    });
  }
  const className = cls.name || '(anonymous agent class)';
  const problems: string[] = [];
  const chain = lineage(cls);

  // ---- schedule
  let schedule: ScheduleSpec | null = null;
  const rawSchedule = (cls as { schedule?: unknown }).schedule;
  if (rawSchedule !== undefined && rawSchedule !== null) {
    if (typeof rawSchedule === 'string') {
      try {
        schedule = Schedule.parse(rawSchedule);
      } catch (err) {
        problems.push(`static schedule '${rawSchedule}': ${(err as Error).message}`);
      }
    } else if (isScheduleSpec(rawSchedule)) {
      schedule = { ...rawSchedule };
    } else {
      problems.push(`static schedule must be built with Schedule.every(), Schedule.cron() or Schedule.daily() (or be a string like 'every 5m'), got ${safeJson(rawSchedule)}`);
    }
  }

  // ---- handlers, base class first so a subclass's order follows its parent's
  const handlers: Array<{ event: string; method: string; from: string }> = [];
  const jobDecls: Array<{ name: string; method: string; options: JobHandlerOptions; from: string }> = [];
  const windows: Array<{ name: string; method: string; spec: Record<string, unknown> }> = [];
  for (const c of chain) {
    const label = c.name || '(anonymous)';
    const holders: object[] = [c];
    if (Object.prototype.hasOwnProperty.call(c, METADATA)) {
      const meta = (c as unknown as Record<symbol, unknown>)[METADATA];
      if (meta && typeof meta === 'object') holders.push(meta);
    }
    for (const h of holders) {
      const rec = ownRecords(h);
      if (!rec) continue;
      for (const e of rec.errors) problems.push(label === className ? e : `${e} (in ${label})`);
      for (const hd of rec.handlers) handlers.push({ ...hd, from: `@on('${hd.event}') ${label}.${hd.method}` });
      for (const j of rec.jobs ?? []) jobDecls.push({ ...j, from: `@job('${j.name}') ${label}.${j.method}` });
      for (const w of rec.windows ?? []) if (!windows.some((x) => x.name === w.name)) windows.push({ ...w });
    }
    // Fallback: standard decorators compiled without metadata tag the method function itself.
    for (const key of Object.getOwnPropertyNames(c.prototype)) {
      const d = Object.getOwnPropertyDescriptor(c.prototype, key);
      const tags = typeof d?.value === 'function' ? ((d.value as unknown as Record<symbol, unknown>)[HANDLER_TAG] as string[] | undefined) : undefined;
      for (const event of tags ?? []) handlers.push({ event, method: key, from: `@on('${event}') ${label}.${key}` });
      const jobTags = typeof d?.value === 'function' ? ((d.value as unknown as Record<symbol, unknown>)[JOB_TAG] as Array<{ name: string; options: JobHandlerOptions }> | undefined) : undefined;
      for (const j of jobTags ?? []) jobDecls.push({ name: j.name, method: key, options: j.options, from: `@job('${j.name}') ${label}.${key}` });
    }
    if (Object.prototype.hasOwnProperty.call(c, 'jobs')) {
      const map = (c as { jobs?: unknown }).jobs;
      if (map === null || typeof map !== 'object' || Array.isArray(map)) {
        problems.push(`static jobs of ${label} must map queue names to a method name or { method, ...options }, e.g. { 'resize-image': 'resize' }; got ${safeJson(map)}`);
      } else {
        for (const [name, target] of Object.entries(map as Record<string, unknown>)) {
          const from = `static jobs of ${label}: '${name}'`;
          if (typeof target === 'string' && target !== '') {
            jobDecls.push({ name, method: target, options: {}, from });
          } else if (target && typeof target === 'object' && !Array.isArray(target) && typeof (target as { method?: unknown }).method === 'string') {
            const { method, ...options } = target as { method: string } & JobHandlerOptions;
            jobDecls.push({ name, method, options, from });
          } else {
            problems.push(`${from} must name a method, or be { method: 'name', concurrency: 4, ... }; got ${safeJson(target)}`);
          }
        }
      }
    }
    if (Object.prototype.hasOwnProperty.call(c, 'handlers')) {
      const map = (c as { handlers?: unknown }).handlers;
      if (map === null || typeof map !== 'object' || Array.isArray(map)) {
        problems.push(`static handlers of ${label} must map event names to method names, e.g. { data_collected: 'analyze' }; got ${safeJson(map)}`);
        continue;
      }
      for (const [event, target] of Object.entries(map as Record<string, unknown>)) {
        const methods = Array.isArray(target) ? target : [target];
        if (event.trim() === '') problems.push(`static handlers of ${label}: an event name is empty`);
        for (const m of methods) {
          if (typeof m !== 'string' || m === '') {
            problems.push(`static handlers of ${label}: '${event}' must name a method (or a list of method names), got ${safeJson(m)}`);
            continue;
          }
          handlers.push({ event, method: m, from: `static handlers of ${label}: '${event}' → '${m}'` });
        }
      }
    }
  }

  const seen = new Set<string>();
  const out: Array<{ event: string; method: string }> = [];
  for (const h of handlers) {
    const found = findMethod(cls, h.method);
    if (found === 'missing') {
      problems.push(`${h.from}: ${className} has no method '${h.method}'`);
      continue;
    }
    if (found === 'other') {
      problems.push(`${h.from}: '${h.method}' is not a method of ${className}`);
      continue;
    }
    if (RESERVED.has(h.method)) {
      problems.push(`${h.from}: '${h.method}' is a lifecycle method of Agent and cannot also be an event handler`);
      continue;
    }
    const k = `${h.event}\u0000${h.method}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ event: h.event, method: h.method });
  }

  const jobs: Array<{ name: string; method: string; options: JobHandlerOptions }> = [];
  const jobNames = new Map<string, string>();
  for (const j of jobDecls) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(j.name)) {
      problems.push(`${j.from}: '${j.name}' is not a queue name (letters, digits, . _ : -, up to 128)`);
      continue;
    }
    const found = findMethod(cls, j.method);
    if (found !== 'method') {
      problems.push(`${j.from}: ${found === 'missing' ? `${className} has no method '${j.method}'` : `'${j.method}' is not a method of ${className}`}`);
      continue;
    }
    if (RESERVED.has(j.method)) {
      problems.push(`${j.from}: '${j.method}' is a lifecycle method of Agent and cannot also be a job handler`);
      continue;
    }
    for (const p of checkHandlerOptions(j.options)) problems.push(`${j.from}: ${p}`);
    const prev = jobNames.get(j.name);
    if (prev !== undefined) {
      // A subclass may re-declare its parent's queue: the last (most derived) one wins.
      if (prev !== j.method) jobs.splice(jobs.findIndex((x) => x.name === j.name), 1);
      else continue;
    }
    jobNames.set(j.name, j.method);
    jobs.push({ name: j.name, method: j.method, options: { ...j.options } });
  }

  if (problems.length > 0) throw new AgentDefinitionError(className, problems);

  const overrides = (method: string) => chain.some((c) => Object.prototype.hasOwnProperty.call(c.prototype, method));
  return {
    className,
    schedule,
    handlers: out,
    ...(jobs.length > 0 ? { jobs } : {}),
    ...(windows.length > 0 ? { windows } : {}),
    hasLiveness: overrides('liveness'),
    hasReadiness: overrides('readiness'),
  };
}

function safeJson(v: unknown): string {
  try {
    return typeof v === 'function' ? `a function` : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Picks the Agent class out of a loaded module: `exportName` if given, else the default export,
 * else the only exported Agent subclass. Throws a clear error naming the file otherwise.
 */
export function findAgentClass(mod: Record<string, unknown>, file: string, exportName?: string): AgentClass {
  if (exportName) {
    const c = mod[exportName];
    if (isAgentClass(c)) return c;
    throw new OpenClawError('agent_invalid', `${file}: export '${exportName}' ${c === undefined ? 'does not exist' : 'is not an Agent subclass'}`, { status: 400, exitCode: 78 });
  }
  if (isAgentClass(mod.default)) return mod.default;
  const found = Object.entries(mod).filter(([, v]) => isAgentClass(v));
  const distinct = [...new Set(found.map(([, v]) => v))];
  if (distinct.length === 1) return distinct[0] as AgentClass;
  if (distinct.length === 0) {
    throw new OpenClawError('agent_invalid', `${file}: no Agent subclass is exported; add \`export default class MyAgent extends Agent { … }\``, { status: 400, exitCode: 78 });
  }
  throw new OpenClawError(
    'agent_invalid',
    `${file}: exports several Agent classes (${found.map(([k]) => k).join(', ')}); make one the default export or set export: in openclaw.yaml`,
    { status: 400, exitCode: 78 },
  );
}
