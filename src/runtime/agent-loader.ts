// Worker side: import an agent module, pick its Agent class, and describe it.
import { pathToFileURL } from 'node:url';
import type { AgentDescription } from './protocol.js';
import type { ScheduleSpec } from '../scheduler/types.js';
import { OpenClawError } from '../util/errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AgentClass = (new () => any) & Record<string, unknown>;

export class AgentModuleError extends OpenClawError {
  constructor(file: string, message: string, cause?: unknown) {
    super('agent_module_invalid', `${file}: ${message}`, { status: 400, exitCode: 78, cause });
  }
}

export interface Sdk {
  /** The SDK's Agent base class, or null when the SDK does not export one. */
  Agent: AgentClass | null;
  isAgentClass: (v: unknown) => v is AgentClass;
  describe: (cls: AgentClass) => AgentDescription;
}

/**
 * Loads the daemon's own SDK (the module agent code gets for `import … from 'openclaw-runtime'`) and takes
 * from it how to recognise and describe an Agent class (`isAgentClass`, `describeAgentClass`), so
 * that decorators and the runtime agree. Falls back to `instanceof Agent` and a reader of
 * `static schedule` / `static handlers` for an SDK without them.
 */
export async function loadSdk(indexUrl: string): Promise<Sdk> {
  let mod: Record<string, unknown> = {};
  try {
    mod = (await import(indexUrl)) as Record<string, unknown>;
  } catch {
    // no SDK: any exported class is taken as the agent
  }
  const Agent = typeof mod.Agent === 'function' ? (mod.Agent as AgentClass) : null;
  const isAgentClass =
    typeof mod.isAgentClass === 'function'
      ? (mod.isAgentClass as (v: unknown) => v is AgentClass)
      : (v: unknown): v is AgentClass => isClass(v) && v !== Agent && (Agent ? v.prototype instanceof Agent : true);
  const describe =
    typeof mod.describeAgentClass === 'function'
      ? (mod.describeAgentClass as (cls: AgentClass) => AgentDescription)
      : (cls: AgentClass) => describeFallback(cls, Agent);
  return { Agent, isAgentClass, describe };
}

function isClass(v: unknown): v is AgentClass {
  return typeof v === 'function' && typeof (v as { prototype?: unknown }).prototype === 'object';
}

/** Imports the module and returns the Agent class it exports; errors name the file. */
export async function loadAgentClass(file: string, exportName: string | undefined, sdk: Sdk, compiled?: string): Promise<AgentClass> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(compiled ?? file).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error;
    throw new AgentModuleError(file, `failed to load the agent module: ${e?.message ?? String(err)}`, err);
  }
  const hint = "export a class that extends Agent from 'openclaw-runtime', e.g. `export default class MyAgent extends Agent { … }`";
  if (exportName) {
    const v = mod[exportName];
    if (v === undefined) throw new AgentModuleError(file, `has no export named '${exportName}'; exports: ${Object.keys(mod).join(', ') || '(none)'}`);
    if (!sdk.isAgentClass(v)) throw new AgentModuleError(file, `export '${exportName}' is not a subclass of Agent; ${hint}`);
    return v;
  }
  if (sdk.isAgentClass(mod.default)) return mod.default;
  const candidates = Object.entries(mod).filter(([k, v]) => k !== 'default' && sdk.isAgentClass(v));
  if (candidates.length === 1) return candidates[0]![1] as AgentClass;
  if (candidates.length > 1) {
    throw new AgentModuleError(file, `exports several Agent subclasses (${candidates.map(([k]) => k).join(', ')}); make one the default export or set \`export:\` in openclaw.yaml`);
  }
  throw new AgentModuleError(file, `exports no Agent subclass; ${hint}`);
}

/** Until the SDK ships describeAgentClass: `static schedule`, `static handlers`, probe methods. */
export function describeFallback(cls: AgentClass, Agent: AgentClass | null): AgentDescription {
  const schedule = (cls.schedule ?? null) as ScheduleSpec | null;
  const handlers: Array<{ event: string; method: string }> = [];
  const raw = cls.handlers;
  if (Array.isArray(raw)) {
    for (const h of raw) if (h && typeof h.event === 'string' && typeof h.method === 'string') handlers.push({ event: h.event, method: h.method });
  } else if (raw && typeof raw === 'object') {
    for (const [event, m] of Object.entries(raw as Record<string, string | string[]>)) {
      for (const method of Array.isArray(m) ? m : [m]) handlers.push({ event, method });
    }
  }
  const own = (name: string) => {
    const f = (cls.prototype as Record<string, unknown>)[name];
    return typeof f === 'function' && (!Agent || f !== (Agent.prototype as Record<string, unknown>)[name]);
  };
  return { className: cls.name, schedule, handlers, hasLiveness: own('liveness'), hasReadiness: own('readiness') };
}
