// A stale dist/worker/ (scripts/bundle-worker.mjs) after a `tsc`-only rebuild: a small dist laid
// out like the real one (runtime/worker-main.js importing a module, index.js, tools/index.js, and
// the real runtime/paths.ts built into runtime/paths.js), bundled by the real bundleWorker. A
// process importing that paths.js picks the bundle while it is fresh, and the dist files (the newer
// code) once an input is rewritten after it with other bytes; an unpacked or copied tree (one
// mtime for every file, or files written in another order) stays fresh; a bundle without its
// inputs list (an older build) or with an input gone is not used. And a daemon started from a copy
// of the suite's build whose bundle went stale warns and runs its agent on the dist files.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, makeProject } from '../helpers/project.js';
import { BUNDLE_INPUTS, checkWorkerBundle, hostFiles } from '../../src/runtime/paths.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { bundleWorker } = (await import(path.join(REPO, 'scripts', 'bundle-worker.mjs'))) as { bundleWorker: (dist: string) => Promise<string> };

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function fakeDist(): string {
  const dist = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-wbundle-')), 'dist');
  dirs.push(path.dirname(dist));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dist, rel)), { recursive: true });
    fs.writeFileSync(path.join(dist, rel), text);
  };
  write('runtime/shared.js', "export const generation = 'first build';\n");
  write('runtime/worker-main.js', "export { generation } from './shared.js';\n");
  write('index.js', "export { generation } from './runtime/shared.js';\n");
  write('tools/index.js', 'export const tools = 1;\n');
  buildSync({ entryPoints: [path.join(REPO, 'src', 'runtime', 'paths.ts')], outfile: path.join(dist, 'runtime', 'paths.js'), format: 'esm', platform: 'node', logLevel: 'warning' });
  return dist;
}

