// Loads a TypeScript agent module the way a user's project would, with `import … from 'openclaw-runtime'`
// and 'openclaw-runtime/tools' (and the old 'openclaw' specifiers) mapped to this repository's src/ (tsconfig `paths`, applied by tsx).
// The loaded SDK is a second copy beside the one vitest loads; describeAgentClass must cope
// with that (it does: classes are recognised by a registered symbol, not by identity).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Writes a tsconfig whose `include` covers `dir`, and returns its path. */
export function sdkTsconfig(dir: string, opts: { experimentalDecorators?: boolean } = {}): string {
  const cfgDir = mkdtempSync(path.join(tmpdir(), 'openclaw-sdk-tsconfig-'));
  const file = path.join(cfgDir, 'tsconfig.json');
  writeFileSync(
    file,
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        strict: true,
        experimentalDecorators: opts.experimentalDecorators ?? false,
        baseUrl: REPO,
        paths: {
          'openclaw-runtime': ['src/index.ts'],
          'openclaw-runtime/tools': ['src/tools/index.ts'],
          openclaw: ['src/index.ts'],
          'openclaw/tools': ['src/tools/index.ts'],
        },
      },
      include: [path.join(dir, '**', '*')],
    }),
  );
  return file;
}

export async function importWithSdk(file: string, opts: { experimentalDecorators?: boolean } = {}): Promise<Record<string, unknown>> {
  const tsconfig = sdkTsconfig(path.dirname(file), opts);
  return (await tsImport(pathToFileURL(file).href, { parentURL: import.meta.url, tsconfig })) as Record<string, unknown>;
}
