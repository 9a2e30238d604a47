// The shipped operations files: Prometheus alert rules (checked and unit-tested with promtool)
// and the Grafana dashboard (seed 003's panels and ours; every query parses and names metrics the
// daemon exports).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXTRA_METRICS, promtool, runPromtool, SEED_METRICS } from './promtool.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RULES = path.join(REPO, 'deploy', 'prometheus', 'alerts.yml');
const RULE_TESTS = path.join(REPO, 'deploy', 'prometheus', 'alerts.test.yml');
const DASHBOARD = path.join(REPO, 'deploy', 'grafana', 'openclaw.json');

interface Panel {
  title: string;
  type: string;
  targets: Array<{ expr: string }>;
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { title: string; panels: Panel[] };
const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
const known = new Set([...Object.keys(SEED_METRICS), ...Object.keys(EXTRA_METRICS)]);
/** Series names a query reads (histogram series map to their family). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:openclaw|process|nodejs)_[a-z_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ''));
}

describe('deploy/prometheus/alerts.yml', () => {
  it('has the four alerts of seed 003 on metrics the daemon exports', () => {
    const text = fs.readFileSync(RULES, 'utf8');
    for (const a of ['AgentDown', 'HighFailureRate', 'LLMBudgetExceeded', 'AgentRestartLoop']) expect(text).toContain(`alert: ${a}`);
    for (const m of metricNames(text)) expect(known, m).toContain(m);
  });

  it.runIf(runPromtool)('passes promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.out).toMatch(/SUCCESS: 4 rules found/);
    expect(r.code).toBe(0);
  });

  it.runIf(runPromtool)('passes its unit tests (promtool test rules)', () => {
    const r = promtool(['test', 'rules', RULE_TESTS]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  it.runIf(runPromtool)('the unit tests can fail: AgentDown without the stopped-agent exception fires for the stopped agent', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-rules-'));
    const broken = fs.readFileSync(RULES, 'utf8').replace(/\n\s*unless on \(job, instance, agent\) openclaw_agent_state\{state="stopped"\} == 1/, '');
    fs.writeFileSync(path.join(dir, 'alerts.yml'), broken);
    fs.copyFileSync(RULE_TESTS, path.join(dir, 'alerts.test.yml'));
    const r = promtool(['test', 'rules', path.join(dir, 'alerts.test.yml')]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/agent="reporter"/);
  });
});

describe('deploy/grafana/openclaw.json', () => {
  it("has seed 003's panels plus restarts, pending events and LLM spend", () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Agent Status Overview', 'Run Success Rate (24h)', 'LLM Cost per Agent (Daily)', 'Run Duration (p95)']) expect(titles).toContain(t);
    expect(titles.some((t) => /Restarts/.test(t))).toBe(true);
    expect(titles.some((t) => /Pending Events/.test(t))).toBe(true);
    expect(titles.some((t) => /LLM Spend/.test(t))).toBe(true);
    for (const m of exprs.flatMap(metricNames)) expect(known, m).toContain(m);
  });

  it.runIf(runPromtool)('every panel query is valid PromQL (checked as recording rules)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-dash-'));
    const rules = exprs.map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e.replaceAll('$job', '.*').replaceAll('$agent', '.*'))}\n`).join('');
    const file = path.join(dir, 'dashboard-queries.yml');
    fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
    const r = promtool(['check', 'rules', file]);
    expect(r.out).toMatch(new RegExp(`SUCCESS: ${exprs.length} rules found`));
    expect(r.code).toBe(0);
  });
});
