// Compiles the module outputs into the report draft (reports/draft.md) and prints its summary.
import fs from 'node:fs';

const sales = JSON.parse(process.env.SALES);
const inventory = JSON.parse(process.env.INVENTORY);
const ledger = JSON.parse(process.env.LEDGER);
const checks = JSON.parse(process.env.CHECKS);
const lines = [
  `# End of day ${process.env.DAY}`,
  '',
  `- Sales: ${sales.total} over ${sales.rows} trades`,
  `- Inventory value: ${inventory.total}`,
  `- Ledger balance: ${ledger.total}`,
  `- Desk checks: ${checks.map((c) => `${c.desk} ${c.ok ? 'ok' : 'FAILED'}`).join(', ')}`,
];
fs.mkdirSync('reports', { recursive: true });
fs.writeFileSync('reports/draft.md', lines.join('\n') + '\n');
console.log(JSON.stringify({ draft: 'reports/draft.md', sales: sales.total, balanced: ledger.total === sales.total }));
