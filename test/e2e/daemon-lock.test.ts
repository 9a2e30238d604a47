// Issue 14, item 10: two `openclaw daemon start` at the same moment in one project start one
// daemon; the other is refused by the project's lock with a message naming the running one.
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { alive, cleanup, openclaw, openclawOk, readDaemonJson, tempDir, trackPid, trackProject, waitGone } from './helpers.js';

afterAll(cleanup);

it('two concurrent daemon starts: one daemon, the other refused naming it', { timeout: 240_000 }, async () => {
  const root = tempDir();
  await openclawOk(['init', 'locked'], { cwd: root });
  const dir = trackProject(path.join(root, 'locked'));
  const [a, b] = await Promise.all([openclaw(['daemon', 'start', '--port', '0'], { cwd: dir }), openclaw(['daemon', 'start', '--port', '0'], { cwd: dir })]);
  const ok = [a, b].filter((r) => r.code === 0);
  const refused = [a, b].filter((r) => r.code !== 0);
  expect(ok.length, `${a.stdout}${a.stderr}\n${b.stdout}${b.stderr}`).toBe(1);
  expect(refused.length).toBe(1);
  const info = readDaemonJson(dir)!;
  trackPid(info.pid);
  expect(alive(info.pid)).toBe(true);
  expect(refused[0]!.code).toBe(1);
  // Named by pid whichever way it lost: at the lock (still starting) or at daemon.json.
  // Named by pid: the daemon, or the CLI still starting it when the lock was asked for.
  expect(refused[0]!.stderr).toMatch(/a daemon for this project is already running \(pid \d+(, http:\/\/127\.0\.0\.1:\d+|, still starting; lock \S+daemon\.lock)/);
  expect(refused[0]!.stderr).toContain('openclaw daemon stop');
  await openclawOk(['daemon', 'stop'], { cwd: dir });
  await waitGone(info.pid, 'the daemon');
  // The lock went with it: the next start works.
  const again = await openclawOk(['daemon', 'start', '--port', '0'], { cwd: dir });
  const next = readDaemonJson(dir)!;
  trackPid(next.pid);
  expect(again.stdout).toContain(`pid ${next.pid}`);
  await openclawOk(['daemon', 'stop'], { cwd: dir });
  await waitGone(next.pid, 'the second daemon');
});
