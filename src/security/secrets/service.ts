// The secret store the daemon (and the CLI when no daemon answers) works with: decrypted values
// cached in memory (needed anyway to redact them), environment-specific lookups with a fallback to
// the default value, rotation with a grace period, and an audit record for every read and change.
import type { AuditSink, SecretResolver } from '../../contracts/modules.js';
import { BadRequestError, OpenClawError } from '../../util/errors.js';
import { MIN_REDACT_LENGTH, Redactor } from '../redact.js';
import { aad, createKeyFile, decrypt, encrypt, loadMasterKey, MasterKeyError, type MasterKey } from './crypto.js';
import { SecretNotFoundError, SecretRepo, type SecretRow } from './repo.js';

export const DEFAULT_ENV = 'default';
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
const REF = /\$\{secret:([^}]*)\}/g;

export interface SecretVersionInfo {
  version: number;
  createdAt: number;
  /** null = current; otherwise the end of its grace period. */
  validUntil: number | null;
}

export interface SecretInfo {
  name: string;
  env: string;
  current: number;
  versions: SecretVersionInfo[];
  createdAt: number;
  updatedAt: number;
}

interface Cached extends SecretVersionInfo {
  value: string;
}

export interface SecretServiceOptions {
  repo: SecretRepo | null; // null: backend env
  dataDir: string;
  /** This daemon's environment (OPENCLAW_ENV, or security.secrets.env), 'default' when neither. */
  env: string;
  graceMs: number;
  now: () => number;
  audit: () => AuditSink;
  processEnv?: NodeJS.ProcessEnv;
  /** Warnings (short values…), for the daemon log or the CLI's stderr. */
  warn?: (msg: string) => void;
}

export function checkSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new BadRequestError(`'${name}' is not a valid secret name; use letters, digits, _ . and -, starting with a letter or _ (e.g. OPENAI_API_KEY)`, 'invalid_secret_name');
  }
}

export function checkEnvName(env: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(env)) throw new BadRequestError(`'${env}' is not a valid environment name (e.g. production, staging)`, 'invalid_env');
}

/** Names referenced as `${secret:NAME}` anywhere in a JSON-like value. */
export function secretRefs(v: unknown, out = new Set<string>()): Set<string> {
  if (typeof v === 'string') for (const m of v.matchAll(REF)) out.add(m[1]!);
  else if (Array.isArray(v)) for (const x of v) secretRefs(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) secretRefs(x, out);
  return out;
}

export class SecretService implements SecretResolver {
  readonly redactor = new Redactor();
  private cache = new Map<string, Map<string, Cached[]>>();
  private key: MasterKey | null | undefined;
  private fingerprint = '';
  private nextExpiry = Infinity;
  /** backend env: values read from the environment so far (for redaction). */
  private readonly envValues = new Map<string, string>();

  constructor(private readonly o: SecretServiceOptions) {}

  get backend(): 'local' | 'env' {
    return this.o.repo ? 'local' : 'env';
  }

  get env(): string {
    return this.o.env;
  }

  private masterKey(create: boolean): MasterKey {
    if (this.key === undefined || (this.key === null && create)) this.key = loadMasterKey(this.o.dataDir, this.o.processEnv ?? process.env);
    if (!this.key && create) {
      const { file } = createKeyFile(this.o.dataDir);
      this.o.warn?.(`created the master key ${file} (mode 0600); back it up: without it the secrets cannot be decrypted`);
      this.key = loadMasterKey(this.o.dataDir, this.o.processEnv ?? process.env);
    }
    if (!this.key) {
      throw new MasterKeyError(
        `no master key to decrypt the secrets: set OPENCLAW_MASTER_KEY (32 bytes, base64 or hex) or restore ${this.o.dataDir}/master.key (created by \`openclaw init\`)`,
      );
    }
    return this.key;
  }

  /** (Re)reads every live row and decrypts it. Throws MasterKeyError when the key is missing or wrong. */
  async load(): Promise<void> {
    if (!this.o.repo) return;
    const rows = await this.o.repo.all(this.o.now());
    this.fingerprint = await this.o.repo.fingerprint();
    const cache = new Map<string, Map<string, Cached[]>>();
    const key = rows.length > 0 ? this.masterKey(false) : null;
    for (const r of rows) {
      const value = this.open(key!, r);
      let byEnv = cache.get(r.name);
      if (!byEnv) cache.set(r.name, (byEnv = new Map()));
      const list = byEnv.get(r.env) ?? [];
      list.push({ version: r.version, createdAt: r.createdAt, validUntil: r.validUntil, value });
      byEnv.set(r.env, list);
    }
    for (const byEnv of cache.values()) for (const list of byEnv.values()) list.sort((a, b) => b.version - a.version);
    this.cache = cache;
    this.rebuild();
  }

