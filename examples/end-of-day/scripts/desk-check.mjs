// A compliance check for one desk (DESK): every sale of the desk has an amount over zero.
import fs from 'node:fs';

const desk = process.env.DESK;
const sales = JSON.parse(fs.readFileSync('data/sales.json', 'utf8')).filter((r) => r.desk === desk);
const bad = sales.filter((r) => !(r.amount > 0));
console.log(JSON.stringify({ desk, trades: sales.length, ok: bad.length === 0 }));
if (bad.length > 0) process.exit(1);
