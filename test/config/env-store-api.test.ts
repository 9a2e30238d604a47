// ${VAR} interpolation, store selection and the api port/host precedence.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpolate, loadConfig, parseConfig } from '../../src/config/index.js';
import { AGENT_TS, configError, configErrorSync, project } from './helpers.js';

describe('environment interpolation', () => {
  const yaml = [
    'project: ${PROJECT:-fallback-name}',
    'api:',
    '  port: ${PORT:-8500}', // unquoted: the result is resolved as YAML would (a number)
    'agents:',
    '  a:',
    '    source: agents/a.ts',
    '    config:',
    '      url: "${BASE_URL}/v1"', // 8
    '      quoted_port: "${PORT:-8500}"', // quoted: stays a string
    '      token: ${secret:SLACK_TOKEN}', // left for the secrets store
    '      literal: $${NOT_A_VAR}',
    '      empty_uses_default: ${EMPTY:-dflt}',
    '',
  ].join('\n');

  it('substitutes variables and defaults, keeps ${secret:…} and $${ escapes', async () => {
    const { file } = project(yaml, { 'agents/a.ts': AGENT_TS });
    const cfg = await loadConfig(file, { env: { BASE_URL: 'https://api.example.com', EMPTY: '' } });
    expect(cfg.project).toBe('fallback-name');
    expect(cfg.api.port).toBe(8500);
    expect(cfg.agents[0].config).toEqual({
      url: 'https://api.example.com/v1',
      quoted_port: '8500',
      token: '${secret:SLACK_TOKEN}',
      literal: '${NOT_A_VAR}',
      empty_uses_default: 'dflt',
    });
  });

  it('a variable that is set wins over the default', async () => {
    const { file } = project(yaml, { 'agents/a.ts': AGENT_TS });
    const cfg = await loadConfig(file, { env: { BASE_URL: 'x', PROJECT: 'from-env', PORT: '9001' } });
    expect(cfg.project).toBe('from-env');
    expect(cfg.api.port).toBe(9001);
  });

  it('a missing variable without default names the variable, where it is used and how to fix it', async () => {
    const { file } = project(yaml, { 'agents/a.ts': AGENT_TS });
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues).toEqual([
      {
        file,
        line: 8,
        column: 12,
        field: 'agents.a.config.url',
        message: 'environment variable BASE_URL is not set; export it (export BASE_URL=…) or give a default with ${BASE_URL:-value}',
      },
    ]);
  });

  it('a missing variable is reported once, not again as a schema error of the same field', () => {
    const err = configErrorSync(() => parseConfig('project: x\napi:\n  port: ${API_PORT}\n', '/tmp/p/openclaw.yaml', { env: {} }));
    expect(err.issues.map((i) => i.field)).toEqual(['api.port']);
    expect(err.issues[0].message).toContain('API_PORT is not set');
  });

  it('malformed references are errors with the escape hint', () => {
    expect(interpolate('a ${1X} b', {}).errors[0]).toContain('`${1X}` is not a valid reference');
    expect(interpolate('a ${X', {}).errors[0]).toContain('unclosed `${`');
    expect(interpolate('plain $HOME text', {}).value).toBe('plain $HOME text');
  });
});

