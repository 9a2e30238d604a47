import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:unit`: the inner-loop subset, under a minute on 2 cores. Pure logic and in-process
// servers only: no daemon, no agent host, no child process, no database beyond in-memory SQLite.
// `npm test` runs these too, with everything else.
// Spread, not mergeConfig: mergeConfig would append this include list to the base one.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    // Nothing here spawns the CLI or a daemon: no build of src/ (test/helpers/test-dist.ts).
    globalSetup: [],
    include: [
      'test/scheduler/**/*.test.ts',
      'test/supervisor/lifecycle.test.ts',
      'test/supervisor/restart-policy.test.ts',
      'test/config/**/*.test.ts',
      'test/cli/format.test.ts',
      'test/cli/target.test.ts',
      'test/agents/agent.test.ts',
      'test/agents/schedule.test.ts',
      'test/agents/templates.test.ts',
      'test/api/**/*.test.ts',
      'test/llm/{prices,tokens,wire,config,providers,provider-errors,fakes,cooldown}.test.ts',
      'test/workflows/expressions.test.ts',
      'test/tools/**/*.test.ts',
      'test/observability/log-hub.test.ts',
      'test/util/**/*.test.ts',
    ],
  },
});
