// What each step type does once the engine has decided to run it, with its `${{ }}` parameters
// already rendered: a shell command, an HTTP request, an LLM prompt, an agent method. (Approval
// gates and sub-workflows are states of the engine, not executions, and live there.)
// Each executor honours `signal` (cancel, timeout) and throws StepFailure with a message that says
// what went wrong; its return value is the step's output.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { baseEnv } from '../runtime/sandbox.js';
import { OpenClawError } from '../util/errors.js';
import type { DaemonServices } from '../contracts/modules.js';
import { dispatcherFor, findNetworkBlocked } from '../security/guardrails/network.js';
import type { NetworkPolicyConfig } from '../security/guardrails/network-rules.js';
import { DEFAULT_NETWORK } from '../security/guardrails/worker.js';
import type { StepDef } from './config.js';

/**
 * undici (its fetch takes the guarded dispatcher) is required with the first HTTP step: ≈ 110
 * files and 4.7 MB of heap that a daemon without HTTP steps never needs (idle RSS, issue 10).
 */
const undici = () => createRequire(import.meta.url)('undici') as typeof import('undici');

export class StepFailure extends OpenClawError {
  /** `final`: another attempt cannot succeed (no such method, a refused address): retries are not spent. */
  constructor(message: string, readonly output?: unknown, readonly final = false) {
    super('step_failed', message);
  }
}

/** What an agent step's method receives as its second argument (`meta`): enough to key its effects. */
export interface AgentStepMeta {
  workflow: string;
  run: string;
  step: string;
  attempt: number;
}

export interface ExecContext {
  /** Aborted on cancel and on the step's timeout. */
  signal: AbortSignal;
  /** The project root: relative shell cwds resolve against it. */
  root: string;
  workflow: string;
  runId: string;
  stepKey: string;
  services: DaemonServices;
  /** A shell step's process group leader, recorded so a restarted daemon can kill an orphan. */
  onSpawn?(pid: number, startTime: string | null): Promise<void>;
  /** The project's network policy (security.sandbox) for http steps; default: cloud metadata blocked. */
  network?: NetworkPolicyConfig;
  /** This execution's attempt (1 = first). */
  attempt: number;
  /**
   * The agent method call (AgentController.call); absent when the engine runs without agents.
   * Throws StepFailure (final when retrying cannot help: no such agent or method).
   */
  callAgent?(agent: string, method: string, payload: unknown, opts: { signal: AbortSignal; meta: AgentStepMeta; deadlineMs?: number }): Promise<unknown>;
  deadlineMs?: number;
}

type Params<T extends StepDef['type']> = Extract<StepDef, { type: T }>;

export async function execute(step: StepDef, params: Record<string, unknown>, ctx: ExecContext): Promise<unknown> {
  switch (step.type) {
    case 'shell':
      return runShell(params as Params<'shell'>, ctx);
    case 'http':
      return runHttp(params as Params<'http'>, ctx);
    case 'llm':
      return runLlm(params as Params<'llm'>, ctx);
    case 'agent':
      if (!ctx.callAgent) throw new StepFailure(`agent '${String(params.agent)}' is not an agent of this project`, undefined, true);
      return ctx.callAgent(String(params.agent), String(params.method), params.payload ?? null, {
        signal: ctx.signal,
        meta: { workflow: ctx.workflow, run: ctx.runId, step: ctx.stepKey, attempt: ctx.attempt },
        deadlineMs: ctx.deadlineMs,
      });
    default:
      throw new StepFailure(`step type '${step.type}' is not executed directly`);
  }
}

/** Linux: the process's start time in clock ticks (field 22 of /proc/PID/stat), to tell a reused pid apart. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Kills a step's process group left behind by a daemon that died, if it is still that process. */
export function killOrphan(pid: number, startTime: string | null): boolean {
  const now = processStartTime(pid);
  if (now === null || (startTime !== null && now !== startTime)) return false;
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

class Capped {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) {
      this.truncated += b.length;
      return;
    }
    const take = b.length <= room ? b : b.subarray(0, room);
    this.chunks.push(take);
    this.size += take.length;
    this.truncated += b.length - take.length;
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.truncated > 0 ? `${s}\n[… ${this.truncated} more bytes not kept (max_output)]` : s;
  }
}

