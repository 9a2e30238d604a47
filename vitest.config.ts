import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/pack: `npm run test:pack` (vitest.pack.config.ts), a separate CI step. The lease tests
    // (test/cluster fleet, nodes, leases) run after the rest, on their own (vitest.cluster.config.ts, part of `npm test`).
    exclude: ['test/pack/**', 'test/cluster/fleet.test.ts', 'test/cluster/nodes.test.ts', 'test/cluster/leases.test.ts', '**/node_modules/**'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // Builds src/ once (esbuild, ~1 s) for the CLI and daemons tests spawn: test/helpers/test-dist.ts.
    globalSetup: ['./test/helpers/test-dist.ts'],
    // Tests spawn real child processes, worker threads and databases: keep them in forks
    // and give slow machines room. No test asserts a timing.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
