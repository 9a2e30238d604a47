import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { classNameFor, listTemplates, renderTemplate } from '../../src/agents/templates.js';
import { describeAgentClass } from '../../src/agents/describe.js';
import { importWithSdk } from './helpers/sdk-import.js';

describe('listTemplates', () => {
  it('lists the three shipped templates with descriptions', () => {
    const list = listTemplates();
    expect(list.map((t) => t.name)).toEqual(['llm-processor', 'scheduled-report', 'watchdog']);
    for (const t of list) expect(t.description.length).toBeGreaterThan(20);
  });
});

describe('renderTemplate', () => {
  it('fills the agent name, class name and file into source and YAML', () => {
    const r = renderTemplate('watchdog', 'uptime-monitor');
    expect(r.file).toBe('agents/uptime-monitor.ts');
    expect(r.source).toContain('export default class UptimeMonitor extends Agent');
    expect(r.source).not.toMatch(/\{\{/);
    expect(r.yaml).not.toMatch(/\{\{/);
    const doc = parseYaml(`agents:\n${r.yaml}`) as { agents: Record<string, { source: string; config: Record<string, unknown> }> };
    expect(Object.keys(doc.agents)).toEqual(['uptime-monitor']);
    expect(doc.agents['uptime-monitor']!.source).toBe('agents/uptime-monitor.ts');
    expect(doc.agents['uptime-monitor']!.config.targets).toEqual([{ name: 'example', url: 'https://example.com', expected_status: 200, timeout: 10 }]);
  });

  it('names what is wrong with a bad template or agent name', () => {
    expect(() => renderTemplate('nope', 'x')).toThrow("template 'nope' not found; available: llm-processor, scheduled-report, watchdog");
    expect(() => renderTemplate('watchdog', 'Bad Name')).toThrow(/invalid agent name "Bad Name"/);
    expect(() => renderTemplate('watchdog', '9lives')).toThrow(/starting with a letter/);
  });

  it('derives class names', () => {
    expect(classNameFor('uptime-monitor')).toBe('UptimeMonitor');
    expect(classNameFor('price_watcher2')).toBe('PriceWatcher2');
  });

  const expected: Record<string, { schedule: unknown; handlers: unknown[] }> = {
    watchdog: { schedule: { kind: 'every', everyMs: 60_000 }, handlers: [] },
    'llm-processor': { schedule: null, handlers: [{ event: 'item_received', method: 'process' }] },
    'scheduled-report': { schedule: { kind: 'daily', hour: 9, minute: 0, tz: 'UTC' }, handlers: [] },
  };

  it.each(Object.keys(expected))('%s renders into a module that loads and describes', async (name) => {
    const dir = mkdtempSync(path.join(tmpdir(), `openclaw-template-${name}-`));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const r = renderTemplate(name, `my-${name}`);
    mkdirSync(path.join(dir, 'agents'));
    writeFileSync(path.join(dir, r.file), r.source);
    const mod = await importWithSdk(path.join(dir, r.file));
    const d = describeAgentClass(mod.default);
    expect(d.className).toBe(classNameFor(`my-${name}`));
    expect(d.schedule).toEqual(expected[name]!.schedule);
    expect(d.handlers).toEqual(expected[name]!.handlers);
  });
});
