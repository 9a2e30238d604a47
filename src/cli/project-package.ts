// The npm side of a new project (`openclaw init`): a package.json whose SDK dependency resolves, and a
// tsconfig.json so that editors and `tsc --noEmit` type-check agents against the SDK's types.
//
// The SDK is published as `openclaw-runtime` (npm's `openclaw` is an unrelated product). By default the
// dependency is the published name at this CLI's version; `--sdk PATH` points it at a packed tarball
// (`npm pack` in a checkout) or at a checkout itself, for unreleased builds.
import fs from 'node:fs';
import path from 'node:path';
import { VERSION } from '../version.js';
import { UsageError } from './errors.js';

export const SDK_PACKAGE = 'openclaw-runtime';

/** Versions of the compiler and Node types the SDK's own .d.ts files are checked with. */
const DEV_DEPENDENCIES = { typescript: '~5.9.3', '@types/node': '^20.19.0' };

/** The dependency spec for the SDK: `^VERSION`, or `file:` an absolute tarball or checkout path. */
export function sdkDependency(cwd: string, sdk: string | undefined): string {
  if (sdk === undefined) return `^${VERSION}`;
  const abs = path.resolve(cwd, sdk);
  if (!fs.existsSync(abs)) throw new UsageError(`--sdk ${sdk}: ${abs} does not exist; pass a tarball made by \`npm pack\` or a checkout of ${SDK_PACKAGE}`);
  if (fs.statSync(abs).isDirectory()) {
    const pkgFile = path.join(abs, 'package.json');
    const name = fs.existsSync(pkgFile) ? (JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { name?: string }).name : undefined;
    if (name !== SDK_PACKAGE) {
      throw new UsageError(`--sdk ${sdk}: ${abs} is not a checkout of ${SDK_PACKAGE} (its package.json names ${name ?? 'nothing'})`);
    }
    if (!fs.existsSync(path.join(abs, 'dist', 'index.js'))) {
      throw new UsageError(`--sdk ${sdk}: the checkout is not built (no dist/index.js); run \`npm run build\` in ${abs} first`);
    }
  } else if (!/\.(tgz|tar\.gz)$/.test(abs)) {
    throw new UsageError(`--sdk ${sdk}: expected a .tgz made by \`npm pack\` or a checkout folder`);
  }
  return `file:${abs}`;
}

export function packageJson(name: string, sdkSpec: string): string {
  const pkg = {
    name: name.toLowerCase(),
    private: true,
    type: 'module',
    scripts: { dev: 'openclaw dev', typecheck: 'tsc --noEmit' },
    dependencies: { [SDK_PACKAGE]: sdkSpec },
    devDependencies: DEV_DEPENDENCIES,
  };
  return JSON.stringify(pkg, null, 2) + '\n';
}

export const TSCONFIG_JSON =
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      include: ['agents/**/*.ts', 'workflows/**/*.ts', 'tests/**/*.ts'],
    },
    null,
    2,
  ) + '\n';
