// The pm2 side of crash-restart.ts: notes when it is up (first line of the script), stays up for
// CRASH_AFTER_MS, notes the time and exits with code 1. pm2 restarts it (--restart-delay 0).
const fs = require('node:fs');
const file = process.env.BENCH_TIMES;
const now = () => performance.timeOrigin + performance.now();
fs.appendFileSync(file, `ready ${now()} ${process.pid}\n`);
setTimeout(() => {
  fs.appendFileSync(file, `exit ${now()} ${process.pid}\n`);
  process.exit(1);
}, Number(process.env.CRASH_AFTER_MS || 250));
