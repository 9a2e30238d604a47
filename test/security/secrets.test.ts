// Secrets: AES-256-GCM at rest with AAD binding, the master key's sources and permissions, the store
// on SQLite and PostgreSQL (versions, environments, rotation grace, delete), redaction, config.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import type { AuditEntry } from '../../src/daemon/modules.js';
import { aad, createKeyFile, decrypt, encrypt, keyFilePath, loadMasterKey } from '../../src/security/secrets/crypto.js';
import { SecretRepo, secretsStoreModule } from '../../src/security/secrets/repo.js';
import { SecretService } from '../../src/security/secrets/service.js';
import { Redactor } from '../../src/security/redact.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/util/errors.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
const dirs: string[] = [];
const tmpdir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-sec-'));
  dirs.push(d);
  return d;
};

afterAll(async () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await dropSchemas(schemas);
});

describe('encryption and the master key', () => {
  it('a ciphertext only decrypts for its own name, env and version', () => {
    const key = randomBytes(32);
    const blob = encrypt(key, 'sk-live-abcdef', aad('API', 'default', 1));
    expect(decrypt(key, blob, aad('API', 'default', 1))).toBe('sk-live-abcdef');
    expect(blob.includes(Buffer.from('sk-live-abcdef'))).toBe(false);
    expect(() => decrypt(key, blob, aad('API', 'default', 2))).toThrow();
    expect(() => decrypt(key, blob, aad('OTHER', 'default', 1))).toThrow();
    expect(() => decrypt(key, blob, aad('API', 'production', 1))).toThrow();
    // a fresh IV each time
    expect(encrypt(key, 'x', aad('A', 'default', 1)).subarray(0, 12).equals(encrypt(key, 'x', aad('A', 'default', 1)).subarray(0, 12))).toBe(false);
  });

  it('reads OPENCLAW_MASTER_KEY as base64 or hex, and refuses anything else', () => {
    const dir = tmpdir();
    const key = randomBytes(32);
    expect(loadMasterKey(dir, { OPENCLAW_MASTER_KEY: key.toString('base64') })!.key.equals(key)).toBe(true);
    expect(loadMasterKey(dir, { OPENCLAW_MASTER_KEY: key.toString('hex') })!.key.equals(key)).toBe(true);
    expect(() => loadMasterKey(dir, { OPENCLAW_MASTER_KEY: 'too-short' })).toThrow(/not a 32-byte key.*openssl rand -base64 32/);
    expect(loadMasterKey(dir, {})).toBeNull();
  });

  it('creates a 0600 key file, and refuses one that group or others can read', () => {
    const dir = tmpdir();
    expect(createKeyFile(dir).created).toBe(true);
    expect(createKeyFile(dir).created).toBe(false);
    const file = keyFilePath(dir);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadMasterKey(dir, {})!.key).toHaveLength(32);
    fs.chmodSync(file, 0o644);
    expect(() => loadMasterKey(dir, {})).toThrow(`run \`chmod 600 ${file}\``);
  });
});

describe('redaction', () => {
  it('replaces values with their name, longest first, JSON-escaped forms too, and ignores short values', () => {
    const r = new Redactor();
    r.update(new Map([['abcdef123', 'A'], ['abcdef123456', 'B'], ['q"uo\\te!', 'Q'], ['tiny', 'T']]));
    expect(r.text('x abcdef123456 y abcdef123 z tiny')).toBe('x [REDACTED:B] y [REDACTED:A] z tiny');
    expect(r.text(JSON.stringify({ v: 'q"uo\\te!' }))).toBe('{"v":"[REDACTED:Q]"}');
    const obj = { clean: 1, nested: [{ k: 'abcdef123' }], abcdef123: true };
    expect(r.value(obj)).toEqual({ clean: 1, nested: [{ k: '[REDACTED:A]' }], '[REDACTED:A]': true });
    const clean = { a: ['b', { c: 'd' }] };
    expect(r.value(clean)).toBe(clean);
  });
});

type Backend = 'sqlite' | 'postgres';
const backends: Backend[] = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

async function storeFor(backend: Backend): Promise<Store> {
  if (backend === 'sqlite') return openStore({ kind: 'sqlite', path: path.join(tmpdir(), 'db.sqlite') });
  const schema = uniqueSchema('oc_secrets');
  schemas.push(schema);
  return openStore({ kind: 'postgres', url: PG_URL, schema });
}