async function runShell(p: Params<'shell'>, ctx: ExecContext): Promise<unknown> {
  // A whole-value template may have rendered a list or an object: the process gets it as JSON.
  const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? '');
  const argv = typeof p.command === 'string' ? ['/bin/sh', '-c', p.command] : (p.command as unknown[]).map(text);
  const env = Object.fromEntries(Object.entries(p.env ?? {}).map(([k, v]) => [k, text(v)]));
  const cwd = p.cwd ? path.resolve(ctx.root, p.cwd) : ctx.root;
  if (!fs.existsSync(cwd)) throw new StepFailure(`cwd ${cwd} does not exist`);
  const started = Date.now();
  // Its own process group, so a timeout or cancel kills whatever the command started too.
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    // Never the daemon's environment (its master key, provider keys): the base and the step's env.
    env: { ...baseEnv(), ...env, OPENCLAW_WORKFLOW: ctx.workflow, OPENCLAW_WORKFLOW_RUN: ctx.runId, OPENCLAW_WORKFLOW_STEP: ctx.stepKey },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const out = new Capped(p.max_output);
  const err = new Capped(p.max_output);
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  let killedFor: string | null = null;
  const killGroup = (why: string) => {
    if (killedFor || child.pid === undefined || child.exitCode !== null) return;
    killedFor = why;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 2000).unref();
  };
  // Listen for the end now: a fast command may be gone before onSpawn's write returns.
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  const onAbort = () => killGroup(String((ctx.signal.reason as Error)?.message ?? 'cancelled'));
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    try {
      await spawned;
    } catch (e) {
      throw new StepFailure(`cannot start ${JSON.stringify(argv[0])}: ${(e as Error).message}`);
    }
    if (child.pid !== undefined) await ctx.onSpawn?.(child.pid, processStartTime(child.pid));
    if (ctx.signal.aborted) onAbort();
    const [code, signal] = await closed;
    const output = { exit_code: code, stdout: out.text(), stderr: err.text(), duration_ms: Date.now() - started };
    if (killedFor) throw new StepFailure(`command stopped: ${killedFor}`, output);
    if (code !== 0) {
      const tail = output.stderr.trim().split('\n').slice(-3).join(' | ');
      throw new StepFailure(`command exited with ${code ?? signal}${tail ? `: ${tail.slice(0, 300)}` : ''}`, output);
    }
    const trimmed = output.stdout.trim();
    let parsed: unknown;
    if (/^[[{]/.test(trimmed)) {
      try {
        parsed = JSON.parse(trimmed);
      } catch {
        parsed = undefined;
      }
    }
    return parsed === undefined ? output : { ...output, json: parsed };
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

async function runHttp(p: Params<'http'>, ctx: ExecContext): Promise<unknown> {
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    throw new StepFailure(`url ${JSON.stringify(p.url)} is not an absolute URL`, undefined, true);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new StepFailure(`url must be http or https, got ${url.protocol}`, undefined, true);
  const where = `${p.method} ${url.origin}${url.pathname}`;
  // A whole-value template may have rendered a number or a list into a header: send its text.
  const headers: Record<string, string> = Object.fromEntries(Object.entries(p.headers ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v) ?? '']));
  let body: string | undefined;
  if (p.body !== undefined && p.method !== 'GET' && p.method !== 'HEAD') {
    if (typeof p.body === 'string') body = p.body;
    else {
      body = JSON.stringify(p.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
  }
  const stopped = () => new StepFailure(`${where}: request stopped: ${String((ctx.signal.reason as Error)?.message ?? 'cancelled')}`);
  // The project's network policy (security.sandbox), as for agents' HTTP: the address checked is
  // the address connected to, redirects included; cloud metadata is refused unless allowed exactly.
  const dispatcher = dispatcherFor(ctx.network ?? DEFAULT_NETWORK);
  let res: Awaited<ReturnType<typeof import('undici').fetch>>;
  try {
    res = await undici().fetch(url, { method: p.method, headers, body, signal: ctx.signal, redirect: 'follow', dispatcher });
  } catch (err) {
    const blocked = findNetworkBlocked(err);
    if (blocked) throw new StepFailure(`${where}: ${blocked.message}`, undefined, true);
    if (ctx.signal.aborted) throw stopped();
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new StepFailure(`${where} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > p.max_response) {
          await res.body.cancel().catch(() => undefined);
          throw new StepFailure(`response of ${where} is over max_response (${p.max_response} bytes)`);
        }
        chunks.push(Buffer.from(chunk));
      }
    }
  } catch (err) {
    if (err instanceof StepFailure) throw err;
    if (ctx.signal.aborted) throw stopped();
    throw new StepFailure(`${where}: reading the response failed: ${(err as Error).message}`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  const output = { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: parsed };
  // Redirects were followed: what is left outside 2xx (an error, a 304, a redirect without
  // Location) did not deliver what the step asked for.
  if (res.status < 200 || res.status >= 300) throw new StepFailure(`${where} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, output);
  return output;
}

async function runLlm(p: Params<'llm'>, ctx: ExecContext): Promise<unknown> {
  const llm = ctx.services.llm;
  if (!llm) throw new StepFailure('llm not configured: an llm step needs an llm: section in openclaw.yaml (providers and models)');
  if (!p.prompt && !p.messages?.length) throw new StepFailure('an llm step needs a prompt or messages');
  const messages = [...(p.system ? [{ role: 'system', content: p.system }] : []), ...(p.messages ?? []), ...(p.prompt ? [{ role: 'user', content: p.prompt }] : [])];
  const request: Record<string, unknown> = { messages, model: p.model, maxTokens: p.max_tokens, temperature: p.temperature, json: p.json, signal: ctx.signal };
  try {
    const r = await llm.complete(request, { workflow: ctx.workflow });
    return { text: r.text, json: r.json, model: r.model, usage: r.usage };
  } catch (err) {
    throw new StepFailure(`llm call failed: ${(err as Error).message}`);
  }
}
