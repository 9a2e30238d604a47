// Publishes the approved draft: reports/end-of-day.md, with who approved it.
import fs from 'node:fs';

const draft = fs.readFileSync('reports/draft.md', 'utf8');
fs.writeFileSync('reports/end-of-day.md', `${draft}\nApproved by ${process.env.APPROVED_BY}\n`);
console.log(JSON.stringify({ published: 'reports/end-of-day.md' }));
