// Real services for tests. Locally a test whose service is unreachable skips with a message;
// under CI=true that is a failure, so CI always covers the backends.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { spawnSync } from 'node:child_process';

export const PG_URL = process.env.OPENCLAW_TEST_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** True when PostgreSQL answers. Under CI=true an unreachable server throws instead. */
export async function havePostgres(): Promise<boolean> {
  const u = new URL(PG_URL);
  const ok = await reachable(u.hostname, Number(u.port || 5432));
  if (!ok) {
    const msg = `PostgreSQL is not reachable at ${u.host}; start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`;
    if (process.env.CI === 'true') throw new Error(msg);
    console.warn(`skipping PostgreSQL tests: ${msg}`);
  }
  return ok;
}

export const REDIS_URL = process.env.OPENCLAW_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.OPENCLAW_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

async function haveService(name: string, url: string, defaultPort: number, hint: string): Promise<boolean> {
  const u = new URL(url);
  const ok = await reachable(u.hostname, Number(u.port || defaultPort));
  if (!ok) {
    const msg = `${name} is not reachable at ${u.host}; ${hint}`;
    if (process.env.CI === 'true') throw new Error(msg);
    console.warn(`skipping ${name} tests: ${msg}`);
  }
  return ok;
}

/** True when Redis answers (OPENCLAW_TEST_REDIS_URL). Under CI=true an unreachable server throws. */
export function haveRedis(): Promise<boolean> {
  return haveService('Redis', REDIS_URL, 6379, 'start it with: redis-server --daemonize yes');
}

/** True when NATS answers (OPENCLAW_TEST_NATS_URL; JetStream on). Under CI=true an unreachable server throws. */
export function haveNats(): Promise<boolean> {
  return haveService('NATS', NATS_URL, 4222, 'start it with: nats-server -js -D &');
}

/** A fresh schema name per test so suites run in parallel without touching each other. */
export function uniqueSchema(prefix = 'oc_test'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** Drops test schemas (each test file's afterAll): `afterAll(() => dropSchemas(schemas))`. */
export async function dropSchemas(names: string[]): Promise<void> {
  if (names.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    for (const s of names.splice(0)) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await c.end();
  }
}

/**
 * True when `command args…` runs and exits 0 (a tool a test needs: python3, systemd-analyze).
 * Missing locally: false, with a message (the test skips). Under CI=true a missing tool throws:
 * `.ci/run` installs it (apt package `aptPackage`), so a skip there would hide a broken install.
 */
export function haveTool(command: string, args: string[], aptPackage: string): boolean {
  const ok = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
  if (!ok) {
    const msg = `${command} is not available (apt-get install ${aptPackage}; .ci/run installs it)`;
    if (process.env.CI === 'true') throw new Error(msg);
    console.warn(`skipping the tests that need ${command}: ${msg}`);
  }
  return ok;
}
