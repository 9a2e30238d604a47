// The Dockerfile and .dockerignore, read as text: multi-stage, a non-root runtime stage with a
// /readyz HEALTHCHECK, every COPY source present and not ignored, only variables the daemon reads.
// No Docker engine here: `docker build` itself was not run (docs/scale-out.md).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonEnvNames, read, ROOT } from './repo.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  base: string;
  name: string | null;
  body: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped; then grouped by FROM. */
function stages(text: string): Stage[] {
  const out: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let l = lines[i];
    if (/^\s*(#|$)/.test(l)) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) l = l.slice(0, -1) + ' ' + lines[++i].trim();
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile:${start + 1}: not an instruction: ${l}`);
    const ins = { op: m[1], args: m[2].trim(), line: start + 1 };
    if (ins.op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      out.push({ base: f![1], name: f![2] ?? null, body: [] });
    } else if (out.length > 0) out[out.length - 1].body.push(ins);
  }
  return out;
}

/** .dockerignore as Docker applies it: last matching pattern wins, `!` re-includes. */
function ignored(rel: string, patterns: string[]): boolean {
  const toRe = (p: string) =>
    new RegExp('^' + p.replace(/\/$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*\*/g, '.*').replace(/\*/g, '[^/]*') + '(/.*)?$');
  let out = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const p = neg ? raw.slice(1) : raw;
    if (toRe(p).test(rel)) out = !neg;
  }
  return out;
}

function duBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).reduce((n, e) => (e.isFile() ? n + fs.statSync(path.join(e.parentPath, e.name)).size : n), 0);
}

const dockerfile = read('Dockerfile');
const all = stages(dockerfile);
const runtime = all[all.length - 1];
const ignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('is multi-stage: builds with dev dependencies, ships production ones, from official images', () => {
    expect(all.map((s) => s.name)).toEqual(['toolchain', 'build', 'deps', 'runtime']);
    expect(all.map((s) => s.base)).toEqual(['node:${NODE_VERSION}-alpine${ALPINE_VERSION}', 'toolchain', 'toolchain', 'alpine:${ALPINE_VERSION}']);
    const run = (s: Stage) => s.body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(run(all[1])).toMatch(/npm ci(?! --omit=dev)/);
    expect(run(all[1])).toContain('npm run build');
    expect(run(all[2])).toContain('npm ci --omit=dev');
    expect(run(all[2])).toContain('npm rebuild better-sqlite3');
    // The runtime stage takes node_modules from `deps` (production) and only dist/ from `build`.
    const copies = runtime.body.filter((i) => i.op === 'COPY' && i.args.startsWith('--from='));
    // The node binary comes from the official node image, without its npm/yarn.
    expect(copies.map((i) => i.args)).toEqual([
      '--from=toolchain /usr/local/bin/node /usr/local/bin/node',
      '--from=deps /src/node_modules ./node_modules',
      '--from=build /src/dist ./dist',
    ]);
  });

  it('runs as a non-root user, with a HEALTHCHECK on /readyz', () => {
    const users = runtime.body.filter((i) => i.op === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].args;
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric, so Kubernetes' runAsNonRoot can check it
    const hc = runtime.body.find((i) => i.op === 'HEALTHCHECK');
    expect(hc?.args).toMatch(/CMD .*\/readyz/);
    const port = runtime.body.find((i) => i.op === 'ENV' && i.args.includes('OPENCLAW_PORT='))?.args;
    expect(port).toMatch(/OPENCLAW_PORT=8400/);
    expect(runtime.body.find((i) => i.op === 'EXPOSE')?.args).toBe('8400');
  });

  it('works on a read-only root: the data directory exists for a volume, owned by that user', () => {
    const run = runtime.body.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(run).toContain('mkdir -p /project/.openclaw');
    expect(run).toContain('chown 1000:1000 /project/.openclaw');
    expect(runtime.body.find((i) => i.op === 'ENV')?.args).toMatch(/TMPDIR=\/tmp/);
    const cmd = JSON.parse(runtime.body.find((i) => i.op === 'CMD')!.args) as string[];
    expect(cmd).toEqual(['daemon', 'run', '--project', '/project', '--host', '0.0.0.0']);
  });

  it('sets only variables the daemon reads (OPENCLAW_*)', () => {
    const reads = daemonEnvNames();
    const set = all.flatMap((s) => s.body.filter((i) => i.op === 'ENV').flatMap((i) => [...i.args.matchAll(/\b(OPENCLAW_[A-Z0-9_]+)=/g)].map((m) => m[1])));
    expect(set.length).toBeGreaterThan(0);
    expect(set.filter((n) => !reads.has(n))).toEqual([]);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const sources = all.flatMap((s) =>
      s.body
        .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))
        .flatMap((i) => i.args.replace(/--\S+\s+/g, '').split(/\s+/).slice(0, -1).map((src) => ({ src, line: i.line }))),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const { src, line } of sources) {
      expect(fs.existsSync(path.join(ROOT, src)), `Dockerfile:${line}: ${src} is missing`).toBe(true);
      expect(ignored(src, ignore), `Dockerfile:${line}: ${src} is excluded by .dockerignore`).toBe(false);
    }
    // …and keeps the context small: dependencies, builds and local data never go in.
    for (const p of ['node_modules', 'dist', 'test/x.test.ts', 'examples/quickstart/openclaw.yaml', 'src/.openclaw/token', 'bench/README.md']) {
      expect(ignored(p, ignore), p).toBe(true);
    }
  });

  it('prunes node_modules without breaking what the daemon loads: the SQLite addon, the tokenizer', () => {
    // The real script on copies of the real packages, then a fresh node loads them from there.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-prune-'));
    try {
      const nm = path.join(dir, 'node_modules');
      for (const pkg of ['better-sqlite3', 'bindings', 'file-uri-to-path', 'js-tiktoken', 'base64-js']) {
        fs.cpSync(path.join(ROOT, 'node_modules', pkg), path.join(nm, pkg), { recursive: true, dereference: true });
      }
      const before = duBytes(nm);
      const pruned = spawnSync('sh', [path.join(ROOT, 'deploy/docker/prune-node-modules.sh'), nm], { encoding: 'utf8' });
      expect(pruned.stderr).toBe('');
      expect(pruned.status).toBe(0);
      expect(fs.existsSync(path.join(nm, 'better-sqlite3', 'deps'))).toBe(false);
      expect(duBytes(nm)).toBeLessThan(before / 2);
      const probe = [
        "const Database = require('better-sqlite3');",
        "const db = new Database(':memory:'); db.exec('create table t(x)'); db.prepare('insert into t values (?)').run(42);",
        "const { Tiktoken } = require('js-tiktoken/lite');",
        "const ranks = require('js-tiktoken/ranks/o200k_base');",
        "const n = new Tiktoken(ranks.default ?? ranks).encode('hello world').length;",
        "process.stdout.write(JSON.stringify({ x: db.prepare('select x from t').get().x, n }));",
      ].join('\n');
      const run = spawnSync(process.execPath, ['-e', probe], { cwd: dir, encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({ x: 42, n: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
