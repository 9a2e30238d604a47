// Compile once (runtime/compile.ts): agent sources become cached JavaScript bundles with source
// maps; a syntax error names file:line:column and exits 78 at boot; hot reload keeps the old
// version on a syntax error and recompiles only a source whose inputs changed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AgentCompiler, AgentSyntaxError } from '../../src/runtime/compile.js';
import { createRuntime } from '../../src/runtime/index.js';
import { hostFiles, runtimeFiles } from '../../src/runtime/paths.js';
import { loadConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { fixture, makeProject, tsxUrls, waitFor } from '../helpers/project.js';
import { RecordingListener, spec } from './harness.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-compile-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const HELPER = [
  '// a helper the agent imports: its lines must survive bundling',
  'export function explode(what: string): never {',
  '  const reason: string = `boom: ${what}`;',
  '  throw new Error(reason);',
  '}',
  '',
].join('\n');

const THROWER = [
  "import { Agent } from 'openclaw';",
  "import { explode } from './helper.js';",
  '',
  'export default class Thrower extends Agent {',
  '  async run(): Promise<void> {',
  "    explode('in run');",
  '  }',
  '}',
  '',
].join('\n');

describe('compiling agent sources', () => {
  it("a compiled agent's thrown error names the .ts file and line, and the worker imports plain JavaScript", async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'helper.ts'), HELPER);
    fs.writeFileSync(path.join(dir, 'thrower.ts'), THROWER);
    const cacheDir = path.join(dir, '.openclaw', 'cache', 'agents');
    const rt = createRuntime(new RecordingListener(), { compileCacheDir: cacheDir });
    try {
      const h = await rt.startAgent({ ...spec('thrower', 'basic.ts'), file: path.join(dir, 'thrower.ts') });
      const r = await h.invoke({ runId: 'r1', kind: 'run' });
      expect(r.ok).toBe(false);
      expect(r.error!.message).toBe('boom: in run');
      // Source maps: the frames point at the user's files and lines, not at the bundle.
      expect(r.error!.stack).toContain(`${path.join(dir, 'helper.ts')}:4:`);
      expect(r.error!.stack).toContain(`${path.join(dir, 'thrower.ts')}:6:`);
      expect(r.error!.stack).not.toMatch(/\.mjs:/);
      const outputs = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.mjs'));
      expect(outputs).toHaveLength(1);
      expect(outputs[0]).toMatch(/^thrower-[0-9a-f]{16}\.mjs$/);
      const js = fs.readFileSync(path.join(cacheDir, outputs[0]!), 'utf8');
      // Type annotations gone, the helper bundled in, the SDK imported by the URL hosts load it from.
      expect(js).not.toContain(': string');
      expect(js).toContain('boom: ${what}');
      expect(js).toContain(JSON.stringify(hostFiles().sdk.index));
    } finally {
      await rt.shutdown();
    }
  });

  it('recompiles only when an input changed, and reuses the on-disk cache across compilers', async () => {
    const dir = tempDir();
    const cacheDir = path.join(dir, 'cache');
    fs.writeFileSync(path.join(dir, 'helper.ts'), HELPER);
    const entry = path.join(dir, 'thrower.ts');
    fs.writeFileSync(entry, THROWER);
    const c1 = new AgentCompiler({ cacheDir, sdk: runtimeFiles.sdk });
    const first = await c1.compile(entry);
    expect(await c1.compile(entry)).toBe(first);
    // Saved again with the same content (an editor's save): same bundle, no build.
    fs.writeFileSync(entry, THROWER);
    fs.utimesSync(entry, new Date(), new Date(Date.now() + 5000));
    expect(await c1.compile(entry)).toBe(first);
    expect(c1.builds).toBe(1);
    // A changed import is a changed input: a new bundle under a new content hash.
    fs.writeFileSync(path.join(dir, 'helper.ts'), HELPER.replace('boom', 'bang'));
    const second = await c1.compile(entry);
    expect(second).not.toBe(first);
    expect(c1.builds).toBe(2);
    await c1.close();
    // A new daemon (a new compiler on the same cache) builds nothing for unchanged sources.
    const c2 = new AgentCompiler({ cacheDir, sdk: runtimeFiles.sdk });
    expect(await c2.compile(entry)).toBe(second);
    expect(c2.builds).toBe(0);
    // Another install of OpenClaw (another SDK URL baked into the bundle) rebuilds.
    const c3 = new AgentCompiler({ cacheDir, sdk: { index: 'file:///elsewhere/index.js', tools: 'file:///elsewhere/tools/index.js' } });
    const moved = await c3.compile(entry);
    expect(c3.builds).toBe(1);
    expect(fs.readFileSync(moved, 'utf8')).toContain('file:///elsewhere/index.js');
    await c3.close();
  });

  it('a syntax error names file:line:column; the last good build is kept for restarts', async () => {
    const dir = tempDir();
    const entry = path.join(dir, 'agent.ts');
    fs.writeFileSync(entry, "import { Agent } from 'openclaw';\nexport default class A extends Agent {}\n");
    const c = new AgentCompiler({ cacheDir: path.join(dir, 'cache'), sdk: runtimeFiles.sdk });
    const good = await c.compile(entry);
    fs.writeFileSync(entry, "import { Agent } from 'openclaw';\nexport default class A extends Agent {\n  run() { const x = ; }\n}\n");
    const err = await c.compile(entry).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentSyntaxError);
    expect((err as AgentSyntaxError).exitCode).toBe(78);
    expect((err as Error).message).toMatch(new RegExp(`^${entry.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:21: Unexpected ";"`));
    expect(await c.compile(entry, { keepLastGood: true })).toBe(good);
    await c.close();
  });
});

