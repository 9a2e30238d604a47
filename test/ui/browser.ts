// Debian's chromium driven by playwright-core (browsers cannot be downloaded here: `npx playwright
// install` has no network). One browser per test file; each test gets a fresh context.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const UI_DIR = path.join(ROOT, 'dist', 'ui');
/**
 * Where the tests' screenshots go: `docs/ui/` when run by a developer (they are the docs' pictures),
 * a temporary directory under CI=true so a CI run leaves the checkout as it found it.
 */
export const SCREENSHOTS = process.env.CI === 'true' ? fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-ui-shots-')) : path.join(ROOT, 'docs', 'ui');

/** True when chromium is installed; under CI=true a missing one is a failure (`.ci/run` installs it). */
export function haveChromium(): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  const msg = `chromium is not installed at ${CHROMIUM}: apt-get install -y chromium (.ci/run does)`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(`skipping browser tests: ${msg}`);
  return false;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** The dashboard build the daemon serves: (re)built here when missing or older than src/ui. */
export async function ensureUiBuilt(): Promise<void> {
  const index = path.join(UI_DIR, 'index.html');
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= newestMtime(path.join(ROOT, 'src', 'ui'))) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'src', 'ui', 'vite.config.ts'), logLevel: 'warn' });
}

/**
 * A fresh profile per launch: Playwright refuses `--user-data-dir` in `args` for `launch()` and
 * always starts chromium on a new temporary profile directory of its own (removed at close).
 */
export async function launch(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}
