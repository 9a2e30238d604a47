// The openclaw.yaml schema (zod v3). Objects are strict so unknown keys are reported; leaf values
// go through small custom parsers so every message says what is accepted and what was found.
// Sections may be written empty (`logging:` with everything commented out): null means "defaults".
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type {
  AgentPermissions,
  AgentConfig,
  CommandSpec,
  EventDeliveryConfig,
  GracefulShutdownConfig,
  HealthCheckConfig,
  LoggingConfig,
  LogLevel,
  ProbeConfig,
  ResourcesConfig,
  RestartPolicyConfig,
  StoreConfig,
  BusConfig,
} from './types.js';
import type { ScheduleSpec } from '../scheduler/types.js';
import { OpenClawError } from '../util/errors.js';
import { suggest } from './suggest.js';
import {
  parseDailyTime,
  parseDuration,
  parseEvery,
  parseSchedule,
  parseSize,
  splitCommandLine,
  validateCron,
  validateTimeZone,
} from './units.js';

export type Path = (string | number)[];

/** Custom issues carry this in `params` so the loader points at the key instead of the value. */
export interface IssueParams {
  atKey?: boolean;
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const near = suggest(key, allowed);
  if (near) return `unknown key \`${key}\` (did you mean \`${near}\`?)`;
  return `unknown key \`${key}\`; allowed here: ${allowed.join(', ')}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Reporter {
  /** Records an issue; `at` is relative to the field, `atKey` points at the key's position. */
  issue(message: string, at?: Path, atKey?: boolean): void;
}

class Fail extends Error {}

/**
 * A leaf parsed by hand. `fn` reports as many issues as it finds (or throws Fail / a BadRequestError
 * from units.ts for one); any issue makes the field invalid.
 */
function field<T>(fn: (v: unknown, r: Reporter) => T): z.ZodType<T, z.ZodTypeDef, unknown> {
  return z.unknown().transform((v, ctx) => {
    let failed = false;
    const r: Reporter = {
      issue(message, at = [], atKey = false) {
        failed = true;
        ctx.addIssue({ code: z.ZodIssueCode.custom, message, path: at, params: { atKey } satisfies IssueParams });
      },
    };
    try {
      const out = fn(v, r);
      return failed ? z.NEVER : out;
    } catch (err) {
      if (err instanceof Fail || err instanceof OpenClawError) {
        r.issue(err.message);
        return z.NEVER;
      }
      throw err;
    }
  });
}

const fail = (message: string): never => {
  throw new Fail(message);
};

/** A strict mapping whose absence or emptiness means "all defaults". */
function section<S extends z.ZodRawShape>(shape: S) {
  return z.preprocess((v) => (v === null || v === undefined ? {} : v), z.object(shape).strict());
}

function duration(def: number, opts: { positive?: boolean } = {}) {
  return field<number>((v) => {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' && typeof v !== 'number') fail(`must be a duration such as 30s, 5m or 1h (got ${describe(v)})`);
    const ms = parseDuration(v as string | number);
    if (opts.positive && ms <= 0) fail(`must be greater than zero (got ${describe(v)})`);
    return ms;
  });
}

function size(def: number | null) {
  return field<number | null>((v) => {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' && typeof v !== 'number') fail(`must be a size such as 512Mi, 1Gi or 100MB (got ${describe(v)})`);
    const bytes = parseSize(v as string | number);
    if (bytes <= 0) fail(`must be greater than zero (got ${describe(v)})`);
    return bytes;
  });
}

function checkInt(v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(`must be a whole number (got ${describe(v)})`);
  if (v < min) fail(`must be at least ${min} (got ${v})`);
  if (v > max) fail(`must be at most ${max} (got ${v})`);
  return v;
}

function int(def: number, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return field<number>((v) => (v === undefined || v === null ? def : checkInt(v, min, max)));
}

function optInt(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return field<number | undefined>((v) => (v === undefined || v === null ? undefined : checkInt(v, min, max)));
}

function bool(def: boolean) {
  return field<boolean>((v) => {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') fail(`must be true or false (got ${describe(v)})`);
    return v as boolean;
  });
}

function oneOf<T extends string>(values: readonly T[], def: T, aliases: Record<string, T> = {}) {
  return field<T>((v) => {
    if (v === undefined || v === null) return def;
    if (typeof v === 'string') {
      if ((values as readonly string[]).includes(v)) return v as T;
      if (aliases[v]) return aliases[v];
    }
    const near = typeof v === 'string' ? suggest(v, values) : null;
    return fail(`must be one of ${values.join(' | ')} (got ${describe(v)})${near ? `; did you mean "${near}"?` : ''}`);
  });
}

function str(opts: { nonEmpty?: boolean } = {}) {
  return field<string | undefined>((v) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') fail(`must be a string (got ${describe(v)})`);
    if (opts.nonEmpty && (v as string).trim() === '') fail('must not be empty');
    return v as string;
  });
}

/** A scalar written where a string is meant (`--port: 8080`, `DEBUG: true`): keep its text. */
function scalarText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/** `[cmd, arg…]` or a command line split like a shell would (no expansion). */
function commandLine(v: unknown, r: Reporter, what: string): string[] | undefined {
  if (typeof v === 'string') {
    const words = splitCommandLine(v);
    if (words.length === 0) r.issue(`must not be empty; give the ${what} to run`);
    return words;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) r.issue(`must not be empty; give the ${what} to run`);
    return v.map((item, i) => {
      const t = scalarText(item);
      if (t === null) r.issue(`must be a string (got ${describe(item)})`, [i]);
      return t ?? '';
    });
  }
  r.issue(`must be a command line string or a list [program, arg, …] (got ${describe(v)})`);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Agent sections

const restartPolicy = section({
  backoff: oneOf(['immediate', 'linear', 'exponential'] as const, 'exponential'),
  initial_delay: duration(5_000),
  max_delay: duration(300_000),
  max_retries: int(10, 0, 1_000_000),
  reset_after: duration(3_600_000),
  intensity: section({
    max_restarts: int(10, 1, 100_000),
    window: duration(60_000, { positive: true }),
  }),
}).transform((v, ctx): RestartPolicyConfig => {
  if (v.initial_delay > v.max_delay) {
    ctx.addIssue({ code: 'custom', path: ['initial_delay'], message: `must not be longer than max_delay (${v.initial_delay}ms > ${v.max_delay}ms)` });
  }
  return {
    backoff: v.backoff,
    initialDelayMs: v.initial_delay,
    maxDelayMs: v.max_delay,
    maxRetries: v.max_retries,
    resetAfterMs: v.reset_after,
    intensity: { maxRestarts: v.intensity.max_restarts, windowMs: v.intensity.window },
  };
});

const httpProbe = z
  .object({
    url: str({ nonEmpty: true }),
    port: optInt(1, 65535),
    path: str({ nonEmpty: true }),
    expect_status: optInt(100, 599),
  })
  .strict()
  .transform((v, ctx): { url: string; expectStatus?: number } | undefined => {
    const bad = (message: string, at: Path = []) => {
      ctx.addIssue({ code: 'custom', message, path: at });
      return z.NEVER;
    };
    if (v.url !== undefined && v.port !== undefined) return bad('set either `url` or `port` (with `path`), not both');
    if (v.url === undefined && v.port === undefined) return bad('needs `url` (http://host:port/path) or `port` (and optionally `path`)');
    let url: string;
    if (v.url !== undefined) {
      if (v.path !== undefined) return bad('`path` goes with `port`; put the path into `url`', ['path']);
      try {
        const u = new URL(v.url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') return bad(`must be an http:// or https:// URL (got ${describe(v.url)})`, ['url']);
      } catch {
        return bad(`must be an http:// or https:// URL (got ${describe(v.url)})`, ['url']);
      }
      url = v.url;
    } else {
      const p = v.path ?? '/';
      if (!p.startsWith('/')) return bad(`must start with / (got ${describe(p)})`, ['path']);
      url = `http://127.0.0.1:${v.port}${p}`;
    }
    return v.expect_status !== undefined ? { url, expectStatus: v.expect_status } : { url };
  });

