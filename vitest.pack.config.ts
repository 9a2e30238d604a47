import { defineConfig } from 'vitest/config';

// `npm run test:pack`: the install path from a packed tarball (slow: a build and two npm installs).
export default defineConfig({
  test: {
    include: ['test/pack/**/*.test.ts'],
    // threads: a fork's RPC to the vitest main process timed out during the minutes-long npm steps on a loaded machine.
    pool: 'threads',
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
