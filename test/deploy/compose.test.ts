// deploy/compose: both Compose files parse, run three daemons from the repository's Dockerfile on
// PostgreSQL plus Redis (or NATS), use only official images besides ours, and pass the daemons only
// environment variables the daemon reads (directly, or through ${…} in the mounted openclaw.yaml).
// Static: there is no Docker engine here (docs/scale-out.md, "What was not run here").
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/units.js';
import { COMPOSE_DIR, COMPOSE_ENV, COMPOSE_PROJECT, daemonEnvNames, interpolatedNames, loadComposeProject, read, readYaml, ROOT } from './repo.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
  tmpfs?: string[];
  healthcheck?: unknown;
  stop_grace_period?: string;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

// Docker Official Images (no namespace), pinned to a major version.
const OFFICIAL = /^(postgres|redis|nats):[0-9][\w.-]*$/;

const variants = [
  { file: 'compose.yaml', bus: 'redis', url: 'redis://redis:6379' },
  { file: 'compose.nats.yaml', bus: 'nats', url: 'nats://nats:4222' },
] as const;

describe.each(variants)('deploy/compose/$file', ({ file, bus, url }) => {
  const compose = readYaml<ComposeFile>(path.join('deploy/compose', file));
  const daemons = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

  it(`runs three daemons built from the repository's Dockerfile, on PostgreSQL and ${bus}`, () => {
    expect(daemons.map(([name]) => name)).toEqual(['openclaw-1', 'openclaw-2', 'openclaw-3']);
    for (const [, s] of daemons) {
      expect(path.resolve(COMPOSE_DIR, s.build!.context)).toBe(ROOT);
      expect(s.build!.dockerfile).toBe('Dockerfile');
      expect(fs.existsSync(path.join(ROOT, s.build!.dockerfile))).toBe(true);
      expect(Object.keys(s.depends_on ?? {}).sort()).toEqual(['postgres', bus].sort());
      for (const dep of Object.values(s.depends_on!)) expect(dep.condition).toBe('service_healthy');
    }
    const others = Object.keys(compose.services).filter((n) => !n.startsWith('openclaw-'));
    expect(others.sort()).toEqual(['postgres', bus].sort());
  });

  it('names only our image and official images', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build) expect(s.image, name).toBe('openclaw-runtime:local');
      else expect(s.image, name).toMatch(OFFICIAL);
      if (!s.build) expect(s.healthcheck, `${name} needs a healthcheck for depends_on: service_healthy`).toBeDefined();
    }
  });

  it('passes the daemons only variables the daemon or its openclaw.yaml reads', () => {
    const reads = new Set([...daemonEnvNames(), ...interpolatedNames(read(COMPOSE_PROJECT))]);
    for (const [name, s] of daemons) {
      const env = Object.keys(s.environment ?? {});
      expect(env.filter((v) => !reads.has(v)), `${name}: variables nothing reads`).toEqual([]);
      expect(s.environment!.OPENCLAW_DB_URL).toMatch(/^postgres:\/\/\w+:[^@]+@postgres:5432\/\w+$/);
      expect(s.environment!.OPENCLAW_BUS_BACKEND).toBe(bus);
      expect(s.environment!.OPENCLAW_BUS_URL).toBe(url);
      // Every daemon must decrypt the same secrets: the key comes from the operator, never a default.
      expect(s.environment!.OPENCLAW_MASTER_KEY).toMatch(/^\$\{OPENCLAW_MASTER_KEY:\?.+\}$/);
    }
  });

  it("gives a stopping daemon the agents' whole shutdown budget before SIGKILL", () => {
    const budgetMs = Math.max(...loadComposeProject(COMPOSE_ENV).agents.map((a) => a.gracefulShutdown.timeoutMs + a.gracefulShutdown.teardownTimeoutMs));
    for (const [name, s] of daemons) expect(parseDuration(s.stop_grace_period!), name).toBeGreaterThan(budgetMs);
  });

  it('mounts the project read-only, a data volume per daemon, and a writable /tmp on a read-only root', () => {
    const dataVolumes = new Set<string>();
    for (const [name, s] of daemons) {
      expect(s.read_only, name).toBe(true);
      expect(s.tmpfs).toEqual(['/tmp']);
      expect(s.volumes).toContain('./project:/project:ro');
      const data = s.volumes!.find((v) => v.endsWith(':/project/.openclaw'));
      expect(data, `${name}: /project/.openclaw volume`).toBeDefined();
      const vol = data!.split(':')[0];
      expect(Object.keys(compose.volumes)).toContain(vol);
      dataVolumes.add(vol);
    }
    // A shared data directory would make the daemons fight over one daemon.lock and daemon.json.
    expect(dataVolumes.size).toBe(3);
    // The nested mount point must exist in the read-only bind mount (runc cannot create it there).
    expect(fs.existsSync(path.join(COMPOSE_DIR, 'project', '.openclaw'))).toBe(true);
  });
});

describe('the Compose project (deploy/compose/project)', () => {
  it('is a valid openclaw.yaml whose agents exist, with the bus from the environment', () => {
    const cfg = loadComposeProject(COMPOSE_ENV);
    expect(cfg.store).toMatchObject({ kind: 'postgres' });
    expect(cfg.agents.map((a) => a.name).sort()).toEqual(['minutely', 'tally', 'ticker']);
    for (const a of cfg.agents) expect(fs.existsSync(a.source!), a.source).toBe(true);
  });
});
