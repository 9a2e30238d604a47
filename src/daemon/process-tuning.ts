// How a daemon process is started for a small idle footprint (`daemon start`, the systemd unit;
// not `openclaw dev`, which runs the daemon inside the CLI process). Measured on the quickstart
// with bench/idle.ts and side-by-side daemons (issue 10 item 4); none of it changes behaviour.
//
//   --max-semi-space-size=1  V8's young generation grew to 2 × 16 MB while the daemon booted
//                            (config, modules, agents described) and was never given back on a
//                            daemon whose agents run every few seconds: ≈ 17 MB of RSS. The cost is
//                            a scavenge per MB allocated instead of per 16 MB under load.
//   --v8-pool-size=2         V8's background threads (concurrent marking, off-thread compiles):
//                            4 by default, each with its stack and its own malloc arena.
//   MALLOC_ARENA_MAX=2       glibc gives every thread that mallocs its own arena (64 MB reserved,
//                            a few MB touched each); the daemon's work is on its main thread.
//   Together with the two above: 88 → 78 MB at idle (five daemons side by side, load 22–33).
//
// A flag already in NODE_OPTIONS, or MALLOC_ARENA_MAX already set, wins over these defaults.

/** V8 flags of a daemon process. */
export function daemonNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const given = env.NODE_OPTIONS ?? '';
  const flags: string[] = [];
  if (!given.includes('--max-semi-space-size')) flags.push('--max-semi-space-size=1');
  if (!given.includes('--v8-pool-size')) flags.push('--v8-pool-size=2');
  return flags;
}

/** Environment variables a daemon process gets on top of its parent's. */
export function daemonEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || '2' };
}