const execProbe = field<{ command: string; args: string[] }>((v, r) => {
  const words = commandLine(v, r, 'probe command') ?? [];
  return { command: words[0] ?? '', args: words.slice(1) };
});

function probe(def: { interval: number; timeout: number; unhealthy: number }) {
  return section({
    interval: duration(def.interval, { positive: true }),
    timeout: duration(def.timeout, { positive: true }),
    unhealthy_threshold: int(def.unhealthy, 1, 1000),
    healthy_threshold: int(1, 1, 1000),
    http: httpProbe.optional(),
    exec: execProbe.optional(),
  }).transform((v, ctx): ProbeConfig => {
    if (v.http && v.exec) ctx.addIssue({ code: 'custom', path: ['exec'], message: 'set either `http` or `exec`, not both' });
    const out: ProbeConfig = {
      intervalMs: v.interval,
      timeoutMs: v.timeout,
      unhealthyThreshold: v.unhealthy_threshold,
      healthyThreshold: v.healthy_threshold,
    };
    if (v.http) out.http = v.http;
    if (v.exec) out.exec = v.exec;
    return out;
  });
}

const healthCheck = section({
  liveness: probe({ interval: 30_000, timeout: 10_000, unhealthy: 3 }),
  readiness: probe({ interval: 15_000, timeout: 5_000, unhealthy: 2 }),
  startup: section({ timeout: duration(60_000, { positive: true }) }),
}).transform(
  (v): HealthCheckConfig => ({ liveness: v.liveness, readiness: v.readiness, startupTimeoutMs: v.startup.timeout }),
);

