// A reporting module: reads its system's export from data/ and prints a summary as JSON.
// `--flaky N` fails the first N attempts of a run (the attempt comes from the step's counter file).
import fs from 'node:fs';
import path from 'node:path';

const [name, flag, n] = process.argv.slice(2);
if (flag === '--flaky') {
  const counter = path.join('.openclaw', `flaky-${name}-${process.env.OPENCLAW_WORKFLOW_RUN}`);
  fs.mkdirSync('.openclaw', { recursive: true });
  const attempt = Number(fs.existsSync(counter) ? fs.readFileSync(counter, 'utf8') : 0) + 1;
  fs.writeFileSync(counter, String(attempt));
  if (attempt <= Number(n)) {
    console.error(`${name}: connection reset by peer (attempt ${attempt})`);
    process.exit(1);
  }
}
const rows = JSON.parse(fs.readFileSync(path.join('data', `${name}.json`), 'utf8'));
const total = rows.reduce((s, r) => s + r.amount, 0);
const desks = [...new Set(rows.map((r) => r.desk).filter(Boolean))].sort();
console.log(JSON.stringify({ module: name, rows: rows.length, total, desks }));
