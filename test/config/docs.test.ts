// The examples in docs/configuration.md load: the reference stays true to the schema.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { AGENT_TS, project } from './helpers.js';

const doc = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/configuration.md'), 'utf8');
const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
const files = { 'agents/uptime_monitor.ts': AGENT_TS, 'agents/report.ts': AGENT_TS, 'agents/fetcher.ts': AGENT_TS };

describe('docs/configuration.md', () => {
  it('has complete examples', () => {
    expect(blocks.filter((b) => b.startsWith('project:')).length).toBeGreaterThanOrEqual(2);
  });

  const whole = blocks.map((b, i) => [i, b] as const).filter(([, b]) => b.startsWith('project:') || b.startsWith('agents:'));
  it.each(whole)('example #%d loads', async (_i, yaml) => {
    const { file } = project(yaml.startsWith('agents:') ? `project: x\n${yaml}` : yaml, files);
    const cfg = await loadConfig(file, { env: { SLACK_WEBHOOK_URL: 'https://hooks.example/x' } });
    expect(cfg.agents.length).toBeGreaterThan(0);
  });

  it('the x- anchor example merges into the agent', async () => {
    const block = blocks.find((b) => b.startsWith('x-defaults:'))!;
    const { file } = project(`project: x\n${block}`, files);
    const cfg = await loadConfig(file, { env: {} });
    expect(cfg.agents[0]).toMatchObject({ name: 'fetcher', restartPolicy: { backoff: 'linear' }, logging: { level: 'debug' } });
  });

  it('the agent-level fragments are valid agent entries', async () => {
    // Fragments that start with a section key are wrapped into an agent.
    const fragments = blocks.filter((b) => /^(restart_policy|health_check|store):/.test(b));
    expect(fragments.length).toBe(3);
    for (const f of fragments) {
      const body = f.startsWith('store:')
        ? `project: x\n${f}`
        : `project: x\nagents:\n  a:\n    command: [./run.sh]\n${f.replace(/^/gm, '    ')}`;
      const { file } = project(body, files);
      await expect(loadConfig(file, { env: { PG_PASSWORD: 'pw' } })).resolves.toBeTruthy();
    }
  });
});