const cpu = field<number | null>((v) => {
  if (v === undefined || v === null) return null;
  // Kubernetes-style millicores: `500m` = 0.5 CPU.
  const n = typeof v === 'string' && /^\d+m$/.test(v.trim()) ? Number(v.trim().slice(0, -1)) / 1000 : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return fail(`must be a number of CPU cores such as 0.5 or 2, or millicores such as 500m (got ${describe(v)})`);
  if (n <= 0) fail(`must be greater than zero (got ${describe(v)})`);
  return n;
});

const resources = section({
  memory: size(null),
  cpu,
  max_state_size: size(100 * 1024 ** 2),
  // One state value and one event, as JSON (issue 14 #8; defaults 4Mi and 1Mi in run-transaction.ts).
  max_state_value_size: size(null),
  max_event_size: size(null),
  api_calls_per_minute: optInt(1),
  events_per_minute: optInt(1),
  state_writes_per_minute: optInt(1),
  llm_tokens_per_hour: optInt(1),
}).transform((v): ResourcesConfig => {
  const out: ResourcesConfig = {
    memoryBytes: v.memory,
    cpu: v.cpu,
    maxStateSizeBytes: v.max_state_size as number,
  };
  if (v.max_state_value_size !== null) out.maxStateValueBytes = v.max_state_value_size;
  if (v.max_event_size !== null) out.maxEventBytes = v.max_event_size;
  if (v.api_calls_per_minute !== undefined) out.apiCallsPerMinute = v.api_calls_per_minute;
  if (v.events_per_minute !== undefined) out.eventsPerMinute = v.events_per_minute;
  if (v.state_writes_per_minute !== undefined) out.stateWritesPerMinute = v.state_writes_per_minute;
  if (v.llm_tokens_per_hour !== undefined) out.llmTokensPerHour = v.llm_tokens_per_hour;
  return out;
});