  /** Reloads when another writer (the CLI without a daemon, another daemon) changed the table. */
  async refreshIfChanged(): Promise<boolean> {
    if (!this.o.repo) return false;
    if ((await this.o.repo.fingerprint()) === this.fingerprint) return false;
    await this.load();
    return true;
  }

  private open(key: MasterKey, r: SecretRow): string {
    if (r.keyId !== key.id) {
      throw new MasterKeyError(
        `secret '${r.name}' (env ${r.env}, v${r.version}) was encrypted under master key ${r.keyId}, but this key (${key.source}) is ${key.id}; use the original key (OPENCLAW_MASTER_KEY or .openclaw/master.key)`,
      );
    }
    try {
      return decrypt(key.key, r.ciphertext, aad(r.name, r.env, r.version));
    } catch {
      throw new MasterKeyError(`secret '${r.name}' (env ${r.env}, v${r.version}) does not decrypt: the row was altered or copied from another secret; set it again with \`openclaw secrets set ${r.name}\``);
    }
  }

  /** The redaction set: every live value (current and in grace), by secret name. */
  private rebuild(): void {
    const now = this.o.now();
    const values = new Map<string, string>();
    let next = Infinity;
    for (const [name, byEnv] of this.cache) {
      for (const list of byEnv.values()) {
        for (const c of list) {
          if (c.validUntil !== null && c.validUntil <= now) continue;
          if (c.validUntil !== null) next = Math.min(next, c.validUntil);
          values.set(c.value, name);
        }
      }
    }
    for (const [name, v] of this.envValues) values.set(v, name);
    this.nextExpiry = next;
    this.redactor.update(values);
  }

  private checkExpiry(): void {
    if (this.o.now() >= this.nextExpiry) this.rebuild();
  }

  /** Versions for this daemon's environment: the env-specific ones, else the default ones. */
  private versionsFor(name: string): { env: string; list: Cached[] } | null {
    const byEnv = this.cache.get(name);
    if (!byEnv) return null;
    const now = this.o.now();
    for (const env of this.o.env === DEFAULT_ENV ? [DEFAULT_ENV] : [this.o.env, DEFAULT_ENV]) {
      const list = (byEnv.get(env) ?? []).filter((c) => c.validUntil === null || c.validUntil > now);
      if (list.some((c) => c.validUntil === null)) return { env, list };
    }
    return null;
  }

  private missing(name: string): OpenClawError {
    return new SecretNotFoundError(
      name,
      this.o.env,
      this.backend === 'env'
        ? `export the environment variable ${name} before starting the daemon (security.secrets.backend is env)`
        : `set it with \`echo -n VALUE | openclaw secrets set ${name}\`${this.o.env === DEFAULT_ENV ? '' : ` (or --env ${this.o.env})`}`,
    );
  }

  async get(name: string, reader: string): Promise<string> {
    checkSecretName(name);
    if (this.backend === 'env') {
      const v = (this.o.processEnv ?? process.env)[name];
      this.o.audit().record({ actor: reader, action: 'secret.read', target: name, detail: { backend: 'env', found: v !== undefined } });
      if (v === undefined) throw this.missing(name);
      if (this.envValues.get(name) !== v) {
        this.envValues.set(name, v);
        this.rebuild();
      }
      return v;
    }
    const found = this.versionsFor(name);
    const current = found?.list.find((c) => c.validUntil === null);
    this.o.audit().record({ actor: reader, action: 'secret.read', target: name, detail: current ? { env: found!.env, version: current.version } : { found: false } });
    if (!current) throw this.missing(name);
    return current.value;
  }

  async expand(text: string, reader: string): Promise<string> {
    if (!text.includes('${secret:')) return text;
    const names = [...new Set([...text.matchAll(REF)].map((m) => m[1]!))];
    const values = new Map<string, string>();
    for (const n of names) values.set(n, await this.get(n, reader));
    return text.replace(REF, (_, n: string) => values.get(n)!);
  }

