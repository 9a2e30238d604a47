// Bench-only CPU profile of an agent host's main thread or of an agent worker (node:inspector in
// the thread itself), when OPENCLAW_THREAD_PROFILE_DIR is in its environment: started at its first
// invocation, written to that directory after OPENCLAW_THREAD_PROFILE_MS (default 5000).
//
// Why not `--cpu-prof`: under Node 20's permission model (every sandboxed host) `--cpu-prof` writes
// nothing, even with `--allow-fs-write` on the directory, and `node:inspector` is refused
// (ERR_ACCESS_DENIED, permission 'Inspector'); a host is also ended with SIGKILL, before any
// exit-time profile. So this profiles only agents run with `permissions: { sandbox: false }` (the
// events bench's `--host-profile` sets that and the variable in the agents' `env:`).
let started = false;

export function profileThreadFromEnv(label: string): void {
  const dir = process.env.OPENCLAW_THREAD_PROFILE_DIR;
  if (!dir || started) return;
  started = true;
  const ms = Number(process.env.OPENCLAW_THREAD_PROFILE_MS ?? 5000);
  void (async () => {
    const { Session } = await import('node:inspector/promises');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    setTimeout(() => {
      void session
        .post('Profiler.stop')
        .then(({ profile }) => fs.writeFileSync(path.join(dir, `${label}-${process.pid}-${Date.now()}.cpuprofile`), JSON.stringify(profile)))
        .catch(() => undefined)
        .finally(() => session.disconnect());
    }, ms).unref();
  })().catch(() => undefined);
}
