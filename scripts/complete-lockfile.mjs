// npm omits optional platform packages that this machine's registry does not serve (rollup's
// non-linux-x64 binaries) from package-lock.json, and npm 11's `npm ci` then refuses the lock.
// This adds them as platform-gated optional entries, which npm never fetches on other platforms.
// Run after any lockfile change: node scripts/complete-lockfile.mjs package-lock.json
import fs from 'node:fs';
const file = process.argv[2];
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pk = lock.packages;
let added = 0;
for (const [key, meta] of Object.entries(pk)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const path = `node_modules/${dep}`;
    if (pk[path]) continue;
    const m = /^@rollup\/rollup-([a-z0-9]+)-(.+)$/.exec(dep);
    if (!m) { console.error('unknown missing optional', dep); continue; }
    const os = m[1];
    let rest = m[2];
    let libc;
    if (rest.endsWith('-musl') || rest.endsWith('-musleabihf')) libc = ['musl'];
    else if (rest.endsWith('-gnu') || rest.endsWith('-gnueabihf')) libc = ['glibc'];
    const cpu = rest.split('-')[0];
    const entry = { version, cpu: [cpu === 'arm' ? 'arm' : cpu], dev: true, license: 'MIT', optional: true, os: [os] };
    if (libc) entry.libc = libc;
    pk[path] = entry;
    added++;
  }
}
const sorted = {};
for (const k of Object.keys(pk).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))) sorted[k] = pk[k];
lock.packages = sorted;
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log('added', added);
