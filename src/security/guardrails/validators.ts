// Output validators on emitted events (security.validators): pii_filter and json_schema. They run
// in the daemon when a run (or a checkpoint) commits; a `block` fails the whole commit.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import { ConfigError, OpenClawError, type ConfigIssue } from '../../util/errors.js';
import { IssueLocator } from '../../config/locate.js';
import type { ValidatorConfig } from './config.js';
import { scanPii } from './pii.js';

export interface EmitRecord {
  id: string;
  name: string;
  data: unknown;
}

export class OutputBlockedError extends OpenClawError {
  constructor(agent: string, validator: string, event: string, reason: string) {
    super(
      'output_blocked',
      `validator ${validator} blocked event '${event}' emitted by agent '${agent}': ${reason}. Nothing of this run was committed; ` +
        `change what the agent emits, or set the validator's action to ${validator.startsWith('pii_filter') ? 'redact or ' : ''}warn in security.validators`,
      { status: 422, details: { agent, validator, event, reason } },
    );
  }
}

/** A warning or a redaction, for the log and the counter. */
export interface ValidatorNotice {
  agent: string;
  validator: string;
  type: ValidatorConfig['type'];
  action: 'warn' | 'redact';
  event: string;
  reason: string;
}

interface Compiled {
  label: string; // "pii_filter (security.validators[0])"
  config: ValidatorConfig;
  events: Set<string> | null;
  schema?: ValidateFunction;
}

/** The compiled schema, or what is wrong with the file (paths relative to the project directory). */
function compileSchema(root: string, schemaPath: string): ValidateFunction | string {
  const file = path.resolve(root, schemaPath);
  const shown = path.relative(root, file) || schemaPath;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read the JSON Schema ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; the path is relative to the project directory`;
  }
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    return `${shown} is not JSON: ${(err as Error).message}`;
  }
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return `${shown} must hold a JSON Schema object`;
  const draft2020 = String((schema as { $schema?: unknown }).$schema ?? '').includes('2020-12');
  // `format` keywords are accepted but not checked (no format library is bundled).
  const opts = { allErrors: true, strict: false, validateFormats: false } as const;
  try {
    // ajv is loaded with the first schema validator, not with every daemon (idle-memory target).
    const req = createRequire(import.meta.url);
    if (draft2020) return new (req('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')).Ajv2020(opts).compile(schema);
    return new (req('ajv') as typeof import('ajv')).Ajv(opts).compile(schema);
  } catch (err) {
    return `${shown} is not a valid JSON Schema: ${(err as Error).message}`;
  }
}

export class OutputValidators {
  private readonly list: Compiled[];

  /** Compiles every json_schema once; throws one ConfigError naming every validator whose schema cannot be used. */
  constructor(validators: ValidatorConfig[], project: { root: string; file: string; locate?: IssueLocator }) {
    const locate = project.locate ?? new IssueLocator(project.file);
    const issues: ConfigIssue[] = [];
    this.list = validators.map((config, i) => {
      const c: Compiled = { label: `${config.type} (security.validators[${i}])`, config, events: config.events ? new Set(config.events) : null };
      if (config.type === 'json_schema') {
        const compiled = compileSchema(project.root, config.schema_path);
        if (typeof compiled === 'string') issues.push(locate.issue(['security', 'validators', i, 'schema_path'], compiled));
        else c.schema = compiled;
      }
      return c;
    });
    if (issues.length > 0) throw new ConfigError(issues);
  }

  get size(): number {
    return this.list.length;
  }

  /**
   * Applies every validator to each emit, in order. Returns the emits (redacted copies where a
   * redact matched; the input array itself when nothing changed); throws OutputBlockedError on a block.
   */
  apply(agent: string, emits: EmitRecord[], notice: (n: ValidatorNotice) => void): EmitRecord[] {
    if (this.list.length === 0 || emits.length === 0) return emits;
    let changed = false;
    const out = emits.map((e) => {
      let data = e.data;
      for (const v of this.list) {
        if (v.events && !v.events.has(e.name)) continue;
        const cfg = v.config;
        if (cfg.type === 'pii_filter') {
          const r = scanPii(data, cfg.fields, cfg.action === 'redact');
          if (r.findings.length === 0) continue;
          const kinds = [...new Set(r.findings.map((f) => f.kind))];
          const reason = `it contains ${r.findings
            .slice(0, 5)
            .map((f) => `a ${f.kind.replace('_', ' ')} at ${f.path}`)
            .join(', ')}${r.findings.length > 5 ? ` and ${r.findings.length - 5} more` : ''}`;
          if (cfg.action === 'block') throw new OutputBlockedError(agent, v.label, e.name, reason);
          notice({ agent, validator: v.label, type: cfg.type, action: cfg.action, event: e.name, reason: cfg.action === 'redact' ? `redacted ${kinds.join(', ')}` : reason });
          data = r.value;
        } else if (v.schema && !v.schema(data)) {
          const errors = (v.schema.errors ?? [])
            .slice(0, 3)
            .map((err) => `data${err.instancePath.replace(/\//g, '.')} ${err.message ?? 'is invalid'}${err.params && 'additionalProperty' in err.params ? ` ('${String(err.params.additionalProperty)}')` : ''}`)
            .join('; ');
          const reason = `it does not match ${cfg.schema_path}: ${errors}`;
          if (cfg.action === 'block') throw new OutputBlockedError(agent, v.label, e.name, reason);
          notice({ agent, validator: v.label, type: cfg.type, action: 'warn', event: e.name, reason });
        }
      }
      if (data === e.data) return e;
      changed = true;
      return { ...e, data };
    });
    return changed ? out : emits;
  }
}
