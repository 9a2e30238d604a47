// Command agents, schedules, exports and the remaining agent sections.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { AGENT_TS, configError, project } from './helpers.js';

describe('agent entries', () => {
  it('a command agent: command line split without a shell, args appended, env as strings, cwd resolved', async () => {
    const yaml = [
      'project: x',
      'agents:',
      '  scraper:',
      '    command: python3 "agents/my scraper.py" --verbose',
      '    args: [--port, 8080]',
      '    env: { DEBUG: true, LEVEL: 3, NAME: scraper }',
      '    cwd: workdir',
      '    health_check:',
      '      liveness: { http: { port: 9000, path: /healthz, expect_status: 204 } }',
      '      readiness: { exec: [test, -f, /tmp/ready] }',
      '      startup: { timeout: 2m }',
      '  listed:',
      '    command: [node, server.js]',
      '    health_check:',
      '      liveness: { http: { url: "http://localhost:3000/live" } }',
      '',
    ].join('\n');
    const { dir, file } = project(yaml, { 'workdir/.keep': '' });
    const cfg = await loadConfig(file, { env: {} });
    const [scraper, listed] = cfg.agents;
    expect(scraper.kind).toBe('command');
    expect(scraper.source).toBeUndefined();
    expect(scraper.isolation).toBe('process');
    expect(scraper.command).toEqual({
      command: 'python3',
      args: ['agents/my scraper.py', '--verbose', '--port', '8080'],
      env: { DEBUG: 'true', LEVEL: '3', NAME: 'scraper' },
      cwd: path.join(dir, 'workdir'),
    });
    expect(scraper.healthCheck.liveness.http).toEqual({ url: 'http://127.0.0.1:9000/healthz', expectStatus: 204 });
    expect(scraper.healthCheck.readiness.exec).toEqual({ command: 'test', args: ['-f', '/tmp/ready'] });
    expect(scraper.healthCheck.startupTimeoutMs).toBe(120_000);
    expect(listed.command).toEqual({ command: 'node', args: ['server.js'], env: {}, cwd: dir });
    expect(listed.healthCheck.liveness.http).toEqual({ url: 'http://localhost:3000/live' });
  });

  it('source with #Export selects a named export; all sections accept their documented keys', async () => {
    const yaml = [
      'project: x',
      'agents:',
      '  reporter:',
      '    source: agents/reporter.mts#DailyReporter',
      '    schedule: { daily: "09:30", tz: Europe/Paris }',
      '    replicas: 3',
      '    isolation: shared',
      '    enabled: false',
      '    overlap: queue',
      '    missed_runs: run_all',
      '    owner: growth-team',
      '    events: { max_attempts: 8, initial_delay: 500ms, max_delay: 2m, concurrency: 4 }',
      '    restart_policy: { backoff: linear, intensity: { max_restarts: 3, window: 30s } }',
      '    logging: { level: warn, format: text, retention: 1d12h }',
      '    resources: { cpu: 500m, events_per_minute: 600, state_writes_per_minute: 120 }',
      '    graceful_shutdown: { timeout: 45, drain_events: false, teardown_timeout: 2s }',
      '  cron-job:',
      '    source: agents/reporter.mts',
      '    schedule: cron 0 */2 * * *',
      '  bare-cron:',
      '    source: agents/reporter.mts',
      '    schedule: "0 9 * * 1-5"',
      '  mapped-cron:',
      '    source: agents/reporter.mts',
      '    schedule: { cron: "0 9 * * 1-5", tz: America/New_York }',
      '',
    ].join('\n');
    const { dir, file } = project(yaml, { 'agents/reporter.mts': AGENT_TS });
    const cfg = await loadConfig(file, { env: {} });
    const [r, c, b, m] = cfg.agents;
    expect(r).toMatchObject({
      name: 'reporter',
      kind: 'module',
      source: path.join(dir, 'agents', 'reporter.mts'),
      exportName: 'DailyReporter',
      schedule: { kind: 'daily', hour: 9, minute: 30, tz: 'Europe/Paris' },
      replicas: 3,
      isolation: 'shared',
      enabled: false,
      overlap: 'queue',
      missed: 'run_all',
      owner: 'growth-team',
      events: { maxAttempts: 8, initialDelayMs: 500, maxDelayMs: 120_000, concurrency: 4 },
      restartPolicy: { backoff: 'linear', initialDelayMs: 5_000, intensity: { maxRestarts: 3, windowMs: 30_000 } },
      logging: { level: 'warning', format: 'text', retentionMs: 36 * 3_600_000 },
      resources: { cpu: 0.5, memoryBytes: null, eventsPerMinute: 600, stateWritesPerMinute: 120 },
      gracefulShutdown: { timeoutMs: 45_000, drainEvents: false, teardownTimeoutMs: 2_000 },
    });
    expect(c.schedule).toEqual({ kind: 'cron', expr: '0 */2 * * *' });
    expect(b.schedule).toEqual({ kind: 'cron', expr: '0 9 * * 1-5' });
    expect(m.schedule).toEqual({ kind: 'cron', expr: '0 9 * * 1-5', tz: 'America/New_York' });
    expect(cfg.agents.map((a) => a.location.replace(/^.*:/, ''))).toEqual(['3', '17', '20', '23']);
  });

  it('extension sections are parsed by their schema (llm) or kept raw; their absence leaves extensions empty', async () => {
    const yaml = ['project: x', 'llm:', '  providers:', '    openai: { models: [gpt-4o] }', 'defaults: { enabled: true }', ''].join('\n');
    const { file } = project(yaml);
    const cfg = await loadConfig(file, { env: {} });
    expect(cfg.extensions?.defaults).toEqual({ enabled: true });
    expect(cfg.extensions?.llm).toMatchObject({ providers: { openai: { type: 'openai', models: ['gpt-4o'] } }, defaults: { max_retries: 2 } });
    expect(cfg.agents).toEqual([]);
  });

  it('YAML anchors and merge keys work; top-level x- keys hold anchors; errors inside anchors point at the anchor', async () => {
    const yaml = [
      'project: x',
      'x-common: &common',
      '  restart_policy: { backoff: linear }',
      'x-broken: &broken',
      '  logging: { level: loud }', // 5
      'agents:',
      '  a:',
      '    <<: *common',
      '    source: agents/a.ts',
      '  b:',
      '    <<: [*common, *broken]',
      '    source: agents/a.ts',
      '',
    ].join('\n');
    const { file } = project(yaml, { 'agents/a.ts': AGENT_TS });
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`)).toEqual([
      '5:21 agents.b.logging.level: must be one of debug | info | warning | error (got "loud")',
    ]);
    const ok = yaml.replace('level: loud', 'level: debug');
    const cfg = await loadConfig(project(ok, { 'agents/a.ts': AGENT_TS }).file, { env: {} });
    expect(cfg.agents.map((a) => [a.name, a.restartPolicy.backoff, a.logging.level])).toEqual([
      ['a', 'linear', 'info'],
      ['b', 'linear', 'debug'],
    ]);
  });

  it('other unknown top-level keys are still errors', async () => {
    const { file } = project('project: x\nsharding: {}\n');
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.message).toBe(`${file}:2:1: sharding: unknown key \`sharding\`; allowed here: project, version, store, bus, api, agents, llm, security, workflows, jobs, streams, cluster, defaults`);
  });

  it('schedule and probe mistakes are specific', async () => {
    const yaml = [
      'project: x',
      'agents:',
      '  a:',
      '    command: ./run.sh',
      '    isolation: shared', // 5
      '    schedule: { every: 5m, tz: UTC }', // 6
      '    health_check:',
      '      liveness:',
      '        http: { url: "http://x/", port: 80 }', // 9
      '  b:',
      '    source: agents/a.ts',
      '    schedule: { daily: "25:00", crn: "x" }', // 12
      '    restart_policy: { initial_delay: 10m, max_delay: 1m }', // 13
      '',
    ].join('\n');
    const { file } = project(yaml, { 'agents/a.ts': AGENT_TS });
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues.map((i) => `${i.line} ${i.field}: ${i.message}`)).toEqual([
      '5 agents.a.isolation: a `command` agent always runs as its own process; remove `isolation` or set it to process (got "shared")',
      '6 agents.a.schedule.tz: a time zone applies only to `cron` and `daily` schedules',
      '9 agents.a.health_check.liveness.http: set either `url` or `port` (with `path`), not both',
      '12 agents.b.schedule.daily: invalid time of day "25:00": use 24-hour HH:MM, e.g. 09:00 or 17:30',
      '12 agents.b.schedule.crn: unknown key `crn` (did you mean `cron`?)',
      '13 agents.b.restart_policy.initial_delay: must not be longer than max_delay (600000ms > 60000ms)',
    ]);
  });
});