  values(): readonly string[] {
    this.checkExpiry();
    const out: string[] = [];
    const now = this.o.now();
    for (const byEnv of this.cache.values()) for (const list of byEnv.values()) for (const c of list) if (c.validUntil === null || c.validUntil > now) out.push(c.value);
    out.push(...this.envValues.values());
    return out;
  }

  /** The current value and any rotated-out one still in its grace period (newest first), for verifiers. */
  async validValues(name: string, reader: string): Promise<string[]> {
    checkSecretName(name);
    if (this.backend === 'env') return [await this.get(name, reader)];
    const found = this.versionsFor(name);
    this.o.audit().record({ actor: reader, action: 'secret.read', target: name, detail: found ? { env: found.env, versions: found.list.map((c) => c.version) } : { found: false } });
    if (!found) throw this.missing(name);
    return found.list.map((c) => c.value);
  }

  redact<T>(value: T): T {
    this.checkExpiry();
    return this.redactor.value(value);
  }

  // ---- management (CLI and API) --------------------------------------------------------------

  private writable(): SecretRepo {
    if (!this.o.repo) {
      throw new OpenClawError('secrets_read_only', 'security.secrets.backend is env: secrets are read from environment variables; set them there, or switch to backend: local', {
        status: 409,
      });
    }
    return this.o.repo;
  }

  async put(mode: 'set' | 'rotate', name: string, value: string, opts: { env?: string; actor: string }): Promise<{ name: string; env: string; version: number; previousValidUntil: number | null; warnings: string[] }> {
    checkSecretName(name);
    const env = opts.env ?? DEFAULT_ENV;
    checkEnvName(env);
    if (value.length === 0) throw new BadRequestError(`secret '${name}': the value is empty; pipe it on stdin, e.g. \`printf %s "$TOKEN" | openclaw secrets ${mode} ${name}\``, 'empty_secret');
    const repo = this.writable();
    await this.refreshIfChanged();
    const key = this.masterKey(true);
    const now = this.o.now();
    const res = await repo.put({
      name,
      env,
      mode,
      graceMs: this.o.graceMs,
      now,
      seal: (version) => ({ ciphertext: encrypt(key.key, value, aad(name, env, version)), keyId: key.id }),
    });
    const warnings: string[] = [];
    if (value.length < MIN_REDACT_LENGTH) {
      warnings.push(`secret '${name}' is shorter than ${MIN_REDACT_LENGTH} characters: it is stored, but not redacted from logs and output (it would match ordinary text)`);
    }
    this.o.audit().record({
      actor: opts.actor,
      action: mode === 'set' ? 'secret.set' : 'secret.rotate',
      target: name,
      detail: { env, version: res.version, ...(res.retired ? { previous: res.retired.version, previousValidUntil: res.retired.validUntil } : {}) },
    });
    await this.load();
    return { name, env, version: res.version, previousValidUntil: res.retired?.validUntil ?? null, warnings };
  }

  async delete(name: string, opts: { env?: string; actor: string }): Promise<{ name: string; env: string; deleted: number }> {
    checkSecretName(name);
    const env = opts.env ?? DEFAULT_ENV;
    checkEnvName(env);
    const n = await this.writable().delete(name, env);
    if (n === 0) throw new SecretNotFoundError(name, env, 'see `openclaw secrets list`');
    this.o.audit().record({ actor: opts.actor, action: 'secret.delete', target: name, detail: { env, versions: n } });
    await this.load();
    return { name, env, deleted: n };
  }

  /** Names, environments, versions and dates; never values. */
  async list(): Promise<SecretInfo[]> {
    if (!this.o.repo) return [];
    await this.refreshIfChanged();
    const now = this.o.now();
    const out: SecretInfo[] = [];
    for (const [name, byEnv] of this.cache) {
      for (const [env, list] of byEnv) {
        const live = list.filter((c) => c.validUntil === null || c.validUntil > now);
        const current = live.find((c) => c.validUntil === null);
        if (!current) continue;
        out.push({
          name,
          env,
          current: current.version,
          versions: live.map((c) => ({ version: c.version, createdAt: c.createdAt, validUntil: c.validUntil })),
          createdAt: Math.min(...list.map((c) => c.createdAt)),
          updatedAt: current.createdAt,
        });
      }
    }
    return out.sort((a, b) => (a.name === b.name ? (a.env < b.env ? -1 : 1) : a.name < b.name ? -1 : 1));
  }
}
