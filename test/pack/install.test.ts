// The install path a new user takes, outside this repository: `npm pack`, a global install of the
// tarball into an empty prefix, `openclaw init --sdk <tarball>` for a new project, `npm install` in it,
// `tsc --noEmit` over its agents against the installed SDK's types, then `openclaw daemon start`, an
// agent run, `openclaw daemon stop` — all with the installed `openclaw`, nothing from the checkout.
//
// Slow (a build and two installs), so it is not part of `npm test`: `npm run test:pack`, run by CI.
// The tarball's dependencies come from the npm registry (`--prefer-offline`: the npm cache first).
// better-sqlite3 compiles from source when no prebuilt binary can be downloaded, which takes minutes
// on 2 cores; when the checkout's own node_modules hold the same version, its compiled binary is
// offered as a local prebuild (prebuild-install's `local_prebuilds`), which npm checks first.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../e2e/helpers.js';
import { waitFor } from '../helpers/project.js';

const exec = promisify(execFile);
const MINUTES = 60_000;

let tmp: string;
let prefix: string;
let tarball: string;
let project: string;
let env: NodeJS.ProcessEnv;

async function sh(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(cmd, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The checkout's compiled better-sqlite3 as a prebuild tarball, named the way prebuild-install looks for it. */
async function localPrebuilds(dir: string): Promise<void> {
  const mod = path.join(REPO, 'node_modules', 'better-sqlite3');
  const binary = path.join(mod, 'build', 'Release', 'better_sqlite3.node');
  if (!fs.existsSync(binary)) return;
  const { version } = JSON.parse(fs.readFileSync(path.join(mod, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const stage = fs.mkdtempSync(path.join(tmp, 'prebuild-'));
  fs.mkdirSync(path.join(stage, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(binary, path.join(stage, 'build', 'Release', 'better_sqlite3.node'));
  await sh('tar', ['-czf', path.join(dir, name), '-C', stage, 'build'], tmp);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-pack-'));
  prefix = path.join(tmp, 'prefix');
  const prebuilds = path.join(tmp, 'prebuilds');
  fs.mkdirSync(prebuilds);
  await localPrebuilds(prebuilds);
  // A PATH without the checkout's node_modules/.bin: `openclaw` and `tsc` are the installed ones.
  const PATH = [path.join(prefix, 'bin'), ...(process.env.PATH ?? '').split(path.delimiter).filter((p) => !p.includes('node_modules'))].join(path.delimiter);
  env = { ...process.env, PATH, NO_COLOR: '1', npm_config_better_sqlite3_local_prebuilds: prebuilds, npm_config_audit: 'false', npm_config_fund: 'false' };
  delete env.OPENCLAW_URL;
  for (const k of Object.keys(env)) if (k.startsWith('npm_package_') || k === 'npm_lifecycle_event' || k === 'INIT_CWD') delete env[k];
}, 5 * MINUTES);

afterAll(async () => {
  if (project && fs.existsSync(path.join(project, '.openclaw', 'daemon.json'))) {
    await sh(path.join(prefix, 'bin', 'openclaw'), ['daemon', 'stop'], project).catch(() => undefined);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** True when dist/ was built after the last change to anything the build reads. */
function distIsFresh(): boolean {
  const built = ['dist/cli/main.js', 'dist/index.d.ts', 'dist/ui/index.html'].map((f) => path.join(REPO, f));
  if (!built.every((f) => fs.existsSync(f))) return false;
  const builtAt = Math.min(...built.map((f) => fs.statSync(f).mtimeMs));
  const newest = (p: string): number => {
    const st = fs.statSync(p);
    if (!st.isDirectory()) return st.mtimeMs;
    return Math.max(st.mtimeMs, ...fs.readdirSync(p).map((n) => newest(path.join(p, n))));
  };
  const inputs = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'].map((f) => path.join(REPO, f)).filter((f) => fs.existsSync(f));
  return Math.max(...inputs.map(newest)) < builtAt;
}

describe('npm pack → global install → a new project outside the repository', () => {
  it('npm pack makes a tarball named after the package, holding the built CLI, SDK types and templates', { timeout: 10 * MINUTES }, async () => {
    // `npm pack` runs `prepare` (the full build) first. When dist/ is already newer than every input of
    // that build — as right after `npm ci`, which ran `prepare` — packing it as it is gives the same
    // tarball without building twice.
    const fresh = distIsFresh();
    const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', tmp, ...(fresh ? ['--ignore-scripts'] : [])], REPO);
    const [info] = JSON.parse(stdout) as Array<{ filename: string; name: string; files: Array<{ path: string }> }>;
    expect(info!.name).toBe('openclaw-runtime');
    const files = info!.files.map((f) => f.path);
    for (const f of ['bin/openclaw.js', 'dist/cli/main.js', 'dist/index.d.ts', 'dist/tools/index.d.ts', 'templates/watchdog/agent.ts']) expect(files).toContain(f);
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/'))).toBe(false);
    tarball = path.join(tmp, info!.filename);
  });

  it('installs globally into an empty prefix and gives the `openclaw` command', { timeout: 15 * MINUTES }, async () => {
    await sh('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], tmp);
    const { stdout } = await sh('openclaw', ['--version'], tmp);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('`openclaw init --sdk` writes a project whose npm install resolves and whose agents type-check', { timeout: 15 * MINUTES }, async () => {
    await sh('openclaw', ['init', 'my-agents', '--sdk', tarball], tmp);
    project = path.join(tmp, 'my-agents');
    const pkg = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['openclaw-runtime']).toBe(`file:${tarball}`);
    await sh('npm', ['install', '--prefer-offline'], project);
    expect(fs.existsSync(path.join(project, 'node_modules', 'openclaw-runtime', 'dist', 'index.d.ts'))).toBe(true);

    await sh(path.join(project, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', 'tsconfig.json'], project);
    // …and tsc really checks agents against the SDK: a wrong call is an error naming it.
    fs.writeFileSync(path.join(project, 'agents', 'wrong.ts'), "import { Agent } from 'openclaw-runtime';\nexport default class Wrong extends Agent {\n  override async run(): Promise<void> { await this.state.sett('x', 1); }\n}\n");
    const failed = await sh(path.join(project, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', 'tsconfig.json'], project).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(failed).toMatch(/agents\/wrong\.ts.*Property 'sett' does not exist/s);
    fs.rmSync(path.join(project, 'agents', 'wrong.ts'));
  });

  it('daemon start runs the project\'s agent; daemon stop stops it', { timeout: 5 * MINUTES }, async () => {
    const start = await sh('openclaw', ['daemon', 'start', '--port', '0'], project);
    expect(start.stdout).toMatch(/Daemon started \(pid \d+\)/);
    await sh('openclaw', ['trigger', 'hello'], project);
    await waitFor('hello run recorded in its state', async () => {
      const { stdout } = await sh('openclaw', ['state', 'get', 'hello', '--key', 'runs'], project);
      return Number(stdout.trim()) >= 1;
    }, 60_000, 200);
    const stop = await sh('openclaw', ['daemon', 'stop'], project);
    expect(stop.stdout).toContain('Daemon stopped');
    expect(fs.existsSync(path.join(project, '.openclaw', 'daemon.json'))).toBe(false);
  });
});