describe.each(backends)('secret store on %s', (backend) => {
  async function setup(env = 'default') {
    const store = await storeFor(backend);
    await store.migrateModule(secretsStoreModule);
    const dataDir = tmpdir();
    let now = 1_700_000_000_000;
    const audit: AuditEntry[] = [];
    const warnings: string[] = [];
    const make = (e = env) =>
      new SecretService({
        repo: new SecretRepo(store.handle()),
        dataDir,
        env: e,
        graceMs: 3_600_000,
        now: () => now,
        audit: () => ({ record: (x) => void audit.push(x) }),
        warn: (m) => void warnings.push(m),
      });
    const svc = make();
    await svc.load();
    return { store, svc, make, audit, warnings, dataDir, tick: (ms: number) => (now += ms) };
  }

  it('stores ciphertext only, serves values per environment with a fallback, and audits every read', async () => {
    const { store, svc, make, audit, warnings, dataDir } = await setup();
    try {
      await svc.put('set', 'OPENAI_KEY', 'sk-default-111111', { actor: 'cli:alice' });
      await svc.put('set', 'OPENAI_KEY', 'sk-prod-222222', { env: 'production', actor: 'cli:alice' });
      await svc.put('set', 'ONLY_DEFAULT', 'default-only-333', { actor: 'cli:alice' });
      expect(warnings.some((w) => w.includes('created the master key'))).toBe(true);
      expect(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);

      // Nothing in the table holds a plaintext value.
      const h = store.handle();
      const rows: Array<{ ciphertext: Buffer }> =
        h.dialect === 'sqlite' ? (h.db.prepare('SELECT * FROM secrets').all() as Array<{ ciphertext: Buffer }>) : (await h.pool.query(`SELECT * FROM ${h.schema}.secrets`)).rows;
      expect(rows).toHaveLength(3);
      for (const r of rows) expect(JSON.stringify(r) + Buffer.from(r.ciphertext).toString('latin1')).not.toMatch(/sk-default|sk-prod|default-only/);

      expect(await svc.get('OPENAI_KEY', 'agent:a')).toBe('sk-default-111111');
      const prod = make('production');
      await prod.load();
      expect(await prod.get('OPENAI_KEY', 'agent:b')).toBe('sk-prod-222222');
      expect(await prod.get('ONLY_DEFAULT', 'agent:b')).toBe('default-only-333');
      expect(await prod.expand('Bearer ${secret:OPENAI_KEY} / ${secret:ONLY_DEFAULT}', 'llm')).toBe('Bearer sk-prod-222222 / default-only-333');
      await expect(prod.get('MISSING', 'agent:b')).rejects.toThrow(/secret 'MISSING' \(env production\) does not exist; set it with/);

      const reads = audit.filter((a) => a.action === 'secret.read');
      expect(reads.map((a) => [a.actor, a.target])).toEqual([
        ['agent:a', 'OPENAI_KEY'],
        ['agent:b', 'OPENAI_KEY'],
        ['agent:b', 'ONLY_DEFAULT'],
        ['llm', 'OPENAI_KEY'],
        ['llm', 'ONLY_DEFAULT'],
        ['agent:b', 'MISSING'],
      ]);
      expect(reads[1]!.detail).toEqual({ env: 'production', version: 1 });
      expect(JSON.stringify(audit)).not.toMatch(/sk-default|sk-prod|default-only/);

      const list = await svc.list();
      expect(list.map((s) => [s.name, s.env, s.current])).toEqual([
        ['ONLY_DEFAULT', 'default', 1],
        ['OPENAI_KEY', 'default', 1],
        ['OPENAI_KEY', 'production', 1],
      ]);
      expect(JSON.stringify(list)).not.toMatch(/sk-|default-only/);
    } finally {
      await store.close();
    }
  });

  it('rotation keeps the previous value valid (and redacted) for the grace period, then drops it', async () => {
    const { store, svc, make, tick } = await setup();
    try {
      await svc.put('set', 'HOOK', 'hmac-old-aaaaaa', { actor: 't' });
      const r = await svc.put('rotate', 'HOOK', 'hmac-new-bbbbbb', { actor: 't' });
      expect(r.version).toBe(2);
      expect(r.previousValidUntil).not.toBeNull();
      expect(await svc.get('HOOK', 'x')).toBe('hmac-new-bbbbbb');
      expect(await svc.validValues('HOOK', 'verifier')).toEqual(['hmac-new-bbbbbb', 'hmac-old-aaaaaa']);
      expect(svc.redact('old hmac-old-aaaaaa new hmac-new-bbbbbb')).toBe('old [REDACTED:HOOK] new [REDACTED:HOOK]');

      // Another process (the CLI with no daemon) sees the same versions.
      const other = make();
      await other.load();
      expect(await other.validValues('HOOK', 'verifier')).toEqual(['hmac-new-bbbbbb', 'hmac-old-aaaaaa']);

      tick(3_600_001);
      expect(await svc.validValues('HOOK', 'verifier')).toEqual(['hmac-new-bbbbbb']);
      expect(svc.redact('hmac-old-aaaaaa')).toBe('hmac-old-aaaaaa');
      expect(svc.values()).toEqual(['hmac-new-bbbbbb']);

      // `set` replaces at once: no grace.
      const s = await svc.put('set', 'HOOK', 'hmac-third-cccccc', { actor: 't' });
      expect(s.previousValidUntil).toBeNull();
      expect(await svc.validValues('HOOK', 'v')).toEqual(['hmac-third-cccccc']);
      expect((await svc.list())[0]!.versions.map((v) => v.version)).toEqual([3]);
      expect(await other.refreshIfChanged()).toBe(true);
      expect(other.redact('hmac-third-cccccc')).toBe('[REDACTED:HOOK]');

      await expect(svc.put('rotate', 'NOPE', 'whatever-123', { actor: 't' })).rejects.toThrow(/secret 'NOPE' does not exist; set it first/);
      expect(await svc.delete('HOOK', { actor: 't' })).toMatchObject({ deleted: 1 });
      await expect(svc.get('HOOK', 'x')).rejects.toThrow(/does not exist/);
      expect(svc.values()).toEqual([]);
      expect(await other.refreshIfChanged()).toBe(true);
      expect(other.redact('hmac-third-cccccc')).toBe('hmac-third-cccccc');
    } finally {
      await store.close();
    }
  });

  it('warns about values too short to redact, and refuses a different master key with a clear message', async () => {
    const { store, svc, warnings, dataDir } = await setup();
    try {
      const r = await svc.put('set', 'PIN', '1234', { actor: 't' });
      expect(r.warnings[0]).toMatch(/shorter than 6 characters: it is stored, but not redacted/);
      expect(warnings.length).toBeGreaterThan(0);
      const wrong = new SecretService({
        repo: new SecretRepo(store.handle()),
        dataDir,
        env: 'default',
        graceMs: 1,
        now: Date.now,
        audit: () => ({ record() {} }),
        processEnv: { OPENCLAW_MASTER_KEY: randomBytes(32).toString('base64') },
      });
      await expect(wrong.load()).rejects.toThrow(/was encrypted under master key [0-9a-f]{12}, but this key \(OPENCLAW_MASTER_KEY\) is [0-9a-f]{12}/);
    } finally {
      await store.close();
    }
  });
});

