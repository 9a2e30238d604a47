// Every error names the file, line, column and dotted field, and says what is accepted.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/index.js';
import { AGENT_TS, configError, configErrorSync, project } from './helpers.js';

const agentFile = { 'agents/a.ts': AGENT_TS };

describe('config errors', () => {
  it('malformed YAML reports the parser line and column and nothing else', async () => {
    const { file } = project('project: x\nagents:\n  a:\n    source: agents/a.ts\n    config: { key: [1, 2 }\n', agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.code).toBe('config_invalid');
    expect(err.exitCode).toBe(78);
    expect(err.issues.length).toBeGreaterThanOrEqual(1);
    const first = err.issues[0];
    expect(first.file).toBe(file);
    expect(first.line).toBe(5);
    expect(first.column).toBeGreaterThan(1);
    expect(first.message).toMatch(/^invalid YAML: /);
    expect(err.message).toContain(`${file}:5:${first.column}: invalid YAML`);
  });

  it('a duplicate key is a YAML error at the second occurrence', async () => {
    const { file } = project('project: x\nproject: y\n');
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ line: 2, column: 1 });
    expect(err.issues[0].message).toContain('appears twice');
  });

  it('an empty file and a non-mapping top level are explained', () => {
    const e1 = configErrorSync(() => parseConfig('# nothing\n', '/tmp/p/openclaw.yaml', { env: {} }));
    expect(e1.message).toContain('the file is empty; it needs at least `project: <name>`');
    const e2 = configErrorSync(() => parseConfig('- a\n- b\n', '/tmp/p/openclaw.yaml', { env: {} }));
    expect(e2.message).toContain('/tmp/p/openclaw.yaml:1:1: the top level must be a mapping');
  });

  it('an unknown key names its line and column and suggests the closest allowed key', async () => {
    const yaml = ['project: x', 'agents:', '  monitor:', '    source: agents/a.ts', '    restart_polcy:', '      backoff: linear', ''].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues).toEqual([
      { file, line: 5, column: 5, field: 'agents.monitor.restart_polcy', message: 'unknown key `restart_polcy` (did you mean `restart_policy`?)' },
    ]);
    expect(err.message).toBe(`${file}:5:5: agents.monitor.restart_polcy: unknown key \`restart_polcy\` (did you mean \`restart_policy\`?)`);
  });

  it('unknown keys are found at every level, top level included', async () => {
    const yaml = [
      'project: x',
      'agnets: {}', // 2
      'agents:',
      '  a:',
      '    source: agents/a.ts',
      '    health_check:',
      '      liveness:',
      '        intervall: 5s', // 8
      '    zzzzqqq: 1', // 9: no close match -> lists the allowed keys
      '',
    ].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues.map((i) => [i.line, i.field, i.message])).toEqual([
      [2, 'agnets', 'unknown key `agnets` (did you mean `agents`?)'],
      [8, 'agents.a.health_check.liveness.intervall', 'unknown key `intervall` (did you mean `interval`?)'],
      [9, 'agents.a.zzzzqqq', expect.stringMatching(/^unknown key `zzzzqqq`; allowed here: source, command, .*restart_policy/)],
    ]);
  });

  it('wrong types name the field, the expected type and what was found', async () => {
    const yaml = [
      'project: x',
      'api:',
      '  port: eighty', // 3
      'agents:',
      '  a:',
      '    source: agents/a.ts',
      '    replicas: two', // 7
      '    enabled: yes', // 8
      '    config: [1, 2]', // 9
      '    restart_policy: fast', // 10
      '',
    ].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`)).toEqual([
      '3:9 api.port: must be a whole number (got "eighty")',
      '7:15 agents.a.replicas: must be a whole number (got "two")',
      '8:14 agents.a.enabled: must be true or false (got "yes")',
      '9:13 agents.a.config: must be a mapping of settings passed to the agent (got a list)',
      '10:21 agents.a.restart_policy: must be a mapping (got "fast")',
    ]);
  });

  it('an invalid enum lists the choices and suggests the closest', async () => {
    const yaml = ['project: x', 'agents:', '  monitor:', '    source: agents/a.ts', '    restart_policy:', '      backoff: expo', ''].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.message).toBe(
      `${file}:6:16: agents.monitor.restart_policy.backoff: must be one of immediate | linear | exponential (got "expo"); did you mean "exponential"?`,
    );
  });

  it('a missing agent file names the field and the resolved path', async () => {
    const yaml = ['project: x', 'agents:', '  monitor:', '    source: agents/missing.ts', ''].join('\n');
    const { dir, file } = project(yaml);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ line: 4, column: 13, field: 'agents.monitor.source' });
    expect(err.issues[0].message).toContain(`file not found: ${path.join(dir, 'agents', 'missing.ts')}`);
  });

  it('a non-JavaScript source points at command:', async () => {
    const yaml = ['project: x', 'agents:', '  monitor:', '    source: agents/uptime_monitor.py', ''].join('\n');
    const { file } = project(yaml, { 'agents/uptime_monitor.py': 'print(1)\n' });
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues[0].field).toBe('agents.monitor.source');
    expect(err.issues[0].message).toContain('must be a .ts, .mts, .js, .mjs module');
    expect(err.issues[0].message).toContain('command: [python3, agents/uptime_monitor.py]');
  });

  it('an agent needs exactly one of source and command', async () => {
    const yaml = [
      'project: x',
      'agents:',
      '  both:', // 3
      '    source: agents/a.ts',
      '    command: ./run.sh',
      '  neither:', // 6
      '    schedule: every 5m',
      '',
    ].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues.map((i) => [i.line, i.column, i.field])).toEqual([
      [3, 3, 'agents.both'],
      [6, 3, 'agents.neither'],
    ]);
    expect(err.issues[0].message).toContain('set exactly one of `source`');
    expect(err.issues[0].message).toContain('not both');
    expect(err.issues[1].message).toContain('neither is set');
  });

  it('command-only keys on a source agent are rejected', async () => {
    const yaml = ['project: x', 'agents:', '  a:', '    source: agents/a.ts', '    args: [--x]', '    health_check:', '      liveness:', '        exec: [true]', ''].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues.map((i) => [i.line, i.field])).toEqual([
      [5, 'agents.a.args'],
      [8, 'agents.a.health_check.liveness.exec'],
    ]);
    expect(err.issues[0].message).toContain('applies only to `command` agents');
  });

  it('agent names must be lowercase identifiers', async () => {
    const yaml = ['project: x', 'agents:', '  Uptime Monitor:', '    source: agents/a.ts', ''].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ line: 3, column: 3, field: 'agents.Uptime Monitor' });
    expect(err.issues[0].message).toContain('invalid agent name "Uptime Monitor": use 1-63 lowercase letters, digits, - or _');
  });

  it('bad durations, sizes, cron expressions and time zones are each located', async () => {
    const yaml = [
      'project: x',
      'agents:',
      '  a:',
      '    source: agents/a.ts',
      '    schedule: "cron 61 * * * *"', // 5
      '    restart_policy:',
      '      initial_delay: 5 parsecs', // 7
      '    resources:',
      '      memory: 256Zi', // 9
      '  b:',
      '    source: agents/a.ts',
      '    schedule:',
      '      cron: "0 9 * * 1-5"',
      '      tz: Europe/Pariss', // 14
      '  c:',
      '    source: agents/a.ts',
      '    schedule: every soon', // 17
      '    logging: { retention: -1d }', // 18
      '',
    ].join('\n');
    const { file } = project(yaml, agentFile);
    const err = await configError(loadConfig(file, { env: {} }));
    const got = err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`);
    expect(got).toHaveLength(6);
    expect(got[0]).toBe('5:15 agents.a.schedule: invalid cron expression "61 * * * *": Invalid value for minute: 61');
    expect(got[1]).toMatch(/^7:22 agents\.a\.restart_policy\.initial_delay: invalid duration "5 parsecs": unknown unit "parsecs"; use a number with a unit/);
    expect(got[2]).toMatch(/^9:15 agents\.a\.resources\.memory: invalid size "256Zi": unknown unit "Zi"; use a number with a unit \(512k, 100MB, 256Mi, 1Gi\)/);
    expect(got[3]).toBe(
      '14:11 agents.b.schedule.tz: unknown time zone "Europe/Pariss" (did you mean "Europe/Paris"?); use an IANA name such as Europe/Paris or UTC',
    );
    expect(got[4]).toMatch(/^17:15 agents\.c\.schedule: invalid duration "soon": use a number with a unit/);
    expect(got[5]).toMatch(/^18:27 agents\.c\.logging\.retention: invalid duration "-1d"/);
  });

  it('several problems in several places are reported together, in file order', async () => {
    const yaml = [
      'version: [1]', // 1: wrong type; `project` missing
      'agents:',
      '  one:',
      '    source: agents/nope.ts', // 4
      '    isolation: sharde', // 5
      '  two:',
      '    command: ./run.sh',
      '    overlap: skipp', // 8
      '    missed_runs: all', // 9
      '    events: { max_attempts: 0 }', // 10
      '    replica: 2', // 11: an unknown key next to invalid values in the same mapping
      '',
    ].join('\n');
    const { file } = project(yaml);
    const err = await configError(loadConfig(file, { env: {} }));
    const fields = err.issues.map((i) => `${i.line} ${i.field}`);
    expect(fields).toEqual([
      '1 project',
      '1 version',
      '4 agents.one.source',
      '5 agents.one.isolation',
      '8 agents.two.overlap',
      '9 agents.two.missed_runs',
      '10 agents.two.events.max_attempts',
      '11 agents.two.replica',
    ]);
    expect(err.issues[0].message).toContain('is required');
    expect(err.issues[3].message).toBe('must be one of dedicated | shared | process (got "sharde"); did you mean "shared"?');
    expect(err.issues[5].message).toContain('must be one of skip | run_once | run_all (got "all")');
    expect(err.issues[6].message).toBe('must be at least 1 (got 0)');
    expect(err.issues[7].message).toBe('unknown key `replica` (did you mean `replicas`?)');
    // One message, one line per issue.
    expect(err.message.split('\n')).toHaveLength(8);
  });

  it('a missing config file is a ConfigError naming the path', async () => {
    const { dir } = project('project: x\n');
    const missing = path.join(dir, 'nope', 'openclaw.yaml');
    const err = await configError(loadConfig(missing, { env: {} }));
    expect(err.issues[0]).toMatchObject({ file: missing, line: null });
    expect(err.message).toContain('config file not found');
  });
});
