import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The lease tests run after the rest of `npm test`, alone: the 3-daemon fleet test, the 2-daemon
// nodes test and the in-process lease renewal test all renew 2 s leases every ~0.7 s and need the
// machine's cores to themselves. Beside the rest of the suite on 2 cores, a starved node missed its
// renewals (or its late renewal's deadline) and dropped its leases, which is the failure these
// tests provoke on purpose, not by accident.
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/cluster/fleet.test.ts', 'test/cluster/nodes.test.ts', 'test/cluster/leases.test.ts'],
    exclude: ['**/node_modules/**'],
    maxWorkers: 1,
    minWorkers: 1,
  },
});
