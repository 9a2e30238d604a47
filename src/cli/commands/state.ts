// `openclaw state list|get|rollback|export NAME`: an agent's persisted state and its versions.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { jsonOption, parsePositiveInt, parseVersionOption, targetOptions } from '../context.js';
import { formatBytes, formatTimestamp, formatVersion, renderTable } from '../format.js';

export function registerState(program: Command, ctx: CliContext): void {
  const state = program.command('state').description("an agent's state: versions, contents, rollback, export");

  const list = state
    .command('list <name>')
    .description('list state versions, newest first')
    .option('--limit <n>', 'how many versions (default 20)', parsePositiveInt('--limit'));
  targetOptions(jsonOption(list)).action(async (name: string, opts: { limit?: number; json?: boolean }) => {
    const res = await ctx.client(list).stateVersions(name, opts.limit ?? 20);
    if (opts.json) return ctx.printJson(res);
    if (res.versions.length === 0) return ctx.print(`${name} has no state versions yet`);
    ctx.print(
      renderTable(
        ['Version', 'Timestamp', 'Size', 'Keys'],
        res.versions.map((v) => [formatVersion(v.version), formatTimestamp(v.createdAt), formatBytes(v.sizeBytes), String(v.keyCount)]),
      ),
    );
  });

  const get = state
    .command('get <name>')
    .description('print the state as JSON (current, or as it was at --version)')
    .option('--version <version>', 'a version like v140', parseVersionOption)
    .option('--key <key>', 'print only this key');
  targetOptions(jsonOption(get)).action(async (name: string, opts: { version?: number; key?: string; json?: boolean }) => {
    const res = await ctx.client(get).getState(name, opts.version);
    if (opts.json) return ctx.printJson(res);
    if (opts.key !== undefined) {
      if (!(opts.key in res.state)) {
        ctx.warn(`openclaw: ${name} has no key '${opts.key}' at ${formatVersion(res.version)}`);
        ctx.exitCode = 1;
        return;
      }
      return ctx.print(JSON.stringify(res.state[opts.key], null, 2));
    }
    ctx.print(JSON.stringify(res.state, null, 2));
  });

  const rollback = state
    .command('rollback <name>')
    .description('make the state equal to an earlier version (written as a new version)')
    .requiredOption('--version <version>', 'the version to return to, like v140', parseVersionOption);
  targetOptions(jsonOption(rollback)).action(async (name: string, opts: { version: number; json?: boolean }) => {
    const res = await ctx.client(rollback).rollbackState(name, opts.version);
    if (opts.json) return ctx.printJson(res);
    ctx.print(`Rolled back ${res.agent} to ${formatVersion(res.rolledBackTo)} (written as ${formatVersion(res.version)})`);
  });

  const exp = state
    .command('export <name>')
    .description('write the state as JSON to a file (or stdout) for debugging')
    .option('-o, --output <file>', 'file to write (default: stdout)')
    .option('--version <version>', 'export this version instead of the current one', parseVersionOption);
  targetOptions(exp).action(async (name: string, opts: { output?: string; version?: number }) => {
    const res = await ctx.client(exp).getState(name, opts.version);
    const text = JSON.stringify(res, null, 2) + '\n';
    if (!opts.output) return ctx.io.out(text);
    const file = path.resolve(ctx.cwd, opts.output);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    const keys = Object.keys(res.state).length;
    ctx.print(`Exported ${res.agent} state ${formatVersion(res.version)} (${keys} key${keys === 1 ? '' : 's'}, ${formatBytes(Buffer.byteLength(text))}) to ${opts.output}`);
  });
}