describe('store selection', () => {
  it('defaults to sqlite at <root>/.openclaw/openclaw.db', () => {
    const cfg = parseConfig('project: x\n', '/srv/app/openclaw.yaml', { env: {} });
    expect(cfg.store).toEqual({ kind: 'sqlite', path: '/srv/app/.openclaw/openclaw.db' });
    expect(cfg.dataDir).toBe('/srv/app/.openclaw');
  });

  it('sqlite:relative resolves against the config directory; absolute stays', () => {
    expect(parseConfig('project: x\nstore: sqlite:data/fleet.db\n', '/srv/app/openclaw.yaml', { env: {} }).store).toEqual({
      kind: 'sqlite',
      path: path.resolve('/srv/app/data/fleet.db'),
    });
    expect(parseConfig('project: x\nstore: { path: /var/lib/oc.db }\n', '/srv/app/openclaw.yaml', { env: {} }).store).toEqual({
      kind: 'sqlite',
      path: '/var/lib/oc.db',
    });
  });

  it('a postgres URL selects postgres with schema public, or the schema given', () => {
    const url = 'postgres://oc:pw@db.internal:5432/openclaw';
    expect(parseConfig(`project: x\nstore: ${url}\n`, '/srv/app/openclaw.yaml', { env: {} }).store).toEqual({ kind: 'postgres', url, schema: 'public' });
    expect(
      parseConfig(`project: x\nstore:\n  url: ${url}\n  schema: fleet\n`, '/srv/app/openclaw.yaml', { env: {} }).store,
    ).toEqual({ kind: 'postgres', url, schema: 'fleet' });
  });

  it('OPENCLAW_DB_URL overrides the file, keeping the file’s schema; --store overrides both', () => {
    const text = 'project: x\nstore:\n  url: postgres://file/db\n  schema: fleet\n';
    const env = { OPENCLAW_DB_URL: 'postgres://env-host/db' };
    expect(parseConfig(text, '/srv/app/openclaw.yaml', { env }).store).toEqual({ kind: 'postgres', url: 'postgres://env-host/db', schema: 'fleet' });
    expect(parseConfig('project: x\n', '/srv/app/openclaw.yaml', { env }).store).toEqual({ kind: 'postgres', url: 'postgres://env-host/db', schema: 'public' });
    expect(parseConfig(text, '/srv/app/openclaw.yaml', { env, overrides: { store: 'sqlite:x.db' } }).store).toEqual({
      kind: 'sqlite',
      path: '/srv/app/x.db',
    });
  });

  it('an unusable store value is located and says what is accepted', () => {
    const err = configErrorSync(() =>
      parseConfig('project: x\nstore:\n  url: mysql://h/db\n  shema: s\n', '/srv/app/openclaw.yaml', { env: {} }),
    );
    expect(err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`)).toEqual([
      '3:8 store.url: use a postgres://… URL, sqlite:path/to/file.db, or a mapping { url, schema } / { path } (got "mysql://h/db")',
      '4:3 store.shema: unknown key `shema` (did you mean `schema`?)',
    ]);
    const env = configErrorSync(() => parseConfig('project: x\n', '/srv/app/openclaw.yaml', { env: { OPENCLAW_DB_URL: 'redis://x' } }));
    expect(env.issues[0]).toMatchObject({ field: 'store', line: null });
    expect(env.issues[0].message).toMatch(/^OPENCLAW_DB_URL use a postgres/);
  });
});

describe('version', () => {
  it('an unquoted number keeps its written text (1.10 is not 1.1)', () => {
    expect(parseConfig('project: x\nversion: 1.10\n', '/srv/app/openclaw.yaml', { env: {} }).version).toBe('1.10');
    expect(parseConfig('project: x\nversion: "2.0"\n', '/srv/app/openclaw.yaml', { env: {} }).version).toBe('2.0');
  });
});

describe('api host and port', () => {
  const file = '/srv/app/openclaw.yaml';
  it('defaults to 127.0.0.1:8400', () => {
    expect(parseConfig('project: x\n', file, { env: {} }).api).toEqual({ host: '127.0.0.1', port: 8400 });
  });
  it('precedence: overrides.port > OPENCLAW_PORT > file > default', () => {
    const text = 'project: x\napi: { host: 0.0.0.0, port: 9000 }\n';
    expect(parseConfig(text, file, { env: {} }).api).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(parseConfig(text, file, { env: { OPENCLAW_PORT: '9100' } }).api.port).toBe(9100);
    expect(parseConfig(text, file, { env: { OPENCLAW_PORT: '9100' }, overrides: { port: 9200, host: '10.0.0.1' } }).api).toEqual({
      host: '10.0.0.1',
      port: 9200,
    });
    expect(parseConfig('project: x\n', file, { env: { OPENCLAW_PORT: '9100' } }).api.port).toBe(9100);
  });
  it('an invalid OPENCLAW_PORT or port is an error naming it', () => {
    const e1 = configErrorSync(() => parseConfig('project: x\n', file, { env: { OPENCLAW_PORT: 'http' } }));
    expect(e1.message).toBe(`${file}: api.port: OPENCLAW_PORT must be a port number 0-65535 (got "http")`);
    const e2 = configErrorSync(() => parseConfig('project: x\napi:\n  port: 70000\n', file, { env: {} }));
    expect(e2.message).toBe(`${file}:3:9: api.port: must be at most 65535 (got 70000)`);
  });
});
