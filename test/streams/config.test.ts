// The streams: section: parsed by its own schema inside the loader, errors located at file:line.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { configError, project } from '../config/helpers.js';
import { parseAgg } from '../../src/streams/config.js';
import fs from 'node:fs';

const yamlBlocks = (file: string) => [...fs.readFileSync(new URL(`../../docs/${file}`, import.meta.url), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('streams: config', () => {
  it('parses streams and windows with their units', async () => {
    const yaml = ['project: x', 'streams:', '  logs:', '    partition_key: service', '    event_time: { field: ts, format: iso8601 }', '    limits: { max_body: 1mb, rate: 100/s }', '    windows:', '      w: { type: hopping, size: 5m, slide: 1m, aggregate: { n: count, p: avg(ms) } }', ''].join('\n');
    const cfg = await loadConfig(project(yaml).file, { env: {} });
    const s = (cfg.extensions?.streams as any).logs;
    expect(s.limits).toEqual({ max_body: 1_000_000, rate: { count: 100, windowMs: 1000 } });
    expect(s.windows.w).toMatchObject({ type: 'hopping', size: 300_000, slide: 60_000, aggregate: { n: { op: 'count', field: null }, p: { op: 'avg', field: ['ms'] } } });
  });

  it('locates a missing slide, an unknown aggregation and a window name used twice', async () => {
    const yaml = [
      'project: x',
      'streams:',
      '  a:',
      '    windows:',
      '      w: { type: hopping, size: 5m, aggregate: { n: count } }', // 5
      '      v: { type: tumbling, size: 1m, aggregate: { n: median(x) } }', // 6
      '  b:',
      '    windows:',
      '      w: { type: session, gap: 1m, aggregate: { n: count } }', // 9
      '',
    ].join('\n');
    const e = await configError(loadConfig(project(yaml).file, { env: {} }));
    expect(e.message).toMatch(/openclaw\.yaml:5:\d+: streams\.a\.windows\.w\.slide: a hopping window needs slide/);
    expect(e.message).toMatch(/openclaw\.yaml:6:\d+: streams\.a\.windows\.v\.aggregate\.n: "median\(x\)" is not an aggregation/);
    expect(e.message).toMatch(/streams\.b\.windows\.w: window 'w' is also declared on stream 'a'/);
  });

  it('loads the streams examples of docs/configuration.md and docs/streams.md', async () => {
    const ref = yamlBlocks('configuration.md').find((b) => b.startsWith('streams:'))!;
    const guide = yamlBlocks('streams.md').find((b) => b.includes('streams:'))!.replace(/\nagents:[\s\S]*$/, '\n');
    for (const y of [ref, guide]) {
      const cfg = await loadConfig(project(`project: x\n${y}`).file, { env: {} });
      expect(Object.keys(cfg.extensions?.streams as object)).toEqual(['logs']);
    }
  });

  it('reads aggregations in both spellings', () => {
    expect(parseAgg('sum(http.bytes)')).toEqual({ op: 'sum', field: ['http', 'bytes'], where: [] });
    expect(parseAgg({ op: 'count', where: { level: 'error' } })).toEqual({ op: 'count', field: null, where: [[['level'], 'error']] });
    expect(() => parseAgg('avg')).toThrow(/avg needs a field/);
  });
});