const gracefulShutdown = section({
  timeout: duration(30_000),
  drain_events: bool(true),
  teardown_timeout: duration(10_000),
}).transform(
  (v): GracefulShutdownConfig => ({ timeoutMs: v.timeout, drainEvents: v.drain_events, teardownTimeoutMs: v.teardown_timeout }),
);

const logging = section({
  // `warn` is what pino and most loggers call it; accept it rather than fail a deploy over it.
  level: oneOf<LogLevel>(['debug', 'info', 'warning', 'error'], 'info', { warn: 'warning' }),
  format: oneOf(['json', 'text'] as const, 'json'),
  retention: duration(7 * 86_400_000),
}).transform((v): LoggingConfig => ({ level: v.level, format: v.format, retentionMs: v.retention }));

const events = section({
  max_attempts: int(5, 1, 1000),
  initial_delay: duration(1_000),
  max_delay: duration(60_000),
  // Events in flight per instance. Not 1: a handler that awaits I/O would hold the whole group to
  // one event at a time; where order matters, `ordering: key` serialises per event key instead.
  concurrency: int(64, 1, 1000),
  ordering: oneOf(['none', 'key'] as const, 'none'),
}).transform((v, ctx): EventDeliveryConfig => {
  if (v.initial_delay > v.max_delay) {
    ctx.addIssue({ code: 'custom', path: ['initial_delay'], message: `must not be longer than max_delay (${v.initial_delay}ms > ${v.max_delay}ms)` });
  }
  return { maxAttempts: v.max_attempts, initialDelayMs: v.initial_delay, maxDelayMs: v.max_delay, concurrency: v.concurrency, ordering: v.ordering };
});

const SCHEDULE_KEYS = ['every', 'cron', 'daily', 'tz'];

