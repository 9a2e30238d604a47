// Idle memory (issue 10 item 4): a daemon on SQLite whose project has no llm: and no streams:
// section does not load the LLM router, its providers and tokenizer, the stream engine (ajv), the
// PostgreSQL driver, the Redis or NATS clients, esbuild (no TypeScript agent to compile) or the
// OpenTelemetry SDK, nor what the workflows module needs only when a workflow runs (undici for HTTP
// steps, cel-js for expressions, chokidar for file triggers). Checked in a real daemon process: every module it resolves is reported by a
// module hook (test/helpers/module-trace-hook.mjs). And an agent worker's network guard does not
// load undici until a guarded connection is made (cold start and memory of every worker).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, makeProject, tsxUrls, waitFor } from '../helpers/project.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const hook = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'module-trace-hook.mjs')).href;
const register = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(hook)});`)}`;
// The module hook sees what is imported; a createRequire()d package (the lazy loads below) only
// shows in the CommonJS cache, printed at exit (where tsx's own esbuild is too: not checked there).
const requireCache = `data:text/javascript,${encodeURIComponent(
  `import { createRequire } from 'node:module'; const req = createRequire(process.cwd() + '/'); process.on('exit', () => process.stderr.write('\\n' + Object.keys(req.cache).map((f) => 'required-module file://' + f).join('\\n') + '\\n'));`,
)}`;

const children: Array<ReturnType<typeof spawn>> = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('idle daemon modules', () => {
  it('an idle SQLite daemon without llm:, streams: or workflows loads none of them, nor pg, ioredis, NATS, esbuild, the OpenTelemetry SDK, undici, cel-js or chokidar', async () => {
    const { dir, configFile } = makeProject({ agents: `  ticker:\n    command: node\n    args: ["-e", "setInterval(() => {}, 1000)"]\n` });
    const child = spawn(process.execPath, ['--import', tsxUrls().loader, '--import', register, '--import', requireCache, fixture('run-daemon.ts'), configFile], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor(
      'daemon.json',
      () => {
        try {
          return (JSON.parse(fs.readFileSync(path.join(dir, '.openclaw', 'daemon.json'), 'utf8')) as { pid: number }).pid === child.pid;
        } catch {
          return false;
        }
      },
      60_000,
    );
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));

    const modules = (prefix: string) => [
      ...new Set(
        err
          .split('\n')
          .filter((l) => l.startsWith(prefix))
          .map((l) => fs.realpathSync(fileURLToPath(l.slice(prefix.length))).replace(fs.realpathSync(ROOT) + path.sep, '').replace(/^.*\/node_modules\//, 'node_modules/')),
      ),
    ];
    const loaded = modules('loaded-module ');
    const required = modules('required-module ');
    // It did run the daemon and its modules (the hook saw them).
    expect(loaded).toContain(path.join('src', 'daemon', 'daemon.ts'));
    expect(loaded).toContain(path.join('src', 'llm', 'not-configured.ts'));
    expect(loaded).toContain(path.join('src', 'workflows', 'module.ts'));
    // And the CommonJS cache was printed (better-sqlite3 is required by the store).
    expect(required.some((f) => f.startsWith('node_modules/better-sqlite3/'))).toBe(true);
    // (ajv is imported by no module here; Fastify requires its own for the route schemas.)
    const forbidden = loaded.filter((f) =>
      /^src\/(llm\/(module|router|api|book|tokens|http|providers\/(?!config))|streams\/module)|^node_modules\/(pg|pg-pool|ioredis|@nats-io\/[^/]+|nats|js-tiktoken|ajv|esbuild|@opentelemetry\/sdk-[^/]+|undici|@marcbachmann\/cel-js|chokidar)\//.test(f),
    );
    expect(forbidden).toEqual([]);
    expect(required.filter((f) => /^node_modules\/(pg|ioredis|@nats-io\/[^/]+|js-tiktoken|@opentelemetry\/sdk-[^/]+|undici|@marcbachmann\/cel-js|chokidar)\//.test(f))).toEqual([]);
  });

  it("the agent worker's network guard loads undici only with the first guarded connection", () => {
    const script = `
      import { createRequire } from 'node:module';
      const req = createRequire(import.meta.url);
      const undici = () => Object.keys(req.cache).filter((k) => k.includes('/node_modules/undici/')).length;
      const net = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'src', 'security', 'guardrails', 'network.ts')).href)});
      await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'src', 'security', 'guardrails', 'socket-guard.ts')).href)});
      const before = undici();
      net.dispatcherFor({ allowed: [], blocked: [], dnsServers: [] });
      console.log(JSON.stringify({ before, after: undici() }));`;
    const r = spawnSync(process.execPath, ['--import', tsxUrls().loader, '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const { before, after } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; after: number };
    expect(before).toBe(0);
    expect(after).toBeGreaterThan(0);
  });
});
