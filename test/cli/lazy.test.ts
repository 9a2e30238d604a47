// CLI latency: `openclaw status` loads the status command alone — not the daemon, the store
// drivers or the SDK — and the lazy table of command groups matches what each group registers.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMAND_GROUPS } from '../../src/cli/main.js';
import { CliContext } from '../../src/cli/context.js';
import { tsxUrls } from '../helpers/project.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('lazy CLI', () => {
  it('each command group registers exactly the top-level commands the table names', async () => {
    const ctx = new CliContext({ out: () => undefined, err: () => undefined }, {}, process.cwd());
    const seen = new Set<string>();
    for (const g of COMMAND_GROUPS) {
      const program = new Command('openclaw');
      (await g.load())(program, ctx);
      expect(program.commands.map((c) => c.name()).sort()).toEqual([...g.names].sort());
      for (const n of g.names) {
        expect(seen.has(n)).toBe(false);
        seen.add(n);
      }
    }
  });

  it('`openclaw status` loads no daemon, store, SDK or HTTP client library (not even fetch)', () => {
    const hook = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'module-trace-hook.mjs')).href;
    const reg = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(hook)});`)}`;
    // Node's built-in modules the process compiled, at exit: global fetch is Node's bundled undici,
    // compiled on first use (≈ 40 MB of RSS and most of the wall time of a status call on Node 20).
    const builtins = `data:text/javascript,${encodeURIComponent(`process.on('exit', () => process.stderr.write('builtins ' + JSON.stringify(process.moduleLoadList) + '\\n'));`)}`;
    const r = spawnSync(process.execPath, ['--import', tsxUrls().loader, '--import', reg, '--import', builtins, path.join(ROOT, 'src', 'cli', 'main.ts'), 'status', '--url', 'http://127.0.0.1:9'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    // Nothing listens on port 9: the command fails as it should, after loading what it needs.
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no daemon|not reachable|could not reach|ECONNREFUSED/i);
    const loaded = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('loaded-module '))
      .map((l) => fileURLToPath(l.slice('loaded-module '.length)).replace(ROOT + path.sep, ''));
    expect(loaded).toContain(path.join('src', 'cli', 'commands', 'status.ts'));
    const forbidden = loaded.filter((f) =>
      /^src\/(daemon\/daemon\.ts|daemon\/entry|store\/|index\.ts|agents\/|runtime\/|api\/server|llm\/|security\/module)|node_modules\/(better-sqlite3|pg|undici|ws|fastify|zod|yaml|prom-client)\//.test(f),
    );
    expect(forbidden).toEqual([]);
    const compiled = JSON.parse(r.stderr.split('\n').find((l) => l.startsWith('builtins '))!.slice('builtins '.length)) as string[];
    expect(compiled).toContain('NativeModule http');
    expect(compiled.filter((m) => m.includes('undici'))).toEqual([]);
    // And not another command group.
    expect(loaded.filter((f) => f.startsWith(path.join('src', 'cli', 'commands')) && !f.endsWith('status.ts'))).toEqual([]);
  });
});
