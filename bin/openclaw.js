#!/usr/bin/env node
// The `openclaw` executable: runs the CLI built into dist/ by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.stderr.write(
    `openclaw: the CLI is not built (${fileURLToPath(main)} is missing).\n` +
      `Build it with:  cd ${root} && npm run build\n` +
      `or run it from source:  node --import tsx ${root}src/cli/main.ts --help\n`,
  );
  process.exit(1);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv);