export const schedule = field<ScheduleSpec | null>((v, r) => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return parseSchedule(v);
  if (!isPlainObject(v)) {
    return fail(`must be a string such as "every 5m", "cron 0 9 * * 1-5" or "daily 09:00", or a mapping { cron | daily | every, tz } (got ${describe(v)})`);
  }
  for (const k of Object.keys(v)) if (!SCHEDULE_KEYS.includes(k)) r.issue(unknownKeyMessage(k, SCHEDULE_KEYS), [k], true);
  const kinds = ['every', 'cron', 'daily'].filter((k) => v[k] !== undefined);
  if (kinds.length !== 1) {
    r.issue(kinds.length === 0 ? 'needs one of `every`, `cron` or `daily`' : `set only one of ${kinds.map((k) => `\`${k}\``).join(', ')}`);
    return null;
  }
  let tz: string | undefined;
  if (v.tz !== undefined) {
    if (typeof v.tz !== 'string') r.issue(`must be a time zone name such as Europe/Paris (got ${describe(v.tz)})`, ['tz']);
    else if (kinds[0] === 'every') r.issue('a time zone applies only to `cron` and `daily` schedules', ['tz']);
    else {
      try {
        validateTimeZone(v.tz);
        tz = v.tz;
      } catch (err) {
        r.issue((err as Error).message, ['tz']);
      }
    }
  }
  const kind = kinds[0];
  const val = v[kind];
  try {
    if (kind === 'every') {
      if (typeof val !== 'string' && typeof val !== 'number') throw new Fail(`must be a duration such as 5m (got ${describe(val)})`);
      return { kind: 'every', everyMs: parseEvery(val) };
    }
    if (typeof val !== 'string') throw new Fail(`must be a string (got ${describe(val)})`);
    if (kind === 'cron') {
      validateCron(val);
      return tz !== undefined ? { kind: 'cron', expr: val.trim(), tz } : { kind: 'cron', expr: val.trim() };
    }
    const { hour, minute } = parseDailyTime(val);
    return tz !== undefined ? { kind: 'daily', hour, minute, tz } : { kind: 'daily', hour, minute };
  } catch (err) {
    if (err instanceof Fail || err instanceof OpenClawError) {
      r.issue(err.message, [kind]);
      return null;
    }
    throw err;
  }
});

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/** Everything an agent entry holds, minus name/location which the loader adds. */
export type AgentFields = Omit<AgentConfig, 'name' | 'location'>;

export function agentSchema(root: string) {
  const source = field<{ file: string; exportName?: string } | undefined>((v) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v.trim() === '') return fail(`must be a path to a module such as agents/monitor.ts (got ${describe(v)})`);
    const hash = v.lastIndexOf('#');
    const rel = hash >= 0 ? v.slice(0, hash) : v;
    const exportName = hash >= 0 ? v.slice(hash + 1) : undefined;
    if (exportName !== undefined && !/^[A-Za-z_$][\w$]*$/.test(exportName)) {
      fail(`the part after # must be the name of an export, such as agents/x.ts#UptimeMonitor (got ${describe(exportName)})`);
    }
    const ext = path.extname(rel);
    if (!SOURCE_EXTENSIONS.includes(ext)) {
      fail(
        `must be a ${SOURCE_EXTENSIONS.join(', ')} module (got ${describe(rel)}); ` +
          `to supervise a program in another language use \`command: [python3, ${rel}]\` instead`,
      );
    }
    const file = path.resolve(root, rel);
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file);
    } catch {
      // Reported below.
    }
    if (!st?.isFile()) fail(`file not found: ${file} (paths are relative to ${root}, the directory of the config file)`);
    return exportName !== undefined ? { file, exportName } : { file };
  });

  const command = field<string[] | undefined>((v, r) => (v === undefined || v === null ? undefined : commandLine(v, r, 'program')));

  const args = field<string[]>((v, r) => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return fail(`must be a list of arguments (got ${describe(v)})`);
    return v.map((a, i) => {
      const t = scalarText(a);
      if (t === null) r.issue(`must be a string (got ${describe(a)})`, [i]);
      return t ?? '';
    });
  });

  const env = field<Record<string, string>>((v, r) => {
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) return fail(`must be a mapping of NAME: value (got ${describe(v)})`);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) r.issue(`is not a valid environment variable name (use letters, digits and _)`, [k], true);
      const t = scalarText(val);
      if (t === null) r.issue(`must be a string, number or boolean (got ${describe(val)})`, [k]);
      else out[k] = t;
    }
    return out;
  });

  const cwd = field<string>((v) => {
    if (v === undefined || v === null) return root;
    if (typeof v !== 'string' || v.trim() === '') return fail(`must be a directory path (got ${describe(v)})`);
    const dir = path.resolve(root, v);
    let isDir = false;
    try {
      isDir = fs.statSync(dir).isDirectory();
    } catch {
      // Reported below.
    }
    if (!isDir) fail(`directory not found: ${dir} (paths are relative to ${root})`);
    return dir;
  });

  const config = field<Record<string, unknown>>((v) => {
    if (v === undefined || v === null) return {};
    if (!isPlainObject(v)) return fail(`must be a mapping of settings passed to the agent (got ${describe(v)})`);
    return v;
  });

  const owner = field<string | null>((v) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v.trim() === '') return fail(`must be a team or person name (got ${describe(v)})`);
    return v;
  });

  const pathList = field<string[]>((v, r) => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return fail(`must be a list of paths (got ${describe(v)})`);
    return v.map((p, i) => {
      if (typeof p !== 'string' || p.trim() === '') r.issue(`must be a path (got ${describe(p)})`, [i]);
      return path.resolve(root, String(p));
    });
  });
  // Node's permission model for the agent's host (src/runtime/sandbox.ts, docs/security.md).
  const permissions = section({ sandbox: bool(true), child_process: bool(false), read: pathList, write: pathList }).transform(
    (v): AgentPermissions => ({ sandbox: v.sandbox, childProcess: v.child_process, read: v.read, write: v.write }),
  );

  return z
    .object({
      source,
      command,
      args,
      env,
      cwd,
      schedule,
      config,
      // 1,000 instances of one agent is far past any real fleet; 100,000 took 1.6 GB in 6 s.
      replicas: int(1, 1, 1000),
      isolation: oneOf(['dedicated', 'shared', 'process'] as const, 'dedicated'),
      enabled: bool(true),
      restart_policy: restartPolicy,
      health_check: healthCheck,
      resources,
      graceful_shutdown: gracefulShutdown,
      logging,
      overlap: oneOf(['skip', 'queue', 'allow'] as const, 'skip'),
      missed_runs: oneOf(['skip', 'run_once', 'run_all'] as const, 'run_once'),
      events,
      owner,
      permissions,
    })
    .strict()
    .transform((v): AgentFields | undefined => {
      // source XOR command is checked by the loader on the raw value (it must be reported even
      // when other fields fail); here both are known valid.
      const base = {
        schedule: v.schedule,
        config: v.config,
        replicas: v.replicas,
        isolation: v.isolation,
        enabled: v.enabled,
        restartPolicy: v.restart_policy,
        healthCheck: v.health_check,
        resources: v.resources,
        gracefulShutdown: v.graceful_shutdown,
        logging: v.logging,
        overlap: v.overlap,
        missed: v.missed_runs,
        events: v.events,
        owner: v.owner,
        permissions: v.permissions,
      };
      if (v.source) {
        const { file, exportName } = v.source;
        return exportName !== undefined
          ? { kind: 'module', source: file, exportName, env: v.env, ...base }
          : { kind: 'module', source: file, env: v.env, ...base };
      }
      if (v.command) {
        const [program, ...rest] = v.command;
        const spec: CommandSpec = { command: program, args: [...rest, ...v.args], env: v.env, cwd: v.cwd };
        // A command agent is always its own OS process, whatever the default says.
        return { kind: 'command', command: spec, ...base, isolation: 'process' };
      }
      return undefined;
    });
}

