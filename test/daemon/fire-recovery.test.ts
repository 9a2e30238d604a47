// Issue 9, item 5: a schedule fire claimed (Store.claimFire) but not yet run when the daemon dies
// is run again — or recorded as missed when the agent's missed_runs policy is `skip` — after the
// restart, never silently lost; and so is a run the overlap policy had queued behind it.
//
// A real daemon process (kill -9): an `every 1s` agent with `overlap: queue` whose run waits on a
// gate file. Fire F0 runs (and waits), fire F1 is claimed and queued behind it, later fires are
// skipped for overlap. The daemon is killed, the gate opened, the daemon started again.
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, makeProject, waitFor } from '../helpers/project.js';
import { daemonUrl, startDaemonProcess } from '../helpers/daemon-process.js';
import { PG_URL, havePostgres, uniqueSchema, dropSchemas } from '../helpers/services.js';

const pgAvailable = await havePostgres();
const schemas: string[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await dropSchemas(schemas);
});

const startDaemon = (dir: string, configFile: string) => startDaemonProcess(dir, configFile, children);

async function api<T>(url: string, p: string): Promise<T> {
  const res = await fetch(url + p);
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

type Run = { id: string; status: string; trigger: string; scheduledAt: number | null; reason: string | null };
const runs = async (url: string) => (await api<{ runs: Run[] }>(url, '/api/agents/gated/runs?limit=500')).runs;
const state = async (url: string) => (await api<{ state: Record<string, unknown> }>(url, '/api/agents/gated/state')).state;

const cases: Array<{ backend: 'sqlite' | 'postgres'; policy: 'run_once' | 'skip' }> = [
  { backend: 'sqlite', policy: 'run_once' },
  { backend: 'sqlite', policy: 'skip' },
  ...(pgAvailable ? [{ backend: 'postgres' as const, policy: 'run_once' as const }] : []),
];

describe.each(cases)('claimed schedule fires across kill -9 ($backend, missed_runs: $policy)', ({ backend, policy }) => {
  it('the claimed-but-unrun fire and the overlap-queued fire are run (or recorded missed) after the restart', async () => {
    let store: { kind: 'postgres'; url: string; schema: string } | undefined;
    if (backend === 'postgres') {
      store = { kind: 'postgres', url: PG_URL, schema: uniqueSchema('oc_fires') };
      schemas.push(store.schema);
    }
    const work = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'openclaw-fires-'));
    const { dir, configFile } = makeProject({
      store,
      agents: `  gated:\n    source: ${fixture('gated-run.ts')}\n    schedule: every 1s\n    overlap: queue\n    missed_runs: ${policy}\n    permissions: { sandbox: false }\n    config:\n      dir: ${work}\n`,
    });
    let child = startDaemon(dir, configFile);
    let url = await daemonUrl(dir, child.pid!);
    // F0 started and waits on the gate; F1 was claimed and queued; a later fire was skipped (the
    // queue holds one). On a loaded machine fires can come while the agent is still starting, so
    // the skipped fire that proves F1 is queued is one after F1.
    await waitFor('F0 started and a fire after F1 skipped for overlap', async () => {
      const first = fs.readdirSync(work).find((f) => f.startsWith('started-'));
      if (!first) return false;
      const after = Number(first.slice('started-'.length)) + 1000;
      return (await runs(url)).some((r) => r.status === 'skipped' && (r.scheduledAt ?? 0) > after);
    }, 60_000, 100);
    const started = fs.readdirSync(work).filter((f) => f.startsWith('started-'));
    expect(started.length).toBe(1);
    const f0 = Number(started[0]!.slice('started-'.length));
    const f1 = f0 + 1000;

    process.kill(child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));
    fs.writeFileSync(path.join(work, 'gate'), '');

    child = startDaemon(dir, configFile);
    url = await daemonUrl(dir, child.pid!);
    if (policy === 'run_once') {
      const s = await waitFor('F0 and F1 ran after the restart', async () => {
        const st = await state(url);
        return st[`ran:${f0}`] && st[`ran:${f1}`] ? st : null;
      }, 60_000, 100);
      expect([s[`ran:${f0}`], s[`ran:${f1}`]]).toEqual([true, true]);
      const all = await runs(url);
      for (const t of [f0, f1]) expect(all.filter((r) => r.scheduledAt === t && r.status === 'succeeded').length).toBe(1);
    } else {
      const missed = await waitFor('F0 and F1 recorded as missed', async () => {
        const m = (await runs(url)).filter((r) => (r.scheduledAt === f0 || r.scheduledAt === f1) && r.status === 'missed');
        return m.length === 2 ? m : null;
      }, 60_000, 100);
      for (const r of missed) expect(r.reason).toMatch(/claimed, not run/);
      const st = await state(url);
      expect([st[`ran:${f0}`], st[`ran:${f1}`]]).toEqual([undefined, undefined]);
    }
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }, 180_000);
});
