// Counts for the crash tests. `npm test` (and CI) uses counts that still put every kill in the
// middle of the work, which is what those tests are about; OPENCLAW_TEST_FULL=1 restores the
// original, larger counts (several minutes per file) for a soak run:
//   OPENCLAW_TEST_FULL=1 npx vitest run test/daemon/crash.test.ts test/jobs/crash.test.ts
export const FULL = process.env.OPENCLAW_TEST_FULL === '1';

/** `full` under OPENCLAW_TEST_FULL=1, else `quick`. */
export function scaled(full: number, quick: number): number {
  return FULL ? full : quick;
}
