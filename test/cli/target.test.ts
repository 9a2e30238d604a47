import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_URL, resolveTarget } from '../../src/cli/client.js';
import { UsageError } from '../../src/cli/errors.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-target-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function project(dir: string, daemon?: object): string {
  fs.mkdirSync(path.join(dir, '.openclaw'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'openclaw.yaml'), 'project: p\n');
  if (daemon) fs.writeFileSync(path.join(dir, '.openclaw', 'daemon.json'), JSON.stringify(daemon));
  return dir;
}

describe('resolveTarget', () => {
  it('prefers --url, then OPENCLAW_URL, then the project daemon, then the default', () => {
    const root = project(tmp, { pid: process.pid, url: 'http://127.0.0.1:9001', host: '127.0.0.1', port: 9001 });
    expect(resolveTarget({ url: 'http://h:1/', cwd: root, env: { OPENCLAW_URL: 'http://e:2' } })).toMatchObject({ url: 'http://h:1', source: '--url' });
    expect(resolveTarget({ cwd: root, env: { OPENCLAW_URL: 'http://e:2' } })).toMatchObject({ url: 'http://e:2', source: 'OPENCLAW_URL' });
    expect(resolveTarget({ cwd: root, env: {} })).toMatchObject({ url: 'http://127.0.0.1:9001', source: 'daemon.json', projectDir: root });
    expect(resolveTarget({ cwd: os.tmpdir(), env: {} }).url).toBe(DEFAULT_URL);
  });

  it('walks up from a subfolder to the project', () => {
    const root = project(tmp, { pid: process.pid, url: 'http://127.0.0.1:9002' });
    const deep = path.join(root, 'agents', 'sub');
    fs.mkdirSync(deep, { recursive: true });
    expect(resolveTarget({ cwd: deep, env: {} })).toMatchObject({ url: 'http://127.0.0.1:9002', projectDir: root });
  });

  it('uses --project instead of the cwd, given the folder or its openclaw.yaml', () => {
    const root = project(path.join(tmp, 'p'), { pid: process.pid, url: 'http://127.0.0.1:9003' });
    expect(resolveTarget({ project: root, cwd: tmp, env: {} }).url).toBe('http://127.0.0.1:9003');
    expect(resolveTarget({ project: path.join(root, 'openclaw.yaml'), cwd: tmp, env: {} }).url).toBe('http://127.0.0.1:9003');
  });

  it('builds the URL from host and port when daemon.json has no url, and notices a dead pid', () => {
    const root = project(tmp, { pid: 2 ** 22 + 12345, host: '127.0.0.1', port: 9004 });
    expect(resolveTarget({ cwd: root, env: {} })).toMatchObject({ url: 'http://127.0.0.1:9004', stalePid: 2 ** 22 + 12345 });
  });

  it.each([
    [{ url: 'not a url' }, /--url: 'not a url' is not a URL/],
    [{ url: 'ftp://x' }, /must start with http:\/\/ or https:\/\//],
    [{ project: 'missing-folder' }, /--project .*missing-folder: no such folder/],
  ])('throws a usage error (exit 2) for %j', (opts, message) => {
    let err: unknown;
    try {
      resolveTarget({ ...opts, cwd: tmp, env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(message);
  });
});
