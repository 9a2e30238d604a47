// Seed 003's §5 and §6 openclaw.yaml (source adapted to a .ts agent) load to normalised values.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { AGENT_TS, project } from './helpers.js';

const SECTION_5 = `# openclaw.yaml
project: my-monitoring
version: "1.0"

agents:
  uptime-monitor:
    source: agents/uptime_monitor.ts
    schedule: every 5m
    config:
      slack_webhook: \${SLACK_WEBHOOK_URL}
      targets:
        - url: https://api.example.com/health
          name: "Production API"
          expected_status: 200
          timeout: 10
        - url: https://app.example.com
          name: "Web Application"
          expected_status: 200
          timeout: 15
        - url: https://docs.example.com
          name: "Documentation Site"
          expected_status: 200
          timeout: 10
    restart_policy:
      max_retries: 10
      backoff: exponential
    resources:
      memory: 256Mi
      cpu: 0.25
`;

const SECTION_6 = `# openclaw.yaml - Agent lifecycle configuration
project: lifecycle
agents:
  uptime-monitor:
    source: agents/uptime_monitor.ts
    replicas: 1

    restart_policy:
      max_retries: 5
      backoff: exponential       # immediate | linear | exponential
      initial_delay: 5s          # first retry after 5 seconds
      max_delay: 300s            # cap backoff at 5 minutes
      reset_after: 3600s         # reset retry counter after 1h of healthy operation

    health_check:
      liveness:
        interval: 30s
        timeout: 10s
        unhealthy_threshold: 3   # 3 consecutive failures = restart
      readiness:
        interval: 15s
        timeout: 5s
        unhealthy_threshold: 2   # 2 failures = remove from event bus

    resources:
      cpu: 0.5                   # 0.5 CPU cores
      memory: 512Mi              # 512 MB RAM
      api_calls_per_minute: 60   # rate limit for external API calls
      max_state_size: 100Mi      # max persistent state size

    graceful_shutdown:
      timeout: 30s               # time to finish in-flight work
      drain_events: true         # stop accepting new events before shutdown

    logging:
      level: info                # debug | info | warning | error
      format: json               # json | text
      retention: 7d              # keep logs for 7 days
`;

describe('seed 003 configurations', () => {
  it('§5: the uptime monitor loads with its schedule, config, restart policy and resources', async () => {
    const { dir, file } = project(SECTION_5, { 'agents/uptime_monitor.ts': AGENT_TS });
    const cfg = await loadConfig(file, { env: { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X' } });

    expect(cfg.project).toBe('my-monitoring');
    expect(cfg.version).toBe('1.0');
    expect(cfg.file).toBe(file);
    expect(cfg.root).toBe(dir);
    expect(cfg.dataDir).toBe(path.join(dir, '.openclaw'));
    expect(cfg.store).toEqual({ kind: 'sqlite', path: path.join(dir, '.openclaw', 'openclaw.db') });
    expect(cfg.api).toEqual({ host: '127.0.0.1', port: 8400 });
    expect(cfg.agents).toHaveLength(1);

    const a = cfg.agents[0];
    expect(a.name).toBe('uptime-monitor');
    expect(a.kind).toBe('module');
    expect(a.source).toBe(path.join(dir, 'agents', 'uptime_monitor.ts'));
    expect(a.exportName).toBeUndefined();
    expect(a.schedule).toEqual({ kind: 'every', everyMs: 300_000 });
    expect(a.config).toEqual({
      slack_webhook: 'https://hooks.slack.com/services/T/B/X',
      targets: [
        { url: 'https://api.example.com/health', name: 'Production API', expected_status: 200, timeout: 10 },
        { url: 'https://app.example.com', name: 'Web Application', expected_status: 200, timeout: 15 },
        { url: 'https://docs.example.com', name: 'Documentation Site', expected_status: 200, timeout: 10 },
      ],
    });
    expect(a.restartPolicy).toEqual({
      backoff: 'exponential',
      initialDelayMs: 5_000,
      maxDelayMs: 300_000,
      maxRetries: 10,
      resetAfterMs: 3_600_000,
      intensity: { maxRestarts: 10, windowMs: 60_000 },
    });
    expect(a.resources).toEqual({ memoryBytes: 256 * 1024 * 1024, cpu: 0.25, maxStateSizeBytes: 100 * 1024 * 1024 });
    expect(a.location).toMatch(/openclaw\.yaml:6$/);
    // Everything not written takes the documented defaults.
    expect(a.replicas).toBe(1);
    expect(a.isolation).toBe('dedicated');
    expect(a.enabled).toBe(true);
    expect(a.overlap).toBe('skip');
    expect(a.missed).toBe('run_once');
    expect(a.owner).toBeNull();
    expect(a.events).toEqual({ maxAttempts: 5, initialDelayMs: 1_000, maxDelayMs: 60_000, concurrency: 64, ordering: 'none' });
    expect(a.gracefulShutdown).toEqual({ timeoutMs: 30_000, drainEvents: true, teardownTimeoutMs: 10_000 });
    expect(a.logging).toEqual({ level: 'info', format: 'json', retentionMs: 7 * 86_400_000 });
    expect(a.healthCheck).toEqual({
      liveness: { intervalMs: 30_000, timeoutMs: 10_000, unhealthyThreshold: 3, healthyThreshold: 1 },
      readiness: { intervalMs: 15_000, timeoutMs: 5_000, unhealthyThreshold: 2, healthyThreshold: 1 },
      startupTimeoutMs: 60_000,
    });
  });

  it('§6: the full lifecycle block normalises to milliseconds and bytes', async () => {
    const { file } = project(SECTION_6, { 'agents/uptime_monitor.ts': AGENT_TS });
    const cfg = await loadConfig(file, { env: {} });
    const a = cfg.agents[0];
    expect(a.location).toMatch(/openclaw\.yaml:4$/);
    expect(a.replicas).toBe(1);
    expect(a.restartPolicy).toMatchObject({ backoff: 'exponential', maxRetries: 5, initialDelayMs: 5_000, maxDelayMs: 300_000, resetAfterMs: 3_600_000 });
    expect(a.healthCheck.liveness).toEqual({ intervalMs: 30_000, timeoutMs: 10_000, unhealthyThreshold: 3, healthyThreshold: 1 });
    expect(a.healthCheck.readiness).toEqual({ intervalMs: 15_000, timeoutMs: 5_000, unhealthyThreshold: 2, healthyThreshold: 1 });
    expect(a.resources).toEqual({ cpu: 0.5, memoryBytes: 512 * 1024 ** 2, maxStateSizeBytes: 100 * 1024 ** 2, apiCallsPerMinute: 60 });
    expect(a.gracefulShutdown).toEqual({ timeoutMs: 30_000, drainEvents: true, teardownTimeoutMs: 10_000 });
    expect(a.logging).toEqual({ level: 'info', format: 'json', retentionMs: 604_800_000 });
    expect(a.schedule).toBeNull();
    expect(cfg.version).toBeNull();
  });

  it('loadConfig given the project directory finds openclaw.yaml in it', async () => {
    const { dir, file } = project(SECTION_6, { 'agents/uptime_monitor.ts': AGENT_TS });
    const cfg = await loadConfig(dir, { env: {} });
    expect(cfg.file).toBe(file);
    expect(cfg.agents.map((a) => a.name)).toEqual(['uptime-monitor']);
  });
});
