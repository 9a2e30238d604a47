// The `cluster:` section: located errors for bad values, and its refusal on a SQLite store (one
// daemon owns a SQLite store; several daemons need PostgreSQL).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { resolveCluster } from '../../src/cluster/config.js';
import { configError, project } from '../config/helpers.js';

describe('cluster: section', () => {
  it('reports a bad weight and a lease out of range with file:line', async () => {
    const { file } = project('project: x\ncluster:\n  weight: 0\n  lease: 50ms\nagents: {}\n');
    const err = await configError(loadConfig(file, { env: {} }));
    expect(err.message).toContain(`${file}:3:`);
    expect(err.message).toMatch(/cluster\.weight/);
    expect(err.message).toContain(`${file}:4:`);
    expect(err.message).toMatch(/lease: must be between 1s and 300s/);
  });

  it('defaults: a node id stable for the project directory, weight 1, a 6 s lease', async () => {
    const a = resolveCluster(undefined, '/srv/a/.openclaw');
    expect(resolveCluster(undefined, '/srv/a/.openclaw').nodeId).toBe(a.nodeId);
    expect(resolveCluster(undefined, '/srv/b/.openclaw').nodeId).not.toBe(a.nodeId);
    expect(a).toMatchObject({ weight: 1, capacity: null, leaseMs: 6000 });
    expect(resolveCluster({ node_id: 'web-1', weight: 3, lease: 2000 }, '/x').nodeId).toBe('web-1');
  });

  it('is refused on a SQLite store, before any agent starts (exit 78)', async () => {
    const { file } = project('project: x\napi:\n  port: 0\n  auth: local-trust\ncluster:\n  node_id: a\nagents: {}\n');
    const err = await configError(Daemon.start(await loadConfig(file, { env: {} }), { listen: false }));
    expect(err.exitCode).toBe(78);
    expect(err.message).toMatch(/cluster: several daemons need a PostgreSQL store/);
  });
});
