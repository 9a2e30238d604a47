// deploy/helm/openclaw, checked without helm (not installed here; docs/scale-out.md): the schema
// Helm enforces at install, run with ajv — the defaults pass, SQLite with replicas > 1 is refused
// with a message that says what to do — and the templates' static facts: every .Values path they
// read exists in values.yaml, their actions balance, the refusal is also a template `fail`.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { CHART, COMPOSE_ENV, daemonEnvNames, interpolatedNames, loadComposeProject, read, readYaml } from './repo.js';

type Values = Record<string, unknown>;
const schema = JSON.parse(fs.readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as object;
const defaults = readYaml<Values>('deploy/helm/openclaw/values.yaml');
const validate = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false }).compile(schema);
const templates = fs.readdirSync(path.join(CHART, 'templates')).map((f) => ({ f, text: fs.readFileSync(path.join(CHART, 'templates', f), 'utf8') }));

/** Helm's deep merge of user values over the chart's defaults (maps merge, the rest replaces). */
function merge(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}
function isMap(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The values' problems as Helm prints them (one line per error), or [] when they pass. */
function problems(over: Values): string[] {
  if (validate(merge(defaults, over))) return [];
  return (validate.errors as ErrorObject[])
    .filter((e) => e.keyword !== 'if') // "must match then": the line that matters is the next one
    .map((e) => (e.keyword === 'required' ? `missing property '${e.params.missingProperty}'` : `${e.instancePath || '(root)'}: ${e.message}`));
}

const scaleOut: Values = {
  replicaCount: 3,
  store: { type: 'postgres' },
  postgres: { existingSecret: 'openclaw-db' },
  masterKey: { existingSecret: 'openclaw-master-key' },
  bus: { backend: 'redis' },
  redis: { url: 'redis://redis:6379' },
};

describe('Chart.yaml and values.yaml', () => {
  it('are a v2 application chart whose appVersion is the package version', () => {
    const chart = readYaml<Values>('deploy/helm/openclaw/Chart.yaml');
    const pkg = JSON.parse(read('package.json')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'openclaw', type: 'application', appVersion: pkg.version });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('follow seed 003 §12 where it fits: replicaCount, ingress, monitoring, autoscaling', () => {
    expect(Object.keys(defaults)).toEqual(expect.arrayContaining(['replicaCount', 'resources', 'postgres', 'redis', 'ingress', 'monitoring', 'autoscaling']));
    expect(defaults.monitoring).toMatchObject({ prometheus: { serviceMonitor: false }, grafana: { dashboards: false } });
  });

  it('ship the Grafana dashboard as deploy/grafana has it', () => {
    expect(read('deploy/helm/openclaw/dashboards/openclaw.json')).toBe(read('deploy/grafana/openclaw.json'));
  });
});

describe('values.schema.json (what Helm enforces at install)', () => {
  it('accepts the defaults: one daemon on SQLite', () => {
    expect(problems({})).toEqual([]);
    expect(defaults).toMatchObject({ replicaCount: 1, store: { type: 'sqlite' } });
  });

  it('refuses replicas > 1 with SQLite, saying why and what to do', () => {
    const out = problems({ replicaCount: 2 });
    expect(out).toEqual([
      "missing property 'store.type sqlite runs exactly one daemon (one SQLite file, one owner): set replicaCount to 1, or use store.type postgres for several daemons'",
    ]);
    expect(problems({ replicaCount: 1 })).toEqual([]);
    expect(problems({ replicaCount: 0 })).toEqual([]);
    expect(problems({ autoscaling: { enabled: true } })).toEqual([
      "missing property 'autoscaling needs store.type postgres: a SQLite fleet is one daemon and cannot scale out'",
    ]);
  });

  it('accepts a PostgreSQL fleet of three daemons on Redis or NATS, scaled by KEDA or an HPA', () => {
    expect(problems(scaleOut)).toEqual([]);
    expect(problems({ ...scaleOut, bus: { backend: 'nats' }, nats: { existingSecret: 'nats' } })).toEqual([]);
    expect(problems({ ...scaleOut, autoscaling: { enabled: true, kind: 'hpa' } })).toEqual([]);
    expect(problems({ ...scaleOut, monitoring: { prometheus: { serviceMonitor: true, tokenSecret: { name: 'metrics-token' } }, grafana: { dashboards: true } } })).toEqual([]);
  });

  it('refuses a PostgreSQL fleet missing what every daemon needs, naming the fix', () => {
    const { postgres: _p, masterKey: _m, ...bare } = scaleOut;
    expect(problems(bare)).toEqual([
      "missing property 'store.type postgres needs the database URL: set postgres.url, or postgres.existingSecret naming a Secret that holds it'",
      "missing property 'store.type postgres needs masterKey.existingSecret: a Secret with OPENCLAW_MASTER_KEY (32 bytes, base64), the same for every replica (openssl rand -base64 32)'",
    ]);
    expect(problems({ ...scaleOut, redis: { url: '' } })).toEqual([
      "missing property 'bus.backend redis needs the Redis URL: set redis.url, or redis.existingSecret naming a Secret that holds it'",
    ]);
    expect(problems({ monitoring: { prometheus: { serviceMonitor: true } } })[0]).toContain('tokenSecret.name');
  });

  it('refuses unknown keys and wrong types (a typo is not silently ignored)', () => {
    expect(problems({ replicas: 3 })).toEqual(['(root): must NOT have additional properties']);
    expect(problems({ store: { type: 'mysql' } })).toEqual(['/store/type: must be equal to one of the allowed values']);
    expect(problems({ bus: { backend: 'kafka' } })).toEqual(['/bus/backend: must be equal to one of the allowed values']);
    expect(problems({ project: { files: { '../etc/passwd': 'x' } } })[0]).toContain('/project/files');
  });
});

describe('templates', () => {
  /** Values paths read in templates: `.Values.a.b` (and `$.Values.a.b`, `.root.Values.a.b`). */
  const refs = templates.flatMap(({ f, text }) => [...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => ({ f, path: m[1].slice(1).split('.') })));

  it('read only values that values.yaml defines', () => {
    expect(refs.length).toBeGreaterThan(50);
    const missing = refs.filter(({ path: p }) => {
      let cur: unknown = defaults;
      for (const k of p) {
        if (!isMap(cur) || !(k in cur)) return true;
        cur = cur[k];
      }
      return false;
    });
    expect(missing.map(({ f, path: p }) => `${f}: .Values.${p.join('.')}`)).toEqual([]);
  });

  it('balance their actions: every if/range/with/define has its end', () => {
    for (const { f, text } of templates) {
      const actions = [...text.matchAll(/\{\{-?\s*(\/\*[\s\S]*?\*\/|[\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]);
      expect(text.split('{{').length, `${f}: {{ and }}`).toBe(text.split('}}').length);
      let depth = 0;
      for (const a of actions) {
        if (/^(if|range|with|define|block)\b/.test(a)) depth++;
        else if (/^end\b/.test(a)) depth--;
        expect(depth, `${f}: an end without its opening action`).toBeGreaterThanOrEqual(0);
      }
      expect(depth, `${f}: ${depth} action(s) without end`).toBe(0);
    }
  });

  it('refuse SQLite with replicas > 1 in a template too, with the schema\'s words', () => {
    const helpers = templates.find((t) => t.f === '_helpers.tpl')!.text;
    expect(helpers).toMatch(/if and \(eq \.Values\.store\.type "sqlite"\) \(gt \(int \.Values\.replicaCount\) 1\)/);
    expect(helpers).toContain('store.type sqlite runs exactly one daemon (one SQLite file, one owner): set replicaCount to 1, or use store.type postgres for several daemons');
    expect(templates.find((t) => t.f === 'workload.yaml')!.text.startsWith('{{- include "openclaw.validate" . -}}')).toBe(true);
  });

  it('have a Deployment on PostgreSQL, a StatefulSet on SQLite, a PDB, KEDA or HPA autoscaling, a ServiceMonitor', () => {
    const kinds = templates.flatMap(({ text }) => [...text.matchAll(/^kind: (\w+)/gm)].map((m) => m[1]));
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'StatefulSet', 'PodDisruptionBudget', 'ScaledObject', 'HorizontalPodAutoscaler', 'ServiceMonitor', 'Ingress', 'Service', 'ConfigMap', 'Secret']));
    const pod = templates.find((t) => t.f === '_helpers.tpl')!.text;
    // A rolling update drains: preStop pause, then SIGTERM (drain, hand leases over) within the grace period.
    expect(pod).toContain('terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}');
    expect(pod).toMatch(/preStop:\s+#[^\n]*\n\s+exec: \{ command: \["sleep"/);
    for (const probe of ['/startupz', '/readyz', '/healthz']) expect(pod).toContain(`path: ${probe}`);
    expect(templates.find((t) => t.f === 'workload.yaml')!.text).toContain('rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }');
  });

  it('default to a grace period that covers the preStop pause and the agents\' default shutdown budget', () => {
    const budgetMs = Math.max(...loadComposeProject(COMPOSE_ENV).agents.map((a) => a.gracefulShutdown.timeoutMs + a.gracefulShutdown.teardownTimeoutMs));
    expect((defaults.terminationGracePeriodSeconds as number) * 1000).toBeGreaterThan(budgetMs + (defaults.preStopSleepSeconds as number) * 1000);
  });

  it('give the daemon only variables it or the project reads', () => {
    const reads = new Set([...daemonEnvNames(), ...interpolatedNames(read('deploy/compose/project/openclaw.yaml'))]);
    const set = templates.flatMap(({ text }) => [...text.matchAll(/(?:- name:|"env" )\s*"?(OPENCLAW_[A-Z0-9_]+)/g)].map((m) => m[1]));
    expect(new Set(set)).toEqual(new Set(['OPENCLAW_DB_URL', 'OPENCLAW_BUS_BACKEND', 'OPENCLAW_BUS_URL', 'OPENCLAW_MASTER_KEY', 'OPENCLAW_OTEL_ENDPOINT', 'OPENCLAW_PORT']));
    expect(set.filter((n) => !reads.has(n))).toEqual([]);
  });
});