// ---------------------------------------------------------------------------------------------
// Top level

const STORE_KEYS = ['kind', 'url', 'path', 'schema'];
const STORE_HINT = 'use a postgres://… URL, sqlite:path/to/file.db, or a mapping { url, schema } / { path }';

/** `sqlite:…` / `postgres://…` strings (the file's `store:`, OPENCLAW_DB_URL, --store). */
export function parseStoreUrl(s: string, root: string, schema = 'public'): StoreConfig {
  const t = s.trim();
  if (/^postgres(ql)?:\/\//i.test(t)) {
    try {
      new URL(t);
    } catch {
      throw new Fail(`is not a valid PostgreSQL URL (got ${describe(t)}); expected postgres://user:password@host:5432/database`);
    }
    return { kind: 'postgres', url: t, schema };
  }
  const m = /^sqlite:(?:\/\/)?(.*)$/i.exec(t);
  if (m) {
    const p = m[1];
    if (p === '') throw new Fail('sqlite: needs a file path, e.g. sqlite:.openclaw/openclaw.db');
    return { kind: 'sqlite', path: p === ':memory:' ? p : path.resolve(root, p) };
  }
  throw new Fail(`${STORE_HINT} (got ${describe(t)})`);
}

export function storeSchema(root: string, dataDir: string) {
  return field<StoreConfig>((v, r) => {
    if (v === undefined || v === null) return { kind: 'sqlite', path: path.join(dataDir, 'openclaw.db') };
    if (typeof v === 'string') return parseStoreUrl(v, root);
    if (!isPlainObject(v)) return fail(`${STORE_HINT} (got ${describe(v)})`);
    for (const k of Object.keys(v)) if (!STORE_KEYS.includes(k)) r.issue(unknownKeyMessage(k, STORE_KEYS), [k], true);
    for (const k of STORE_KEYS) {
      if (v[k] !== undefined && typeof v[k] !== 'string') r.issue(`must be a string (got ${describe(v[k])})`, [k]);
    }
    const kind = v.kind as string | undefined;
    const url = v.url as string | undefined;
    const p = v.path as string | undefined;
    const schemaName = v.schema as string | undefined;
    if (kind !== undefined && kind !== 'sqlite' && kind !== 'postgres') {
      r.issue(`must be one of sqlite | postgres (got ${describe(kind)})`, ['kind']);
    }
    if (schemaName !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(String(schemaName))) {
      r.issue(`must be a PostgreSQL schema name (letters, digits, _) (got ${describe(schemaName)})`, ['schema']);
    }
    let out: StoreConfig | undefined;
    if (url !== undefined && p !== undefined) r.issue('set either `url` or `path`, not both');
    else if (typeof url === 'string') {
      try {
        out = parseStoreUrl(url, root, schemaName ?? 'public');
      } catch (err) {
        r.issue((err as Error).message, ['url']);
      }
    } else if (typeof p === 'string') {
      out = { kind: 'sqlite', path: p === ':memory:' ? p : path.resolve(root, p) };
    } else if (kind === 'postgres') {
      r.issue('needs `url: postgres://user:password@host:5432/database`');
    } else {
      out = { kind: 'sqlite', path: path.join(dataDir, 'openclaw.db') };
    }
    if (out && kind !== undefined && out.kind !== kind) r.issue(`says ${kind} but the ${out.kind === 'sqlite' ? 'path' : 'url'} is for ${out.kind}`, ['kind']);
    if (out?.kind === 'sqlite' && schemaName !== undefined) r.issue('`schema` applies only to PostgreSQL', ['schema'], true);
    return out as StoreConfig;
  });
}