describe('syntax errors and hot reload in the daemon', () => {
  let daemons: Daemon[] = [];
  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.shutdown('test end')));
    daemons = [];
  });

  it('a syntax error at boot exits 78 naming file:line:column, and nothing starts', () => {
    const dir = tempDir();
    const src = path.join(dir, "broken.ts");
    fs.writeFileSync(src, "import { Agent } from 'openclaw';\n\nexport default class B extends Agent {\n  async run() { if ( }\n}\n");
    fs.writeFileSync(path.join(dir, 'openclaw.yaml'), `project: x\napi:\n  port: 0\nagents:\n  good:\n    source: ${fixture('ticker.ts')}\n  b:\n    source: broken.ts\n`);
    const r = spawnSync(process.execPath, ['--import', tsxUrls().loader, fixture('run-daemon.ts'), path.join(dir, 'openclaw.yaml')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(78);
    const out = r.stderr + r.stdout;
    // Config errors name files relative to the project (one format everywhere).
    expect(out).toMatch(/agents\.b\.source: broken\.ts:4:\d+: /);
    expect(fs.existsSync(path.join(dir, '.openclaw', 'daemon.json'))).toBe(false);
  });

  it('hot reload keeps the running version when the new source does not compile, and takes the next good one', async () => {
    const { dir, configFile } = makeProject({ agents: '  v:\n    source: agents/v.ts\n' });
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'agents'));
    const file = path.join(dir, 'agents', 'v.ts');
    const source = (v: string) =>
      `import { Agent } from 'openclaw';\nexport default class V extends Agent {\n  async run(): Promise<void> {\n    const v: string = '${v}';\n    await this.state.set('version', v);\n  }\n}\n`;
    fs.writeFileSync(file, source('v1'));
    const d = await Daemon.start(await loadConfig(configFile));
    daemons.push(d);
    await waitFor('v running', async () => (await d.getAgent('v')).status === 'running');
    const version = async () => (await d.getState('v')).state.version;
    await d.trigger('v');
    await waitFor('v1 ran', async () => (await version()) === 'v1');
    const before = (await d.getAgent('v')).instances[0]!;

    fs.writeFileSync(file, source('v2').replace("const v: string = 'v2';", "const v: string = 'v2'"+ ' +;'));
    await d.reloadAgent('v', 'source changed');
    const logs = await d.recentLogs('v', { limit: 50 });
    expect(logs.map((l) => l.msg).join('\n')).toMatch(/not reloaded, the new source does not load: .*v\.ts:4:\d+/);
    const kept = await d.getAgent('v');
    expect(kept.status).toBe('running');
    expect(kept.instances[0]!.startedAt).toBe(before.startedAt);
    await d.action('v', 'restart');
    await waitFor('v running after restart', async () => (await d.getAgent('v')).status === 'running');
    // Even a restart while the file is broken runs the last good build.
    await d.writeState('v', [{ key: 'version', value: 'reset' }]);
    await d.trigger('v');
    await waitFor('old version ran after restart', async () => (await version()) === 'v1');

    fs.writeFileSync(file, source('v3'));
    await d.reloadAgent('v', 'source changed');
    await waitFor('v running again', async () => (await d.getAgent('v')).status === 'running');
    await d.trigger('v');
    await waitFor('v3 ran', async () => (await version()) === 'v3');
  });
});
