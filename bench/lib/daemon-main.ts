// Runs the product's daemon alone in this process, in the foreground (for /proc RSS readings and
// --cpu-prof). argv: <openclaw.yaml> [--dist] [--memo-describe]. Writes .openclaw/daemon.json
// ({ pid, url }) once started; stops (drains) on SIGTERM/SIGINT.
//
//   --dist           load the daemon from ../dist (the built package, what users run) instead of ../src
//   --memo-describe  bench workaround for product issue B1 (see bench/README.md): at boot the daemon
//                    describes every agent in a fresh worker thread, all at once, even when a thousand
//                    agents share one source file (~27 MB and ~0.25 s CPU each). With this flag the
//                    runtime answers describe() once per (file, export). Nothing else changes.
import fs from 'node:fs';
import path from 'node:path';

const configFile = process.argv[2];
const useDist = process.argv.includes('--dist');
const memoDescribe = process.argv.includes('--memo-describe');

const base = useDist ? '../../dist' : '../../src';
const ext = useDist ? '.js' : '.ts';
const { loadConfig } = await import(`${base}/config/index${ext}`);
const { Daemon } = await import(`${base}/daemon/daemon${ext}`);
const { createRuntime } = await import(`${base}/runtime/index${ext}`);

const config = await loadConfig(configFile);
let daemon: { url: string; shutdown(reason: string): Promise<void> };
if (!memoDescribe) {
  daemon = await Daemon.start(config, {});
} else {
  // Daemon.start() = new Daemon(config, opts) + boot(); done by hand here so the runtime can be
  // built with the daemon's own listener and wrapped.
  const opts: Record<string, unknown> = {};
  const d = new Daemon(config, opts);
  const inner = createRuntime(d.listener());
  const memo = new Map<string, Promise<unknown>>();
  opts.runtime = {
    startAgent: (spec: unknown) => inner.startAgent(spec),
    startCommand: (spec: unknown) => inner.startCommand(spec),
    shutdown: () => inner.shutdown(),
    describe(file: string, exportName?: string) {
      const key = `${file}#${exportName ?? ''}`;
      let p = memo.get(key);
      if (!p) memo.set(key, (p = inner.describe(file, exportName)));
      return p;
    },
  };
  try {
    await d.boot();
  } catch (err) {
    await d.abortBoot();
    throw err;
  }
  daemon = d;
}

const dataDir = path.join(path.dirname(configFile), '.openclaw');
fs.mkdirSync(dataDir, { recursive: true });
fs.writeFileSync(path.join(dataDir, 'daemon.json'), JSON.stringify({ pid: process.pid, url: daemon.url }));

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void daemon.shutdown('bench done').then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