describe('security config', () => {
  const load = (yaml: string) => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'openclaw.yaml'), `project: p\n${yaml}`);
    return loadConfig(path.join(dir, 'openclaw.yaml'), { env: {} });
  };

  it('defaults, durations, and the seed backends rejected with what to use instead', async () => {
    const cfg = await load('security:\n  secrets:\n    rotation_grace: 2h\n    env: production\n');
    expect(cfg.extensions?.security).toMatchObject({
      secrets: { backend: 'local', env: 'production', rotation_grace: 7_200_000 },
      audit: { enabled: true, retention: 90 * 86_400_000 },
    });
    const err = await load('security:\n  secrets:\n    backend: vault\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/openclaw\.yaml:4:\d+: security\.secrets\.backend: "vault" is not supported; use local .* or env/);
    const typo = await load('security:\n  audit:\n    retension: 30d\n').catch((e: unknown) => e);
    expect((typo as Error).message).toMatch(/security\.audit\.retension: unknown key/);
  });

  it('keeps ${secret:NAME} references verbatim in the parsed config', async () => {
    const cfg = await load('agents:\n  a:\n    command: ["/bin/true"]\n    env: { KEY: "${secret:API_KEY}" }\n');
    expect(cfg.agents[0]!.command!.env.KEY).toBe('${secret:API_KEY}');
  });
});