const BUS_KEYS = ['backend', 'url', 'name', 'max_deliveries'];
const BUS_SCHEMES: Record<string, RegExp> = { redis: /^rediss?:\/\//i, nats: /^(nats|tls):\/\//i };

/** `bus:` (docs/configuration.md). Whether the store can carry it is checked by the loader. */
export const busSchema = field<BusConfig>((v, r) => {
  const out: BusConfig = { backend: 'embedded', url: null, name: null, maxDeliveries: 20 };
  if (v === undefined || v === null) return out;
  if (!isPlainObject(v)) return fail(`must be a mapping such as { backend: redis, url: redis://127.0.0.1:6379 } (got ${describe(v)})`);
  for (const k of Object.keys(v)) if (!BUS_KEYS.includes(k)) r.issue(unknownKeyMessage(k, BUS_KEYS), [k], true);
  const backend = v.backend ?? 'embedded';
  if (backend !== 'embedded' && backend !== 'redis' && backend !== 'nats') {
    const near = typeof backend === 'string' ? suggest(backend, ['embedded', 'redis', 'nats']) : null;
    r.issue(`must be one of embedded | redis | nats (got ${describe(backend)})${near ? `; did you mean "${near}"?` : ''}`, ['backend']);
    return out;
  }
  out.backend = backend;
  if (v.url !== undefined && v.url !== null) {
    if (typeof v.url !== 'string') r.issue(`must be a string (got ${describe(v.url)})`, ['url']);
    else if (backend === 'embedded') r.issue('applies only to `backend: redis` or `backend: nats`; the embedded bus is the store', ['url'], true);
    else if (!BUS_SCHEMES[backend]!.test(v.url)) r.issue(`must be a ${backend === 'redis' ? 'redis://host:6379 (or rediss://)' : 'nats://host:4222'} URL (got ${describe(v.url)})`, ['url']);
    else out.url = v.url;
  } else if (backend !== 'embedded') {
    r.issue(`needs \`url\` for backend ${backend}, e.g. url: ${backend === 'redis' ? 'redis://127.0.0.1:6379' : 'nats://127.0.0.1:4222'}`, [], true);
  }
  if (v.name !== undefined && v.name !== null) {
    if (typeof v.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v.name)) r.issue(`must be 1-64 letters, digits, _ or - (got ${describe(v.name)})`, ['name']);
    else out.name = v.name;
  }
  if (v.max_deliveries !== undefined && v.max_deliveries !== null) {
    try {
      out.maxDeliveries = checkInt(v.max_deliveries, 1, 1000);
    } catch (err) {
      r.issue((err as Error).message, ['max_deliveries']);
    }
  }
  return out;
});