/** What a process starting from this dist loads as worker-main, and what that module says. */
function loaded(dist: string): { state: string; reason?: string; main: string; generation: string } {
  const script = `const p = await import(${JSON.stringify(pathToFileURL(path.join(dist, 'runtime', 'paths.js')).href)});
    const m = await import(p.runtimeFiles.workerMain);
    console.log(JSON.stringify({ ...p.workerBundle, main: p.runtimeFiles.workerMain, generation: m.generation }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as ReturnType<typeof loaded>;
}

function setMtime(file: string, ms: number): void {
  fs.utimesSync(file, ms / 1000, ms / 1000);
}

function filesOf(dist: string): string[] {
  return (fs.readdirSync(dist, { recursive: true }) as string[]).map((f) => path.join(dist, f)).filter((f) => fs.statSync(f).isFile());
}

describe('worker bundle freshness', () => {
  it('uses the bundle while fresh and the dist files once tsc rewrote an input after it', async () => {
    const dist = fakeDist();
    expect(loaded(dist).state).toBe('absent');

    await bundleWorker(dist);
    const inputs = (JSON.parse(fs.readFileSync(path.join(dist, 'worker', BUNDLE_INPUTS), 'utf8')) as { inputs: Record<string, string> }).inputs;
    expect(Object.keys(inputs)).toEqual(['index.js', 'runtime/shared.js', 'runtime/worker-main.js', 'tools/index.js']);
    expect(loaded(dist)).toMatchObject({ state: 'fresh', main: pathToFileURL(path.join(dist, 'worker', 'worker-main.js')).href, generation: 'first build' });

    // What `tsc` alone does: rewrites the input files, not dist/worker/. (The first build dated a
    // minute back, so that a coarse file-system clock cannot give the rewrite the bundle's mtime.)
    for (const f of filesOf(dist)) setMtime(f, Date.now() - 60_000);
    // The same content rewritten (tsc with nothing changed in that file) is still what was bundled.
    fs.writeFileSync(path.join(dist, 'runtime', 'worker-main.js'), fs.readFileSync(path.join(dist, 'runtime', 'worker-main.js')));
    expect(loaded(dist)).toMatchObject({ state: 'fresh', generation: 'first build' });
    fs.writeFileSync(path.join(dist, 'runtime', 'shared.js'), "export const generation = 'second build';\n");
    const stale = loaded(dist);
    expect(stale).toMatchObject({ state: 'stale', main: pathToFileURL(path.join(dist, 'runtime', 'worker-main.js')).href, generation: 'second build' });
    expect(stale.reason).toContain('runtime/shared.js');

    // `npm run build` again: the bundle is fresh and has the new code.
    await bundleWorker(dist);
    expect(loaded(dist)).toMatchObject({ state: 'fresh', generation: 'second build' });
  });

  it("reads the suite's own build (test/helpers/test-dist.ts, bundled as npm run build does) as fresh", () => {
    const dist = process.env.OPENCLAW_TEST_DIST;
    if (!dist) return; // OPENCLAW_TEST_FROM_SOURCE=1: no build
    expect(checkWorkerBundle(dist)).toEqual({ state: 'fresh' });
    expect(hostFiles().sdk.index).toBe(pathToFileURL(path.join(dist, 'worker', 'index.js')).href);
  });

  it('reads an unpacked or copied tree as fresh: one mtime for every file, or inputs written after the bundle', async () => {
    const dist = fakeDist();
    await bundleWorker(dist);
    // npm pack's fixed mtime.
    for (const f of filesOf(dist)) setMtime(f, Date.UTC(1985, 9, 26, 8, 15));
    expect(checkWorkerBundle(dist)).toEqual({ state: 'fresh' });
    // An unpacker writing in its own order (dist/workflows/ after dist/worker/, say): later, same bytes.
    const late = Date.UTC(1985, 9, 26, 8, 16);
    for (const f of filesOf(dist).filter((f) => !f.includes(`${path.sep}worker${path.sep}`))) setMtime(f, late);
    expect(checkWorkerBundle(dist)).toEqual({ state: 'fresh' });
  });

  it('does not use a bundle without its inputs list (an older build) or with an input gone', async () => {
    const dist = fakeDist();
    await bundleWorker(dist);
    fs.rmSync(path.join(dist, 'runtime', 'shared.js'));
    expect(checkWorkerBundle(dist)).toMatchObject({ state: 'stale', reason: expect.stringContaining('runtime/shared.js') });
    fs.writeFileSync(path.join(dist, 'runtime', 'shared.js'), "export const generation = 'first build';\n");
    expect(checkWorkerBundle(dist)).toEqual({ state: 'fresh' });
    fs.rmSync(path.join(dist, 'worker', BUNDLE_INPUTS));
    expect(loaded(dist)).toMatchObject({ state: 'stale', main: pathToFileURL(path.join(dist, 'runtime', 'worker-main.js')).href });
  });

  it('a daemon started from a build whose bundle went stale warns, and its agent runs on the dist files', () => {
    const built = process.env.OPENCLAW_TEST_DIST;
    if (!built) return; // OPENCLAW_TEST_FROM_SOURCE=1: no build to copy
    // A copy of the suite's build laid out as an installed package (as test/helpers/test-dist.ts does).
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-wbundle-pkg-'));
    dirs.push(root);
    const dist = path.join(root, 'dist');
    fs.cpSync(built, dist, { recursive: true, preserveTimestamps: true, filter: (src) => src !== path.join(built, 'ui') });
    for (const name of ['package.json', 'node_modules', 'templates']) fs.symlinkSync(fs.realpathSync(path.join(REPO, name)), path.join(root, name));
    expect(checkWorkerBundle(dist)).toEqual({ state: 'fresh' });
    // `tsc` alone: worker-main.js rewritten after the bundle (dated a minute back: no equal mtimes).
    setMtime(path.join(dist, 'worker', BUNDLE_INPUTS), Date.now() - 60_000);
    fs.appendFileSync(path.join(dist, 'runtime', 'worker-main.js'), '\n// rebuilt by tsc\n');

    const { configFile } = makeProject({ agents: `  counter:\n    source: ${fixture('counter.ts')}\n` });
    dirs.push(path.dirname(configFile));
    const url = (rel: string) => JSON.stringify(pathToFileURL(path.join(dist, rel)).href);
    const script = `
      const { loadConfig } = await import(${url('config/index.js')});
      const { Daemon } = await import(${url('daemon/daemon.js')});
      const paths = await import(${url('runtime/paths.js')});
      const d = await Daemon.start(await loadConfig(${JSON.stringify(configFile)}), { listen: false });
      let count = 0;
      try {
        await d.publishEvent({ name: 'tock' });
        for (let i = 0; i < 600 && count !== 1; i++) {
          await new Promise((r) => setTimeout(r, 100));
          count = (await d.getState('counter')).state.count ?? 0;
        }
        const warnings = (await d.recentLogs('daemon', { limit: 500 })).filter((l) => l.level === 'warning').map((l) => l.msg);
        console.log(JSON.stringify({ bundle: paths.workerBundle, workerMain: paths.runtimeFiles.workerMain, sdk: paths.runtimeFiles.sdk.index, count, warnings }));
      } finally {
        await d.shutdown();
      }`;
    const env = { ...process.env };
    delete env.OPENCLAW_TEST_DIST;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env, timeout: 110_000 });
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { bundle: { state: string; reason: string }; workerMain: string; sdk: string; count: number; warnings: string[] };
    expect(out.bundle).toMatchObject({ state: 'stale', reason: expect.stringContaining('runtime/worker-main.js') });
    expect(out.workerMain).toBe(pathToFileURL(path.join(dist, 'runtime', 'worker-main.js')).href);
    expect(out.sdk).toBe(pathToFileURL(path.join(dist, 'index.js')).href);
    expect(out.count).toBe(1);
    expect(out.warnings.filter((w) => w.includes('worker bundle not used'))).toHaveLength(1);
  }, 120_000);
});
