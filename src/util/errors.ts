// Typed errors with a stable code and a message that says what to do. The API maps them to
// `{ error: { code, message } }` with `status`; the CLI maps `exitCode`.

export class OpenClawError extends Error {
  readonly code: string;
  readonly status: number;
  readonly exitCode: number;
  readonly details?: unknown;

  constructor(code: string, message: string, opts: { status?: number; exitCode?: number; details?: unknown; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status ?? 500;
    this.exitCode = opts.exitCode ?? 1;
    this.details = opts.details;
  }
}

/** Invalid configuration: names file, line and field. The daemon exits 78 (EX_CONFIG). */
export class ConfigError extends OpenClawError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('config_invalid', formatIssues(issues), { status: 400, exitCode: 78, details: issues });
    this.issues = issues;
  }
}

export interface ConfigIssue {
  file: string;
  line: number | null;
  column: number | null;
  /** Dotted path: agents.monitor.restart_policy.backoff */
  field: string;
  message: string;
}

/** At most this many problems are printed; the rest are counted (they often follow from the first ones). */
export const MAX_SHOWN_ISSUES = 50;

function formatIssues(issues: ConfigIssue[]): string {
  const lines = issues
    .slice(0, MAX_SHOWN_ISSUES)
    .map((i) => `${i.file}${i.line != null ? `:${i.line}${i.column != null ? `:${i.column}` : ''}` : ''}: ${i.field ? `${i.field}: ` : ''}${i.message}`);
  if (issues.length > MAX_SHOWN_ISSUES) lines.push(`… and ${issues.length - MAX_SHOWN_ISSUES} more problem(s); fix these and run again to see the rest`);
  return lines.join('\n');
}

export class NotFoundError extends OpenClawError {
  constructor(what: string, name: string, hint?: string) {
    super(`${what}_not_found`, `${what} '${name}' not found${hint ? `; ${hint}` : ''}`, { status: 404 });
  }
}

export class BadRequestError extends OpenClawError {
  constructor(message: string, code = 'bad_request') {
    super(code, message, { status: 400, exitCode: 2 });
  }
}

/** A run read a key that another run changed before it committed; the run is retried. */
export class StateConflictError extends OpenClawError {
  constructor(
    readonly namespace: string,
    key: string,
  ) {
    super('state_conflict', `state key '${key}' in '${namespace}' changed during the run; the run will be retried`, { status: 409 });
  }
}

export class StateSizeError extends OpenClawError {
  constructor(namespace: string, size: number, limit: number) {
    super(
      'state_size_exceeded',
      `state of '${namespace}' would be ${size} bytes, over its max_state_size of ${limit} bytes; prune old entries or raise resources.max_state_size`,
      { status: 413 },
    );
  }
}

/** A lease (delivery or job) was lost: another claimant owns the work now. */
export class LeaseLostError extends OpenClawError {
  constructor(what: string) {
    super('lease_lost', `${what}: the lease expired and the work was handed to another worker; this result is discarded`, { status: 409 });
  }
}

/** A run's commit refused: its agent instance's cluster lease moved on (RunCommit.fence). */
export class FencedError extends OpenClawError {
  constructor(instance: string, owner: string, epoch: number) {
    super('lease_fenced', `commit of ${instance} refused: node '${owner}' no longer holds its lease (epoch ${epoch}); another node runs it now and nothing of this run was written`, { status: 409 });
  }
}

export class InvalidStateTransitionError extends OpenClawError {
  constructor(agent: string, action: string, state: string) {
    super('invalid_transition', `cannot ${action} agent '${agent}' while it is ${state}`, { status: 409 });
  }
}
