// The worker half of the agent sandbox (src/runtime/sandbox.ts is the daemon half): before an
// agent module loads, its declared environment replaces the worker's copy of process.env (a
// worker's process.env is its own), and the project's network policy becomes the policy of the
// socket guard for every connection this isolate opens, module top-level code included.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { AgentSpec } from './protocol.js';
import { DEFAULT_NETWORK } from '../security/guardrails/worker.js';
import type { NetworkPolicyConfig } from '../security/guardrails/network-rules.js';

let network: NetworkPolicyConfig = DEFAULT_NETWORK;

export function sandboxNetwork(): NetworkPolicyConfig {
  return network;
}

export function applySandbox(spec: AgentSpec): void {
  if (spec.guardrails) network = spec.guardrails.network;
  // Shared workers hold several agents in one isolate: they keep the host's base environment.
  if (spec.env && spec.isolation !== 'shared') Object.assign(process.env, spec.env);
}

/** The permission-model flags of this process (or worker): what every new worker must carry. */
export function permissionExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  // With the host's --disable-warning flags: otherwise each worker prints the permission model's
  // Experimental/Security warnings into the agent's log.
  return execArgv.filter((a) => a === '--experimental-permission' || a.startsWith('--allow-') || a.startsWith('--disable-warning='));
}

/**
 * Node 20 drops the permission model in a worker started with an explicit `execArgv` that lacks
 * its flags (`new Worker(f, { execArgv: [] })` reads any file). Agent code may start workers, so
 * in a sandboxed isolate every Worker gets this isolate's permission flags appended, and the
 * original constructor is not reachable through the wrapper's prototype.
 */
export function lockWorkerPermissions(): void {
  const flags = permissionExecArgv();
  if (flags.length === 0) return;
  const wt = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  const Original = wt.Worker;
  if ((Original as unknown as { [k: symbol]: boolean })[LOCKED]) return;
  function Worker(this: unknown, filename: string | URL, options: import('node:worker_threads').WorkerOptions = {}) {
    if (!new.target) throw new TypeError("Class constructor Worker cannot be invoked without 'new'");
    const execArgv = options.execArgv === undefined ? undefined : [...options.execArgv.filter((a) => !permissionExecArgv([a]).length), ...flags];
    return Reflect.construct(Original, [filename, { ...options, ...(execArgv ? { execArgv } : {}) }], new.target);
  }
  Worker.prototype = Original.prototype;
  Object.defineProperty(Original.prototype, 'constructor', { value: Worker, writable: false, configurable: false });
  Object.defineProperty(Worker, LOCKED, { value: true });
  wt.Worker = Worker as unknown as typeof Original;
  syncBuiltinESMExports();
}
const LOCKED = Symbol.for('openclaw.workerPermissionsLocked');