const mappingSection = field<Record<string, unknown> | undefined>((v) => {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) return fail(`must be a mapping (got ${describe(v)})`);
  return v;
});

/** Sections accepted now and interpreted by later modules; kept raw on ProjectConfig.extensions. */
export const EXTENSION_SECTIONS = ['llm', 'security', 'workflows', 'jobs', 'streams', 'cluster', 'defaults'] as const;

export function projectSchema(root: string, dataDir: string) {
  return z
    .object({
      project: field<string>((v) => {
        if (v === undefined || v === null) return fail('is required: name the project, e.g. `project: my-monitoring`');
        if (typeof v !== 'string' || v.trim() === '') return fail(`must be a non-empty string (got ${describe(v)})`);
        return v;
      }),
      version: field<string | null>((v) => {
        if (v === undefined || v === null) return null;
        const t = scalarText(v);
        if (t === null) return fail(`must be a string such as "1.0" (got ${describe(v)})`);
        return t;
      }),
      store: storeSchema(root, dataDir),
      bus: busSchema,
      api: section({
        host: field<string>((v) => {
          if (v === undefined || v === null) return '127.0.0.1';
          if (typeof v !== 'string' || v.trim() === '') return fail(`must be a host name or IP address (got ${describe(v)})`);
          return v;
        }),
        port: int(8400, 0, 65535),
        auth: field<'token' | 'local-trust' | undefined>((v) => {
          if (v === undefined || v === null) return undefined;
          if (v !== 'token' && v !== 'local-trust') return fail(`must be token or local-trust (got ${describe(v)})`);
          return v;
        }),
        tls: field<{ cert: string; key: string } | undefined>((v, r) => {
          if (v === undefined || v === null) return undefined;
          if (!isPlainObject(v)) return fail(`must be a mapping with cert and key file paths (got ${describe(v)})`);
          for (const k of Object.keys(v)) if (k !== 'cert' && k !== 'key') r.issue(unknownKeyMessage(k, ['cert', 'key']), [k], true);
          const out: Record<string, string> = {};
          for (const k of ['cert', 'key'] as const) {
            const p = v[k];
            if (typeof p !== 'string' || p.trim() === '') {
              r.issue(`needs the path of the PEM ${k === 'cert' ? 'certificate' : 'private key'} file (relative to the project)`, [k]);
              continue;
            }
            out[k] = path.resolve(root, p);
            if (!fs.existsSync(out[k]!)) r.issue(`no such file: ${out[k]}`, [k]);
          }
          return out as { cert: string; key: string };
        }),
      }),
      // Validated entry by entry by the loader, so one broken agent does not hide another's issues.
      agents: z.unknown(),
      llm: mappingSection,
      security: mappingSection,
      workflows: mappingSection,
      jobs: mappingSection,
      streams: mappingSection,
      cluster: mappingSection,
      defaults: mappingSection,
    })
    .strict();
}

/** The keys a strict object accepts at `at` (relative to `schema`), for "did you mean". */
export function allowedKeysAt(schema: z.ZodTypeAny, at: Path): string[] {
  let s: z.ZodTypeAny | undefined = schema;
  const unwrap = (x: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (x instanceof z.ZodEffects) x = x.innerType();
      else if (x instanceof z.ZodOptional || x instanceof z.ZodNullable) x = x.unwrap();
      else if (x instanceof z.ZodDefault) x = x.removeDefault();
      else return x;
    }
  };
  for (const seg of at) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodTypeAny>)[String(seg)];
    else if (s instanceof z.ZodRecord) s = s.valueSchema as z.ZodTypeAny;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodTypeAny;
    else return [];
    if (!s) return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}
