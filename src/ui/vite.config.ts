// Builds the dashboard (src/ui) into dist/ui, served by the daemon at /ui (src/api/routes/ui.ts).
// Plain Preact with its JSX runtime: no plugin needed. No inline script or style is emitted (the
// page's CSP allows none), and no CDN: everything ships in the package.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/ui/',
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The modulepreload polyfill would be an inline script; every browser we support has modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
